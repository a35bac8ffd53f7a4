// CPU Philox streams; the CUDA twins evaluate the same philox.h functions per element.
#include "core/philox.h"
#include "cpu/common.h"
#include "kernels.h"

namespace md::cpu {

void philox_uniform(float* out, int64_t n, uint64_t seed, uint64_t offset) {
#pragma omp parallel for if (worth_parallel(n)) schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = philox_uniform_at(seed, offset, i);
}

void philox_normal(float* out, int64_t n, uint64_t seed, uint64_t offset) {
#pragma omp parallel for if (worth_parallel(n / 8)) schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = philox_normal_at(seed, offset, i);
}

void philox_randint(int64_t* out, int64_t n, int64_t low, int64_t high, uint64_t seed, uint64_t offset) {
  const uint64_t range = static_cast<uint64_t>(high - low);
  for (int64_t i = 0; i < n; ++i)
    out[i] = low + static_cast<int64_t>((static_cast<uint64_t>(philox_bits_at(seed, offset, i)) * range) >> 32);
}

void philox_dropout_mask(float* mask, int64_t n, float p, uint64_t seed, uint64_t offset) {
  const float keep = 1.0f / (1.0f - p);
#pragma omp parallel for if (worth_parallel(n)) schedule(static)
  for (int64_t i = 0; i < n; ++i) mask[i] = philox_uniform_at(seed, offset, i) >= p ? keep : 0.0f;
}

}  // namespace md::cpu
