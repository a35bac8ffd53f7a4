// CUDA optimiser kernels: one fused Adam/AdamW pass over the flat parameter arena, and gradient
// clipping by a norm that stays on the device (no host round trip per step).
#include <cmath>

#include "cuda/common.cuh"

namespace md::cuda {

namespace {

// ---- kernels

__global__ void adam_step_kernel(float* param, float* m, float* v, const float* grad, int64_t n, float beta1,
                                 float beta2, float eps, float step, float inv_sqrt_bc2, float decay, float l2,
                                 const float* grad_scale) {
  const float gs = grad_scale ? grad_scale[0] : 1.0f;
  MD_GRID_STRIDE(i, n) {
    float p = param[i];
    const float g = grad[i] * gs + l2 * p;
    p *= decay;
    const float mi = beta1 * m[i] + (1.0f - beta1) * g;
    const float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] = p - step * mi / (sqrtf(vi) * inv_sqrt_bc2 + eps);
  }
}

__global__ void clip_by_norm_kernel(float* x, int64_t n, const float* sumsq, float max_norm) {
  const float norm = sqrtf(sumsq[0]);
  const float coef = max_norm / (norm + 1e-6f);
  if (coef >= 1.0f) return;
  // a zero stays zero even when the norm is NaN: x may span an arena's padding, which must stay 0
  MD_GRID_STRIDE(i, n) x[i] = x[i] != 0.0f ? x[i] * coef : 0.0f;
}

}  // namespace

// ---- launchers

void adam_step(float* param, float* m, float* v, const float* grad, int64_t n, float lr, float beta1, float beta2,
               float eps, float weight_decay, bool decoupled, float bc1, float bc2, const float* grad_scale) {
  if (n <= 0) return;
  // the per-step scalars, computed on the host exactly as the CPU twin does
  const float step = lr / bc1;
  const float inv_sqrt_bc2 = 1.0f / std::sqrt(bc2);
  const float decay = decoupled ? 1.0f - lr * weight_decay : 1.0f;
  const float l2 = decoupled ? 0.0f : weight_decay;
  adam_step_kernel<<<grid_for(n), kThreads, 0, stream()>>>(param, m, v, grad, n, beta1, beta2, eps, step, inv_sqrt_bc2,
                                                           decay, l2, grad_scale);
  MD_CUDA_LAUNCHED("adam_step");
}

void clip_by_norm(float* x, int64_t n, const float* sumsq, float max_norm) {
  if (n <= 0) return;
  clip_by_norm_kernel<<<grid_for(n), kThreads, 0, stream()>>>(x, n, sumsq, max_norm);
  MD_CUDA_LAUNCHED("clip_by_norm");
}

}  // namespace md::cuda
