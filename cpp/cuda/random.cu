// CUDA Philox streams: each thread evaluates the same philox.h function as the CPU twin for its
// element, so one (seed, offset) gives the same numbers on either device. (Uniform, randint and
// dropout masks agree bit for bit; normals go through logf/sinf/cosf, whose CUDA and glibc
// versions may differ in the last bit or two.)
#include "core/philox.h"
#include "cuda/common.cuh"

namespace md::cuda {

namespace {

// ---- kernels

__global__ void philox_uniform_kernel(float* out, int64_t n, uint64_t seed, uint64_t offset) {
  MD_GRID_STRIDE(i, n) out[i] = philox_uniform_at(seed, offset, i);
}

__global__ void philox_normal_kernel(float* out, int64_t n, uint64_t seed, uint64_t offset) {
  MD_GRID_STRIDE(i, n) out[i] = philox_normal_at(seed, offset, i);
}

__global__ void philox_randint_kernel(int64_t* out, int64_t n, int64_t low, uint64_t range, uint64_t seed,
                                      uint64_t offset) {
  MD_GRID_STRIDE(i, n) {
    out[i] = low + static_cast<int64_t>((static_cast<uint64_t>(philox_bits_at(seed, offset, i)) * range) >> 32);
  }
}

__global__ void philox_dropout_mask_kernel(float* mask, int64_t n, float p, float keep, uint64_t seed,
                                           uint64_t offset) {
  MD_GRID_STRIDE(i, n) mask[i] = philox_uniform_at(seed, offset, i) >= p ? keep : 0.0f;
}

}  // namespace

// ---- launchers

void philox_uniform(float* out, int64_t n, uint64_t seed, uint64_t offset) {
  if (n <= 0) return;
  philox_uniform_kernel<<<grid_for(n), kThreads, 0, stream()>>>(out, n, seed, offset);
  MD_CUDA_LAUNCHED("philox_uniform");
}

void philox_normal(float* out, int64_t n, uint64_t seed, uint64_t offset) {
  if (n <= 0) return;
  philox_normal_kernel<<<grid_for(n), kThreads, 0, stream()>>>(out, n, seed, offset);
  MD_CUDA_LAUNCHED("philox_normal");
}

void philox_randint(int64_t* out, int64_t n, int64_t low, int64_t high, uint64_t seed, uint64_t offset) {
  if (n <= 0) return;
  const uint64_t range = static_cast<uint64_t>(high - low);
  philox_randint_kernel<<<grid_for(n), kThreads, 0, stream()>>>(out, n, low, range, seed, offset);
  MD_CUDA_LAUNCHED("philox_randint");
}

void philox_dropout_mask(float* mask, int64_t n, float p, uint64_t seed, uint64_t offset) {
  if (n <= 0) return;
  const float keep = 1.0f / (1.0f - p);  // on the host, as the CPU twin computes it
  philox_dropout_mask_kernel<<<grid_for(n), kThreads, 0, stream()>>>(mask, n, p, keep, seed, offset);
  MD_CUDA_LAUNCHED("philox_dropout_mask");
}

}  // namespace md::cuda
