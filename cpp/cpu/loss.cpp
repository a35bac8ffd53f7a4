// CPU mean-squared-error loss, forward and backward in one pass each.
#include "cpu/common.h"
#include "kernels.h"

namespace md::cpu {

void mse_forward(float* loss, const float* a, const float* b, int64_t n, float scale) {
  double acc = 0.0;
#pragma omp parallel for simd reduction(+ : acc) if (worth_parallel(n)) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    acc += d * d;
  }
  loss[0] = static_cast<float>(acc * scale);
}

void mse_backward(float* da, float* db, const float* dloss, const float* a, const float* b, int64_t n, float scale) {
  const float k = 2.0f * scale * dloss[0];
#pragma omp parallel for simd if (worth_parallel(n)) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const float d = k * (a[i] - b[i]);
    da[i] = d;
    if (db) db[i] = -d;
  }
}

}  // namespace md::cpu
