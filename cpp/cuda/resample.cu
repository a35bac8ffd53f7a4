// CUDA nearest-neighbour upsampling by integer factors and its adjoint: one thread per output
// pixel forward, one thread per input pixel backward (a gather, so no atomics).
#include "cuda/common.cuh"

namespace md::cuda {

namespace {

// ---- kernels

// out (NC, H*sh, W*sw) from inp (NC, H, W)
__global__ void upsample_nearest_forward_kernel(float* out, const float* inp, int64_t NC, int64_t H, int64_t W,
                                                int64_t sh, int64_t sw) {
  const int64_t OH = H * sh, OW = W * sw;
  MD_GRID_STRIDE(i, NC * OH * OW) {
    const int64_t ow = i % OW, t = i / OW;
    const int64_t oh = t % OH, nc = t / OH;
    out[i] = inp[(nc * H + oh / sh) * W + ow / sw];
  }
}

// dinp (NC, H, W) = sums of the sh x sw output pixels each input pixel was copied to, in the
// CPU twin's order.
__global__ void upsample_nearest_backward_kernel(float* dinp, const float* dout, int64_t NC, int64_t H, int64_t W,
                                                 int64_t sh, int64_t sw) {
  const int64_t OW = W * sw;
  MD_GRID_STRIDE(i, NC * H * W) {
    const int64_t w = i % W, t = i / W;
    const int64_t h = t % H, nc = t / H;
    const float* g = dout + (nc * H * sh + h * sh) * OW + w * sw;
    float s = 0.0f;
    for (int64_t a = 0; a < sh; ++a)
      for (int64_t b = 0; b < sw; ++b) s += g[a * OW + b];
    dinp[i] = s;
  }
}

}  // namespace

// ---- launchers

void upsample_nearest_forward(float* out, const float* inp, int64_t NC, int64_t H, int64_t W, int64_t sh, int64_t sw) {
  const int64_t n = NC * H * sh * W * sw;
  if (n <= 0) return;
  upsample_nearest_forward_kernel<<<grid_for(n), kThreads, 0, stream()>>>(out, inp, NC, H, W, sh, sw);
  MD_CUDA_LAUNCHED("upsample_nearest_forward");
}

void upsample_nearest_backward(float* dinp, const float* dout, int64_t NC, int64_t H, int64_t W, int64_t sh,
                               int64_t sw) {
  const int64_t n = NC * H * W;
  if (n <= 0) return;
  upsample_nearest_backward_kernel<<<grid_for(n), kThreads, 0, stream()>>>(dinp, dout, NC, H, W, sh, sw);
  MD_CUDA_LAUNCHED("upsample_nearest_backward");
}

}  // namespace md::cuda
