// CUDA embedding lookup and its scatter-add adjoint (atomicAdd: several positions may share one
// index, e.g. the same class label across a batch).
#include "cuda/common.cuh"

namespace md::cuda {

namespace {

// ---- kernels

// out (n, D) = weight[idx] rows
__global__ void embedding_forward_kernel(float* out, const int64_t* idx, const float* weight, int64_t n, int64_t D) {
  MD_GRID_STRIDE(i, n * D) out[i] = weight[idx[i / D] * D + i % D];
}

// dweight (V, D) += dout (n, D) rows at idx
__global__ void embedding_backward_kernel(float* dweight, const float* dout, const int64_t* idx, int64_t n, int64_t D) {
  MD_GRID_STRIDE(i, n * D) atomicAdd(dweight + idx[i / D] * D + i % D, dout[i]);
}

}  // namespace

// ---- launchers

void embedding_forward(float* out, const int64_t* idx, const float* weight, int64_t n, int64_t V, int64_t D) {
  (void)V;
  if (n * D <= 0) return;
  embedding_forward_kernel<<<grid_for(n * D), kThreads, 0, stream()>>>(out, idx, weight, n, D);
  MD_CUDA_LAUNCHED("embedding_forward");
}

void embedding_backward(float* dweight, const float* dout, const int64_t* idx, int64_t n, int64_t V, int64_t D) {
  fill_f32(dweight, 0.0f, V * D);
  if (n * D <= 0) return;
  embedding_backward_kernel<<<grid_for(n * D), kThreads, 0, stream()>>>(dweight, dout, idx, n, D);
  MD_CUDA_LAUNCHED("embedding_backward");
}

}  // namespace md::cuda
