// CUDA conv2d as im2col + cuBLAS GEMM, over chunks of images sized so that the column buffer
// stays within kWorkspaceBudget. Forward: one strided-batched GEMM per chunk with the weight
// shared (stride 0). Backward: dweight as one GEMM per chunk over the chunk's columns laid side
// by side, dinput as a batched GEMM into columns followed by col2im written as a gather (each
// input pixel sums the columns that read it), so no atomics and a fixed summation order.
#include <algorithm>
#include <climits>

#include "cuda/common.cuh"
#include "cuda/divmod.h"

namespace md::cuda {

namespace {

bool is_pointwise(const Conv2dGeometry& g) {
  return g.R == 1 && g.S == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 && g.pad_w == 0;
}

// Kernels over flat indices take them as 32-bit: at most this many elements per launch.
constexpr int64_t kMaxLaunch = UINT32_MAX;

// Images per launch of a flat-index kernel when each image has per_image elements.
int64_t images_per_launch(int64_t per_image) {
  MD_CHECK(per_image <= kMaxLaunch, ValueError, "conv2d: ", per_image,
           " elements per image exceed the CUDA kernels' 32-bit indices");
  return std::max<int64_t>(1, kMaxLaunch / std::max<int64_t>(per_image, 1));
}

// Images per chunk when each image needs `scratch` floats of workspace and the chunk's kernels
// cover up to `flat` elements per image.
int64_t chunk_images(int64_t N, int64_t scratch, int64_t flat) {
  const int64_t fit = static_cast<int64_t>(kWorkspaceBudget / sizeof(float)) / std::max<int64_t>(scratch, 1);
  return std::max<int64_t>(1, std::min({N, fit, images_per_launch(flat)}));
}

// ---- kernels
// Flat indices are split into coordinates with Divmod (32-bit, one multiply-high each): every
// launch covers fewer than 2^32 elements (chunk_images sees to it).

// The divisors of one geometry's index splits, made once per call on the host.
struct ConvIndex {
  Divmod PQ, Q, CRS, RS, S, HW, W, C, K, stride_h, stride_w;
  explicit ConvIndex(const Conv2dGeometry& g)
      : PQ(u32(int64_t(g.P) * g.Q)),
        Q(u32(g.Q)),
        CRS(u32(int64_t(g.C) * g.R * g.S)),
        RS(u32(int64_t(g.R) * g.S)),
        S(u32(g.S)),
        HW(u32(int64_t(g.H) * g.W)),
        W(u32(g.W)),
        C(u32(g.C)),
        K(u32(g.K)),
        stride_h(u32(g.stride_h)),
        stride_w(u32(g.stride_w)) {}
  // a divisor of 0 (an empty dim) never divides anything: the launchers return before
  static uint32_t u32(int64_t v) { return static_cast<uint32_t>(std::max<int64_t>(v, 1)); }
};

// col[n * img_stride + crs * row_stride + pq] for the nb images of inp (nb, C, H, W): per image
// (CRS, PQ) blocks when img_stride = CRS*PQ, or one wide (CRS, nb*PQ) matrix when img_stride = PQ.
__global__ void im2col_kernel(float* col, const float* inp, Conv2dGeometry g, ConvIndex ix, int64_t total,
                              int64_t img_stride, int64_t row_stride) {
  const int64_t HW = static_cast<int64_t>(g.H) * g.W;
  MD_GRID_STRIDE(i, total) {
    uint32_t t, pq, n, crs, c, rs, r, s, p, q;
    ix.PQ.divmod(static_cast<uint32_t>(i), t, pq);
    ix.CRS.divmod(t, n, crs);
    ix.RS.divmod(crs, c, rs);
    ix.S.divmod(rs, r, s);
    ix.Q.divmod(pq, p, q);
    const int h = static_cast<int>(p) * g.stride_h - g.pad_h + static_cast<int>(r);
    const int w = static_cast<int>(q) * g.stride_w - g.pad_w + static_cast<int>(s);
    const bool inside = h >= 0 && h < g.H && w >= 0 && w < g.W;
    col[n * img_stride + crs * row_stride + pq] =
        inside ? inp[(int64_t(n) * g.C + c) * HW + static_cast<int64_t>(h) * g.W + w] : 0.0f;
  }
}

// dinp (nb, C, H, W) from per-image columns dcol (nb, CRS, PQ): each pixel gathers, in (r, s)
// order like the CPU's scatter, the column entries that im2col copied it to.
__global__ void col2im_kernel(float* dinp, const float* dcol, Conv2dGeometry g, ConvIndex ix, int64_t total) {
  const int64_t PQ = static_cast<int64_t>(g.P) * g.Q, RS = static_cast<int64_t>(g.R) * g.S;
  const int64_t CRS = g.C * RS;
  MD_GRID_STRIDE(i, total) {
    uint32_t nc, hw, n, c, h, w;
    ix.HW.divmod(static_cast<uint32_t>(i), nc, hw);
    ix.C.divmod(nc, n, c);
    ix.W.divmod(hw, h, w);
    const float* colc = dcol + n * CRS * PQ + c * RS * PQ;
    float acc = 0.0f;
    for (int r = 0; r < g.R; ++r) {
      const int ph = static_cast<int>(h) + g.pad_h - r;  // = p * stride_h
      if (ph < 0) continue;
      uint32_t p, ph_rem;
      ix.stride_h.divmod(static_cast<uint32_t>(ph), p, ph_rem);
      if (ph_rem != 0 || p >= static_cast<uint32_t>(g.P)) continue;
      for (int s = 0; s < g.S; ++s) {
        const int qw = static_cast<int>(w) + g.pad_w - s;
        if (qw < 0) continue;
        uint32_t q, qw_rem;
        ix.stride_w.divmod(static_cast<uint32_t>(qw), q, qw_rem);
        if (qw_rem != 0 || q >= static_cast<uint32_t>(g.Q)) continue;
        acc += colc[(static_cast<int64_t>(r) * g.S + s) * PQ + static_cast<int64_t>(p) * g.Q + q];
      }
    }
    dinp[i] = acc;
  }
}

// dst (K, nb*PQ) = src (nb, K, PQ) with the first two axes swapped.
__global__ void swap_image_channel_kernel(float* dst, const float* src, ConvIndex ix, int64_t nb, int64_t total) {
  const int64_t PQ = ix.PQ.divisor();
  MD_GRID_STRIDE(i, total) {
    uint32_t t, pq, n, k;
    ix.PQ.divmod(static_cast<uint32_t>(i), t, pq);
    ix.K.divmod(t, n, k);
    dst[int64_t(k) * nb * PQ + int64_t(n) * PQ + pq] = src[i];
  }
}

// out (nb, K, PQ) += bias (K)
__global__ void add_bias_kernel(float* out, const float* bias, ConvIndex ix, int64_t total) {
  MD_GRID_STRIDE(i, total) {
    uint32_t n, k;
    ix.K.divmod(ix.PQ.div(static_cast<uint32_t>(i)), n, k);
    out[i] += bias[k];
  }
}

// dbias (K) = sum over n and pq of dout (N, K, PQ); one block per k.
__global__ void bias_grad_kernel(float* dbias, const float* dout, int64_t N, int64_t K, int64_t PQ) {
  const int64_t k = blockIdx.x;
  double acc = 0.0;
  for (int64_t n = 0; n < N; ++n) {
    const float* x = dout + (n * K + k) * PQ;
    for (int64_t i = threadIdx.x; i < PQ; i += blockDim.x) acc += x[i];
  }
  acc = block_sum(acc);
  if (threadIdx.x == 0) dbias[k] = static_cast<float>(acc);
}

void im2col(float* col, const float* inp, const Conv2dGeometry& g, const ConvIndex& ix, int64_t nb, int64_t img_stride,
            int64_t row_stride) {
  const int64_t total = nb * g.C * g.R * g.S * static_cast<int64_t>(g.P) * g.Q;
  if (total == 0) return;
  im2col_kernel<<<grid_for(total), kThreads, 0, stream()>>>(col, inp, g, ix, total, img_stride, row_stride);
  MD_CUDA_LAUNCHED("conv2d im2col");
}

void add_bias(float* out, const float* bias, const Conv2dGeometry& g, const ConvIndex& ix) {
  const int64_t per_image = static_cast<int64_t>(g.K) * g.P * g.Q;
  const int64_t nb = images_per_launch(per_image);
  for (int64_t n0 = 0; n0 < g.N; n0 += nb) {
    const int64_t total = std::min(nb, g.N - n0) * per_image;
    add_bias_kernel<<<grid_for(total), kThreads, 0, stream()>>>(out + n0 * per_image, bias, ix, total);
    MD_CUDA_LAUNCHED("conv2d bias");
  }
}

}  // namespace

// ---- launchers

void conv2d_forward(float* out, const float* inp, const float* weight, const float* bias, const Conv2dGeometry& g) {
  const int64_t N = g.N, K = g.K, PQ = static_cast<int64_t>(g.P) * g.Q;
  const int64_t CRS = static_cast<int64_t>(g.C) * g.R * g.S, in_img = static_cast<int64_t>(g.C) * g.H * g.W;
  if (N == 0 || K == 0 || PQ == 0) return;
  const ConvIndex ix(g);
  if (is_pointwise(g)) {
    // the input already is the column matrix of each image
    gemm_batched(false, false, K, PQ, CRS, 1.0f, weight, CRS, 0, inp, PQ, in_img, 0.0f, out, PQ, K * PQ, N);
  } else {
    const int64_t nb = chunk_images(N, CRS * PQ, CRS * PQ);
    DeviceBuffer col(sizeof(float) * nb * CRS * PQ);
    for (int64_t n0 = 0; n0 < N; n0 += nb) {
      const int64_t m = std::min(nb, N - n0);
      im2col(col.as<float>(), inp + n0 * in_img, g, ix, m, CRS * PQ, PQ);
      // out_n (K, PQ) = W (K, CRS) @ col_n (CRS, PQ)
      gemm_batched(false, false, K, PQ, CRS, 1.0f, weight, CRS, 0, col.as<float>(), PQ, CRS * PQ, 0.0f,
                   out + n0 * K * PQ, PQ, K * PQ, m);
    }
  }
  if (bias) add_bias(out, bias, g, ix);
}

void conv2d_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, const Conv2dGeometry& g) {
  const int64_t N = g.N, K = g.K, PQ = static_cast<int64_t>(g.P) * g.Q;
  const int64_t CRS = static_cast<int64_t>(g.C) * g.R * g.S, in_img = static_cast<int64_t>(g.C) * g.H * g.W;
  if (dbias) {
    if (N * PQ == 0) {
      fill_f32(dbias, 0.0f, K);
    } else if (K > 0) {
      bias_grad_kernel<<<static_cast<unsigned>(K), kThreads, 0, stream()>>>(dbias, dout, N, K, PQ);
      MD_CUDA_LAUNCHED("conv2d bias grad");
    }
  }
  if (!dweight && !dinp) return;
  if (N * PQ == 0 || K == 0) {  // nothing flows back: the gradients are zero
    if (dweight) fill_f32(dweight, 0.0f, K * CRS);
    if (dinp) fill_f32(dinp, 0.0f, N * in_img);
    return;
  }
  const bool pointwise = is_pointwise(g);
  const ConvIndex ix(g);
  // scratch per image: wide columns (CRS, PQ) and swapped dout (K, PQ) for dweight; the columns
  // (CRS, PQ) for dinput reuse the same space afterwards
  const int64_t nb = chunk_images(N, (CRS + K) * PQ, std::max({CRS * PQ, K * PQ, in_img}));
  DeviceBuffer work(sizeof(float) * nb * (CRS + K) * PQ);
  float* colw = work.as<float>();       // (CRS, m*PQ)
  float* doutw = colw + CRS * nb * PQ;  // (K, m*PQ)
  for (int64_t n0 = 0; n0 < N; n0 += nb) {
    const int64_t m = std::min(nb, N - n0);
    const float* dO = dout + n0 * K * PQ;
    if (dweight) {
      // dW (K, CRS) (+)= dO (K, m*PQ) @ col^T (m*PQ, CRS), with the chunk's images side by side
      im2col(colw, inp + n0 * in_img, g, ix, m, PQ, m * PQ);
      swap_image_channel_kernel<<<grid_for(m * K * PQ), kThreads, 0, stream()>>>(doutw, dO, ix, m, m * K * PQ);
      MD_CUDA_LAUNCHED("conv2d dweight swap");
      gemm(false, true, K, CRS, m * PQ, 1.0f, doutw, m * PQ, colw, m * PQ, n0 == 0 ? 0.0f : 1.0f, dweight, CRS);
    }
    if (dinp) {
      float* dI = dinp + n0 * in_img;
      if (pointwise) {
        // dI_n (C, HW) = W^T (C, K) @ dO_n (K, HW)
        gemm_batched(true, false, CRS, PQ, K, 1.0f, weight, CRS, 0, dO, PQ, K * PQ, 0.0f, dI, PQ, in_img, m);
      } else {
        // dcol_n (CRS, PQ) = W^T (CRS, K) @ dO_n (K, PQ), then gathered back to pixels
        float* dcol = work.as<float>();
        gemm_batched(true, false, CRS, PQ, K, 1.0f, weight, CRS, 0, dO, PQ, K * PQ, 0.0f, dcol, PQ, CRS * PQ, m);
        col2im_kernel<<<grid_for(m * in_img), kThreads, 0, stream()>>>(dI, dcol, g, ix, m * in_img);
        MD_CUDA_LAUNCHED("conv2d col2im");
      }
    }
  }
}

}  // namespace md::cuda
