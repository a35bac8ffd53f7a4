// CPU optimiser kernels: one fused Adam/AdamW pass over the flat parameter arena, and gradient
// clipping by a norm that stays in device memory.
#include <cmath>

#include "cpu/common.h"
#include "kernels.h"

namespace md::cpu {

void adam_step(float* param, float* m, float* v, const float* grad, int64_t n, float lr, float beta1, float beta2,
               float eps, float weight_decay, bool decoupled, float bc1, float bc2, const float* grad_scale) {
  const float gs = grad_scale ? grad_scale[0] : 1.0f;
  const float step = lr / bc1;
  const float inv_sqrt_bc2 = 1.0f / std::sqrt(bc2);
  const float decay = decoupled ? 1.0f - lr * weight_decay : 1.0f;
  const float l2 = decoupled ? 0.0f : weight_decay;
#pragma omp parallel for simd if (worth_parallel(n)) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    float p = param[i];
    const float g = grad[i] * gs + l2 * p;
    p *= decay;
    const float mi = beta1 * m[i] + (1.0f - beta1) * g;
    const float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] = p - step * mi / (std::sqrt(vi) * inv_sqrt_bc2 + eps);
  }
}

void clip_by_norm(float* x, int64_t n, const float* sumsq, float max_norm) {
  const float norm = std::sqrt(sumsq[0]);
  const float coef = max_norm / (norm + 1e-6f);
  if (coef >= 1.0f) return;
  // a zero stays zero even when the norm is NaN: x may span an arena's padding, which must stay 0
#pragma omp parallel for simd if (worth_parallel(n)) schedule(static)
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] != 0.0f ? x[i] * coef : 0.0f;
}

}  // namespace md::cpu
