// CUDA nearest-neighbour upsampling by integer factors and its adjoint: one thread per output
// pixel forward, one thread per input pixel backward (a gather, so no atomics). Flat indices are
// split with Divmod; launches are cut along the (n, c) planes so each covers fewer than 2^32.
#include <algorithm>

#include "cuda/common.cuh"
#include "cuda/divmod.h"

namespace md::cuda {

namespace {

// ---- kernels

// out (nc, H*sh, W*sw) from inp (nc, H, W); n = nc * OH * OW
__global__ void upsample_nearest_forward_kernel(float* out, const float* inp, int64_t n, int64_t H, int64_t W,
                                                Divmod OH, Divmod OW, Divmod sh, Divmod sw) {
  MD_GRID_STRIDE(i, n) {
    uint32_t t, ow, nc, oh;
    OW.divmod(static_cast<uint32_t>(i), t, ow);
    OH.divmod(t, nc, oh);
    out[i] = inp[(int64_t(nc) * H + sh.div(oh)) * W + sw.div(ow)];
  }
}

// dinp (nc, H, W) = sums of the sh x sw output pixels each input pixel was copied to, in the
// CPU twin's order; n = nc * H * W
__global__ void upsample_nearest_backward_kernel(float* dinp, const float* dout, int64_t n, Divmod H, Divmod W, int sh,
                                                 int sw) {
  const int64_t OW = static_cast<int64_t>(W.divisor()) * sw;
  MD_GRID_STRIDE(i, n) {
    uint32_t t, w, nc, h;
    W.divmod(static_cast<uint32_t>(i), t, w);
    H.divmod(t, nc, h);
    const float* g = dout + (int64_t(nc) * H.divisor() * sh + int64_t(h) * sh) * OW + int64_t(w) * sw;
    float s = 0.0f;
    for (int a = 0; a < sh; ++a)
      for (int b = 0; b < sw; ++b) s += g[a * OW + b];
    dinp[i] = s;
  }
}

}  // namespace

// ---- launchers

void upsample_nearest_forward(float* out, const float* inp, int64_t NC, int64_t H, int64_t W, int64_t sh, int64_t sw) {
  const int64_t OH = H * sh, OW = W * sw, plane = OH * OW;
  if (NC * plane <= 0) return;
  const Divmod dOH(static_cast<uint32_t>(OH)), dOW(static_cast<uint32_t>(OW));
  const Divmod dsh(static_cast<uint32_t>(sh)), dsw(static_cast<uint32_t>(sw));
  const int64_t step = items_per_launch(plane, "upsample_nearest");
  for (int64_t nc0 = 0; nc0 < NC; nc0 += step) {
    const int64_t n = std::min(step, NC - nc0) * plane;
    upsample_nearest_forward_kernel<<<grid_for(n), kThreads, 0, stream()>>>(out + nc0 * plane, inp + nc0 * H * W, n, H,
                                                                            W, dOH, dOW, dsh, dsw);
    MD_CUDA_LAUNCHED("upsample_nearest_forward");
  }
}

void upsample_nearest_backward(float* dinp, const float* dout, int64_t NC, int64_t H, int64_t W, int64_t sh,
                               int64_t sw) {
  const int64_t plane = H * W;
  if (NC * plane <= 0) return;
  const Divmod dH(static_cast<uint32_t>(H)), dW(static_cast<uint32_t>(W));
  const int64_t step = items_per_launch(plane * sh * sw, "upsample_nearest");
  for (int64_t nc0 = 0; nc0 < NC; nc0 += step) {
    const int64_t n = std::min(step, NC - nc0) * plane;
    upsample_nearest_backward_kernel<<<grid_for(n), kThreads, 0, stream()>>>(
        dinp + nc0 * plane, dout + nc0 * plane * sh * sw, n, dH, dW, static_cast<int>(sh), static_cast<int>(sw));
    MD_CUDA_LAUNCHED("upsample_nearest_backward");
  }
}

}  // namespace md::cuda
