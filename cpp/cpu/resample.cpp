// CPU nearest-neighbour upsampling by integer factors and its adjoint.
#include "cpu/common.h"
#include "kernels.h"

namespace md::cpu {

void upsample_nearest_forward(float* out, const float* inp, int64_t NC, int64_t H, int64_t W, int64_t sh, int64_t sw) {
  const int64_t OW = W * sw;
#pragma omp parallel for if (worth_parallel(NC * H * W * sh * sw)) schedule(static)
  for (int64_t nc = 0; nc < NC; ++nc) {
    for (int64_t h = 0; h < H; ++h) {
      const float* x = inp + (nc * H + h) * W;
      float* y = out + (nc * H * sh + h * sh) * OW;
      for (int64_t w = 0; w < W; ++w)
        for (int64_t j = 0; j < sw; ++j) y[w * sw + j] = x[w];
      for (int64_t i = 1; i < sh; ++i)
        for (int64_t c = 0; c < OW; ++c) y[i * OW + c] = y[c];
    }
  }
}

void upsample_nearest_backward(float* dinp, const float* dout, int64_t NC, int64_t H, int64_t W, int64_t sh,
                               int64_t sw) {
  const int64_t OW = W * sw;
#pragma omp parallel for if (worth_parallel(NC * H * W * sh * sw)) schedule(static)
  for (int64_t nc = 0; nc < NC; ++nc) {
    for (int64_t h = 0; h < H; ++h) {
      float* dx = dinp + (nc * H + h) * W;
      const float* g = dout + (nc * H * sh + h * sh) * OW;
      for (int64_t w = 0; w < W; ++w) {
        float s = 0.0f;
        for (int64_t i = 0; i < sh; ++i)
          for (int64_t j = 0; j < sw; ++j) s += g[i * OW + w * sw + j];
        dx[w] = s;
      }
    }
  }
}

}  // namespace md::cpu
