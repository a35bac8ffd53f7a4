// Branch-free float math that the compiler vectorises inside `#pragma omp simd` loops (the C
// library's expf/erff/tanhf are scalar calls, which made SiLU and GroupNorm+SiLU dominate the
// step). exp uses Cody-Waite range reduction and the Cephes degree-6 polynomial (about 1 ulp);
// erf uses Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7). NaN propagates.
// Written with std::min/max, a magic-number rounding and selects, because gcc leaves loops with
// floor/fmin/copysign or short-circuit conditions scalar unless -ffast-math is on.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace md::cpu {

inline float vexp(float x) {
  // argument order matters: std::max(lo, x) is lo for a NaN x, so no NaN reaches the integer
  // conversion below (that would be undefined behaviour); the NaN is put back at the end
  const float clamped = std::min(std::max(-87.3f, x), 88.7228f);
  const float t = clamped * 1.44269504088896341f;
  // round to nearest (valid for |t| < 2^22), at most 127 so that 2^n stays finite
  const float n = std::min((t + 12582912.0f) - 12582912.0f, 127.0f);
  const float f = clamped - n * 0.693359375f + n * 2.12194440e-4f;  // x - n ln2, in two parts
  float p = 1.9875691500e-4f;
  p = p * f + 1.3981999507e-3f;
  p = p * f + 8.3334519073e-3f;
  p = p * f + 4.1665795894e-2f;
  p = p * f + 1.6666665459e-1f;
  p = p * f + 5.0000001201e-1f;
  p = p * f * f + f + 1.0f;
  const uint32_t bits = static_cast<uint32_t>(static_cast<int32_t>(n) + 127) << 23;
  const float r = p * __builtin_bit_cast(float, bits);
  // beyond the float range: overflow to inf, underflow to 0 (denormal results are flushed)
  const float ranged = x > 88.7228f ? INFINITY : (x < -87.3f ? 0.0f : r);
  return x != x ? x : ranged;
}

inline float vsigmoid(float x) { return 1.0f / (1.0f + vexp(-x)); }

inline float vtanh(float x) {
  // tanh(x) = 1 - 2 / (1 + e^{2x}); near 0 the odd series keeps the relative accuracy
  const float big = 1.0f - 2.0f / (1.0f + vexp(2.0f * x));
  const float x2 = x * x;
  const float small = x * (1.0f - x2 * (1.0f / 3.0f) * (1.0f - x2 * 0.4f));
  return std::fabs(x) < 0.04f ? small : big;
}

inline float verf(float x) {
  const float a = std::fabs(x);
  const float t = 1.0f / (1.0f + 0.3275911f * a);
  float p = 1.061405429f;
  p = p * t - 1.453152027f;
  p = p * t + 1.421413741f;
  p = p * t - 0.284496736f;
  p = p * t + 0.254829592f;
  const float y = 1.0f - p * t * vexp(-a * a);
  return x < 0.0f ? -y : y;
}

}  // namespace md::cpu
