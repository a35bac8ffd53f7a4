// CPU embedding lookup and its scatter-add adjoint.
#include <cstring>

#include "cpu/common.h"
#include "kernels.h"

namespace md::cpu {

void embedding_forward(float* out, const int64_t* idx, const float* weight, int64_t n, int64_t V, int64_t D) {
  (void)V;
  for (int64_t i = 0; i < n; ++i) std::memcpy(out + i * D, weight + idx[i] * D, sizeof(float) * D);
}

void embedding_backward(float* dweight, const float* dout, const int64_t* idx, int64_t n, int64_t V, int64_t D) {
  fill_f32(dweight, 0.0f, V * D);
  for (int64_t i = 0; i < n; ++i) {
    float* row = dweight + idx[i] * D;
    const float* g = dout + i * D;
#pragma omp simd
    for (int64_t j = 0; j < D; ++j) row[j] += g[j];
  }
}

}  // namespace md::cpu
