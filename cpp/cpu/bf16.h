// bfloat16 and float16 conversions on the CPU: the dtype cast (cpu/memory.cpp) and the rounded
// operands of bf16 matrix products without AVX512-BF16 (cpu/gemm.cpp) share them.
#pragma once

#include <cstdint>
#include <cstring>

namespace md::cpu {

inline float bf16_to_f32(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Round to nearest even; NaN stays (a quiet) NaN, and values past bf16's largest finite value
// round to infinity.
inline uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

// x rounded to the nearest bfloat16, kept as a float.
inline float round_to_bf16(float x) { return bf16_to_f32(f32_to_bf16(x)); }

// IEEE half precision (1 sign, 5 exponent, 10 mantissa bits), exact in float32.
inline float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
  uint32_t u;
  if (exp == 0x1f) {
    u = sign | 0x7f800000u | (man << 13);  // inf, NaN (payload kept)
  } else if (exp != 0) {
    u = sign | ((exp + 112) << 23) | (man << 13);  // normal: rebias 15 -> 127
  } else if (man == 0) {
    u = sign;  // +-0
  } else {     // subnormal: man * 2^-24, normalised for float32
    int e = 113;
    uint32_t m = man;
    while (!(m & 0x400u)) {
      m <<= 1;
      --e;
    }
    u = sign | (static_cast<uint32_t>(e) << 23) | ((m & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Round to nearest even (subnormals included); NaN stays (a quiet) NaN, and values from 65520 on
// (past the largest finite half, 65504, by half a step) round to infinity.
inline uint16_t f32_to_f16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((a >> 13) & 0x3ffu));  // NaN
  if (a >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);                        // >= 65520 (or inf): inf
  if (a >= 0x38800000u) {                                                                    // >= 2^-14: a normal half
    const uint32_t r = a + 0xfffu + ((a >> 13) & 1u);                // round the 13 dropped bits
    return static_cast<uint16_t>(sign | ((r - 0x38000000u) >> 13));  // rebias 127 -> 15
  }
  if (a < 0x33000000u) return sign;  // below 2^-25 (half the smallest subnormal): +-0
  // subnormal half: the value in units of 2^-24, rounded to nearest even
  const uint32_t exp = a >> 23, man = (a & 0x7fffffu) | 0x800000u;
  const uint32_t shift = 126 - exp;  // 14..24 bits dropped from the 24-bit significand
  const uint32_t q = man >> shift, rem = man & ((1u << shift) - 1u), half = 1u << (shift - 1);
  return static_cast<uint16_t>(sign | (q + (rem > half || (rem == half && (q & 1u)))));
}

}  // namespace md::cpu
