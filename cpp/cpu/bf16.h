// bfloat16 conversions on the CPU: the dtype cast (cpu/memory.cpp) and the rounded operands of
// bf16 matrix products without AVX512-BF16 (cpu/gemm.cpp) share them.
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

}  // namespace md::cpu
