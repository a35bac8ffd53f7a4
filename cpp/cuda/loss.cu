// CUDA mean-squared-error loss. The forward sums in double through per-block partials and a
// one-block finish (deterministic, no atomics); the backward reads dloss on the device, so a
// training step never waits for the host.
#include <algorithm>

#include "cuda/common.cuh"

namespace md::cuda {

namespace {

// ---- kernels

__global__ void mse_partial_kernel(double* partial, const float* a, const float* b, int64_t n) {
  double acc = 0.0;
  MD_GRID_STRIDE(i, n) {
    const double d = static_cast<double>(a[i]) - b[i];
    acc += d * d;
  }
  acc = block_sum(acc);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

__global__ void mse_finish_kernel(float* loss, const double* partial, int nblocks, float scale) {
  double acc = 0.0;
  for (int b = threadIdx.x; b < nblocks; b += blockDim.x) acc += partial[b];
  acc = block_sum(acc);
  if (threadIdx.x == 0) loss[0] = static_cast<float>(acc * scale);
}

// da = dloss * 2 * scale * (a - b); db = -da (db may be null)
__global__ void mse_backward_kernel(float* da, float* db, const float* dloss, const float* a, const float* b, int64_t n,
                                    float scale) {
  const float k = 2.0f * scale * dloss[0];
  MD_GRID_STRIDE(i, n) {
    const float d = k * (a[i] - b[i]);
    da[i] = d;
    if (db) db[i] = -d;
  }
}

}  // namespace

// ---- launchers

void mse_forward(float* loss, const float* a, const float* b, int64_t n, float scale) {
  const int nblocks = n > 0 ? static_cast<int>(std::min<int64_t>(grid_for(n), 1024)) : 0;
  DeviceBuffer partial(sizeof(double) * std::max(nblocks, 1));
  if (nblocks > 0) {
    mse_partial_kernel<<<nblocks, kThreads, 0, stream()>>>(partial.as<double>(), a, b, n);
    MD_CUDA_LAUNCHED("mse_forward");
  }
  mse_finish_kernel<<<1, kThreads, 0, stream()>>>(loss, partial.as<double>(), nblocks, scale);
  MD_CUDA_LAUNCHED("mse_forward finish");
}

void mse_backward(float* da, float* db, const float* dloss, const float* a, const float* b, int64_t n, float scale) {
  if (n <= 0) return;
  mse_backward_kernel<<<grid_for(n), kThreads, 0, stream()>>>(da, db, dloss, a, b, n, scale);
  MD_CUDA_LAUNCHED("mse_backward");
}

}  // namespace md::cuda
