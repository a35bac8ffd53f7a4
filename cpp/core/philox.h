// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11), shared by
// the CPU and CUDA kernels so that one seed gives the same numbers on either device.
#pragma once

#include <cmath>
#include <cstdint>

#include "core/host_device.h"

namespace md {

struct Philox4 {
  uint32_t v[4];
};

MD_HOST_DEVICE uint32_t mulhilo32(uint32_t a, uint32_t b, uint32_t* hi) {
  const uint64_t p = static_cast<uint64_t>(a) * b;
  *hi = static_cast<uint32_t>(p >> 32);
  return static_cast<uint32_t>(p);
}

// Four 32-bit words for one 64-bit counter under a 64-bit key.
MD_HOST_DEVICE Philox4 philox4x32_10(uint64_t counter, uint64_t key) {
  uint32_t c0 = static_cast<uint32_t>(counter), c1 = static_cast<uint32_t>(counter >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  for (int r = 0; r < 10; ++r) {
    uint32_t hi0, hi1;
    const uint32_t lo0 = mulhilo32(0xD2511F53u, c0, &hi0);
    const uint32_t lo1 = mulhilo32(0xCD9E8D57u, c2, &hi1);
    const uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0;
    c1 = n1;
    c2 = n2;
    c3 = n3;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return Philox4{{c0, c1, c2, c3}};
}

// Uniform in (0, 1]: never 0, so log() is safe.
MD_HOST_DEVICE float philox_to_unit(uint32_t x) { return (static_cast<float>(x >> 8) + 1.0f) * (1.0f / 16777216.0f); }

// Element i of a normal stream: counter (offset + i/4); lanes (0,1) and (2,3) form Box-Muller pairs.
MD_HOST_DEVICE float philox_normal_at(uint64_t seed, uint64_t offset, int64_t i) {
  const Philox4 r = philox4x32_10(offset + static_cast<uint64_t>(i / 4), seed);
  const int lane = static_cast<int>(i % 4);
  const int pair = lane & 2;
  const float u1 = philox_to_unit(r.v[pair]);
  const float u2 = philox_to_unit(r.v[pair + 1]);
  const float radius = sqrtf(-2.0f * logf(u1));
  const float theta = 6.283185307179586f * u2;
  return (lane & 1) ? radius * sinf(theta) : radius * cosf(theta);
}

MD_HOST_DEVICE float philox_uniform_at(uint64_t seed, uint64_t offset, int64_t i) {
  const Philox4 r = philox4x32_10(offset + static_cast<uint64_t>(i / 4), seed);
  // [0, 1): 24 random bits
  return static_cast<float>(r.v[i % 4] >> 8) * (1.0f / 16777216.0f);
}

MD_HOST_DEVICE uint32_t philox_bits_at(uint64_t seed, uint64_t offset, int64_t i) {
  return philox4x32_10(offset + static_cast<uint64_t>(i / 4), seed).v[i % 4];
}

}  // namespace md
