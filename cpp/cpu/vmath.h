// Branch-free float math that the compiler vectorises inside `#pragma omp simd` loops (the C
// library's expf/erff/tanhf are scalar calls, which made SiLU and GroupNorm+SiLU dominate the
// step). exp uses Cody-Waite range reduction and the Cephes degree-6 polynomial (about 1 ulp);
// erf uses the odd series near 0 and Numerical Recipes' erfc elsewhere (relative error about
// 1e-6, the tails included). NaN propagates.
// Written with a magic-number rounding, integer min/max and bit-mask selects, because gcc leaves
// loops with floor/fmin/copysign or short-circuit conditions scalar unless -ffast-math is on, and
// turns float min/max/selects into branches (see vclamp_exp_arg).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace md::cpu {

// c ? a : b as a bit-mask select: gcc turns a float select (or a product by a bool) into a
// branch, which keeps the loop around it scalar or makes it evaluate both paths (see
// vclamp_exp_arg). Also for callers: `j < n ? vexp(a) : 0` kept softmax loops scalar, where
// vexp(vselect(j < n, a, -inf)) vectorises.
inline float vselect(bool c, float a, float b) {
  const uint32_t m = 0u - static_cast<uint32_t>(c);
  return __builtin_bit_cast(float, (__builtin_bit_cast(uint32_t, a) & m) | (__builtin_bit_cast(uint32_t, b) & ~m));
}

// e^x for -104 <= x <= 88.7228 or NaN (see vclamp_exp_arg): Cody-Waite reduction, then the polynomial.
// Integer bit arithmetic where float min/max or conversions would be (see vclamp_exp_arg).
inline float vexp_clamped(float x) {
  const float t = x * 1.44269504088896341f;
  // round to nearest through the magic number 1.5 * 2^23 (valid for |t| < 2^22): the integer is
  // in the sum's low bits, read without a float-to-int conversion (undefined for a NaN); at most
  // 127 so that 2^n stays finite
  const float magic = 12582912.0f;
  const uint32_t q = __builtin_bit_cast(uint32_t, t + magic) - __builtin_bit_cast(uint32_t, magic);
  const int32_t ni = std::min(static_cast<int32_t>(q), 127);
  const float n = static_cast<float>(ni);
  const float f = x - n * 0.693359375f + n * 2.12194440e-4f;  // x - n ln2, in two parts
  float p = 1.9875691500e-4f;
  p = p * f + 1.3981999507e-3f;
  p = p * f + 8.3334519073e-3f;
  p = p * f + 4.1665795894e-2f;
  p = p * f + 1.6666665459e-1f;
  p = p * f + 5.0000001201e-1f;
  p = p * f * f + f + 1.0f;
  // 2^n as two normal factors (n >= -151 here), so that results below 2^-126 round once, to the
  // denormal they are, as the C library's expf and torch's exp give them
  const int32_t n1 = ni / 2, n2 = ni - n1;
  const float s1 = __builtin_bit_cast(float, static_cast<uint32_t>(n1 + 127) << 23);
  const float s2 = __builtin_bit_cast(float, static_cast<uint32_t>(n2 + 127) << 23);
  return p * s1 * s2;
}

// x with its magnitude clamped to 104 (e^x is finite up to 88.7228 and rounds to 0 below
// -103.972: vexp selects those results); a NaN stays a NaN. All in integer bits (magnitudes order as their bits do):
// gcc turns a float min, max or select into a branch, duplicates the code after it for the clamped constant, and a
// vectorised loop then evaluates every path (SiLU ran three divisions per element instead of one), or, with a division
// after the branch, is not vectorised at all.
inline float vclamp_exp_arg(float x) {
  const uint32_t b = __builtin_bit_cast(uint32_t, x), mag = b & 0x7fffffffu;
  const uint32_t nan = (0u - static_cast<uint32_t>(mag > 0x7f800000u)) & 0x7fc00000u;  // a mask, as in vselect
  const uint32_t clamped = std::min(mag, __builtin_bit_cast(uint32_t, 104.0f)) | nan;
  return __builtin_bit_cast(float, clamped | (b & 0x80000000u));
}

inline float vexp(float x) {
  // beyond the float range: overflow to inf, underflow to 0 below half the smallest denormal
  const float r = vexp_clamped(vclamp_exp_arg(x));
  return vselect(x > 88.7228f, INFINITY, vselect(x < -103.9721f, 0.0f, r));
}

// Exactly 0 at -inf (e^inf is inf), so that SiLU(-inf) = -inf * 0 is NaN, as in PyTorch.
inline float vsigmoid(float x) { return 1.0f / (1.0f + vexp(-x)); }

inline float vtanh(float x) {
  // tanh(x) = 1 - 2 / (1 + e^{2x}); near 0 the odd series keeps the relative accuracy
  const float big = 1.0f - 2.0f / (1.0f + vexp(2.0f * x));
  const float x2 = x * x;
  const float small = x * (1.0f - x2 * (1.0f / 3.0f) * (1.0f - x2 * 0.4f));
  return vselect(std::fabs(x) < 0.04f, small, big);
}

// erfc(a) for a >= 0 (or NaN) with a relative error of about 1e-6 everywhere, the far tail
// included (Numerical Recipes' erfcc: Chebyshev-fitted exponent, fractional error 1.2e-7 in exact
// arithmetic): 1 - erf loses the tail to cancellation, this keeps it.
inline float verfc_pos(float a) {
  // past 10.5 erfc is below the smallest denormal: clamped there (in bits, a NaN stays a NaN)
  const uint32_t bits = __builtin_bit_cast(uint32_t, a);
  const uint32_t nan = (0u - static_cast<uint32_t>(bits > 0x7f800000u)) & 0x7fc00000u;
  a = __builtin_bit_cast(float, std::min(bits, __builtin_bit_cast(uint32_t, 10.5f)) | nan);
  const float t = 1.0f / (1.0f + 0.5f * a);
  float p = 0.17087277f;
  p = p * t - 0.82215223f;
  p = p * t + 1.48851587f;
  p = p * t - 1.13520398f;
  p = p * t + 0.27886807f;
  p = p * t - 0.18628806f;
  p = p * t + 0.09678418f;
  p = p * t + 0.37409196f;
  p = p * t + 1.00002368f;
  p = p * t - 1.26551223f;
  // one exp of p - a^2 (rounding its argument costs up to 4e-6 of relative error near a = 9,
  // where erfc is below 1e-36; two exps, of an exactly squared part and the rest, would halve the speed)
  return t * vexp(p - a * a);
}

// 1 + erf(x) (twice the normal CDF at x * sqrt(2)), relatively accurate on both sides: GELU's
// 0.5 * x * (1 + erf(x / sqrt(2))) keeps its value far into the negative tail, as torch's.
inline float vone_plus_erf(float x) {
  const float c = verfc_pos(std::fabs(x));
  return vselect(x < 0.0f, c, 2.0f - c);
}

inline float verf(float x) {
  // the odd series near 0 (relative accuracy where erf is small), 1 - erfc(|x|) elsewhere
  const float x2 = x * x;
  float s = -1.0f / 1320.0f;
  s = s * x2 + 1.0f / 216.0f;
  s = s * x2 - 1.0f / 42.0f;
  s = s * x2 + 1.0f / 10.0f;
  s = s * x2 - 1.0f / 3.0f;
  s = s * x2 + 1.0f;
  const float small = 1.1283791670955126f * x * s;  // 2 / sqrt(pi) * (x - x^3/3 + ...)
  const float y = 1.0f - verfc_pos(std::fabs(x));
  return vselect(std::fabs(x) < 0.5f, small, vselect(x < 0.0f, -y, y));
}

}  // namespace md::cpu
