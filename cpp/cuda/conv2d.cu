// CUDA conv2d as im2col + cuBLAS GEMM, over chunks of images sized so that the column buffer
// stays within kWorkspaceBudget. Forward: one strided-batched GEMM per chunk with the weight
// shared (stride 0). Backward: dweight as one GEMM per chunk over the chunk's columns laid side
// by side, dinput as a batched GEMM into columns followed by col2im written as a gather (each
// input pixel sums the columns that read it), so no atomics and a fixed summation order.
#include <algorithm>

#include "cuda/common.cuh"

namespace md::cuda {

namespace {

bool is_pointwise(const Conv2dGeometry& g) {
  return g.R == 1 && g.S == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 && g.pad_w == 0;
}

// ---- kernels

// col[n * img_stride + crs * row_stride + pq] for the nb images of inp (nb, C, H, W): per image
// (CRS, PQ) blocks when img_stride = CRS*PQ, or one wide (CRS, nb*PQ) matrix when img_stride = PQ.
__global__ void im2col_kernel(float* col, const float* inp, Conv2dGeometry g, int64_t nb, int64_t img_stride,
                              int64_t row_stride) {
  const int64_t PQ = static_cast<int64_t>(g.P) * g.Q, RS = static_cast<int64_t>(g.R) * g.S;
  const int64_t CRS = g.C * RS, HW = static_cast<int64_t>(g.H) * g.W;
  MD_GRID_STRIDE(i, nb * CRS * PQ) {
    const int64_t pq = i % PQ, t = i / PQ;
    const int64_t crs = t % CRS, n = t / CRS;
    const int64_t c = crs / RS, rs = crs % RS;
    const int r = static_cast<int>(rs / g.S), s = static_cast<int>(rs % g.S);
    const int p = static_cast<int>(pq / g.Q), q = static_cast<int>(pq % g.Q);
    const int h = p * g.stride_h - g.pad_h + r, w = q * g.stride_w - g.pad_w + s;
    const bool inside = h >= 0 && h < g.H && w >= 0 && w < g.W;
    col[n * img_stride + crs * row_stride + pq] =
        inside ? inp[(n * g.C + c) * HW + static_cast<int64_t>(h) * g.W + w] : 0.0f;
  }
}

// dinp (nb, C, H, W) from per-image columns dcol (nb, CRS, PQ): each pixel gathers, in (r, s)
// order like the CPU's scatter, the column entries that im2col copied it to.
__global__ void col2im_kernel(float* dinp, const float* dcol, Conv2dGeometry g, int64_t nb) {
  const int64_t PQ = static_cast<int64_t>(g.P) * g.Q, RS = static_cast<int64_t>(g.R) * g.S;
  const int64_t CRS = g.C * RS, HW = static_cast<int64_t>(g.H) * g.W;
  MD_GRID_STRIDE(i, nb * g.C * HW) {
    const int64_t hw = i % HW, nc = i / HW;
    const int64_t c = nc % g.C, n = nc / g.C;
    const int h = static_cast<int>(hw / g.W), w = static_cast<int>(hw % g.W);
    const float* colc = dcol + n * CRS * PQ + c * RS * PQ;
    float acc = 0.0f;
    for (int r = 0; r < g.R; ++r) {
      const int ph = h + g.pad_h - r;  // = p * stride_h
      if (ph < 0 || ph % g.stride_h != 0) continue;
      const int p = ph / g.stride_h;
      if (p >= g.P) continue;
      for (int s = 0; s < g.S; ++s) {
        const int qw = w + g.pad_w - s;
        if (qw < 0 || qw % g.stride_w != 0) continue;
        const int q = qw / g.stride_w;
        if (q >= g.Q) continue;
        acc += colc[(static_cast<int64_t>(r) * g.S + s) * PQ + static_cast<int64_t>(p) * g.Q + q];
      }
    }
    dinp[i] = acc;
  }
}

// dst (K, nb*PQ) = src (nb, K, PQ) with the first two axes swapped.
__global__ void swap_image_channel_kernel(float* dst, const float* src, int64_t nb, int64_t K, int64_t PQ) {
  MD_GRID_STRIDE(i, nb * K * PQ) {
    const int64_t pq = i % PQ, t = i / PQ;
    const int64_t k = t % K, n = t / K;
    dst[k * nb * PQ + n * PQ + pq] = src[i];
  }
}

// out (N, K, PQ) += bias (K)
__global__ void add_bias_kernel(float* out, const float* bias, int64_t N, int64_t K, int64_t PQ) {
  MD_GRID_STRIDE(i, N * K * PQ) out[i] += bias[(i / PQ) % K];
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

void im2col(float* col, const float* inp, const Conv2dGeometry& g, int64_t nb, int64_t img_stride, int64_t row_stride) {
  const int64_t total = nb * g.C * g.R * g.S * static_cast<int64_t>(g.P) * g.Q;
  if (total == 0) return;
  im2col_kernel<<<grid_for(total), kThreads, 0, stream()>>>(col, inp, g, nb, img_stride, row_stride);
  MD_CUDA_LAUNCHED("conv2d im2col");
}

// Images per chunk when each image needs per_image floats of scratch.
int64_t chunk_images(int64_t N, int64_t per_image) {
  const int64_t fit = static_cast<int64_t>(kWorkspaceBudget / sizeof(float)) / std::max<int64_t>(per_image, 1);
  return std::max<int64_t>(1, std::min<int64_t>(N, fit));
}

}  // namespace

// ---- launchers

void conv2d_forward(float* out, const float* inp, const float* weight, const float* bias, const Conv2dGeometry& g) {
  const int64_t N = g.N, K = g.K, PQ = static_cast<int64_t>(g.P) * g.Q;
  const int64_t CRS = static_cast<int64_t>(g.C) * g.R * g.S, in_img = static_cast<int64_t>(g.C) * g.H * g.W;
  if (N == 0 || K == 0 || PQ == 0) return;
  if (is_pointwise(g)) {
    // the input already is the column matrix of each image
    gemm_batched(false, false, K, PQ, CRS, 1.0f, weight, CRS, 0, inp, PQ, in_img, 0.0f, out, PQ, K * PQ, N);
  } else {
    const int64_t nb = chunk_images(N, CRS * PQ);
    DeviceBuffer col(sizeof(float) * nb * CRS * PQ);
    for (int64_t n0 = 0; n0 < N; n0 += nb) {
      const int64_t m = std::min(nb, N - n0);
      im2col(col.as<float>(), inp + n0 * in_img, g, m, CRS * PQ, PQ);
      // out_n (K, PQ) = W (K, CRS) @ col_n (CRS, PQ)
      gemm_batched(false, false, K, PQ, CRS, 1.0f, weight, CRS, 0, col.as<float>(), PQ, CRS * PQ, 0.0f,
                   out + n0 * K * PQ, PQ, K * PQ, m);
    }
  }
  if (bias) {
    add_bias_kernel<<<grid_for(N * K * PQ), kThreads, 0, stream()>>>(out, bias, N, K, PQ);
    MD_CUDA_LAUNCHED("conv2d bias");
  }
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
  // scratch per image: wide columns (CRS, PQ) and swapped dout (K, PQ) for dweight; the columns
  // (CRS, PQ) for dinput reuse the same space afterwards
  const int64_t nb = chunk_images(N, (CRS + K) * PQ);
  DeviceBuffer work(sizeof(float) * nb * (CRS + K) * PQ);
  float* colw = work.as<float>();       // (CRS, m*PQ)
  float* doutw = colw + CRS * nb * PQ;  // (K, m*PQ)
  for (int64_t n0 = 0; n0 < N; n0 += nb) {
    const int64_t m = std::min(nb, N - n0);
    const float* dO = dout + n0 * K * PQ;
    if (dweight) {
      // dW (K, CRS) (+)= dO (K, m*PQ) @ col^T (m*PQ, CRS), with the chunk's images side by side
      im2col(colw, inp + n0 * in_img, g, m, PQ, m * PQ);
      swap_image_channel_kernel<<<grid_for(m * K * PQ), kThreads, 0, stream()>>>(doutw, dO, m, K, PQ);
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
        col2im_kernel<<<grid_for(m * in_img), kThreads, 0, stream()>>>(dI, dcol, g, m);
        MD_CUDA_LAUNCHED("conv2d col2im");
      }
    }
  }
}

}  // namespace md::cuda
