// CUDA conv2d as im2col + cuBLAS GEMM, over chunks of images sized so that the column buffer
// stays within workspace_budget(). Two layouts of the products (md::CudaConvLayout):
// - batched: one GEMM per image, strided-batched with the weight shared (stride 0); the product's
//   N is the image's P*Q, which wastes most of a tensor-core tile on small maps (7x7 = 49);
// - wide: the chunk's images side by side, one GEMM with N = images*P*Q, then a transpose of the
//   (K, images*P*Q) product back to (images, K, P*Q), with the bias added on the way.
// Backward: dweight is always one wide GEMM per chunk (the swapped dout times the wide columns;
// cuBLAS splits its long depth itself: splitting it by hand into a batched GEMM ran 7% slower);
// dinput is W^T times dout in the chosen layout into columns, then col2im written as a gather
// (each input pixel sums the columns that read it), so no atomics and a fixed summation order.
// The implicit layout (TF32 only) hands the forward and the stride-1 dinput to conv2d_implicit.cu.
#include <algorithm>
#include <optional>

#include "cuda/common.cuh"
#include "cuda/conv2d_implicit.h"
#include "cuda/conv2d_index.h"

namespace md::cuda {

namespace {

bool is_pointwise(const Conv2dGeometry& g) {
  return g.R == 1 && g.S == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 && g.pad_w == 0;
}

// Whether a non-pointwise convolution runs its products wide (see the top of the file). Auto:
// wide for maps under kWideBelowPQ pixels, where a per-image product fills its tiles poorly
// (benchmarks/conv_shapes.py, H200, batch 128, forward+backward: 7x7 wide 0.17 ms vs batched
// 0.22, 14x14 0.44 vs 0.46; 28x28 batched 0.72 vs wide 0.74, 2026-11-26).
constexpr int64_t kWideBelowPQ = 512;
bool use_wide(int64_t PQ) {
  switch (cuda_conv_layout()) {
    case CudaConvLayout::kBatched:
      return false;
    case CudaConvLayout::kWide:
      return true;
    default:
      return PQ < kWideBelowPQ;
  }
}

// Whether the implicit-GEMM kernels (conv2d_implicit.cu) serve a convolution: the implicit layout
// chosen, TF32 allowed and not in the bf16 mode (they multiply TF32 operands only), a device with
// TF32 tensor cores, and a convolution that needs columns (a pointwise one is a plain GEMM).
bool use_implicit(const Conv2dGeometry& g) {
  return cuda_conv_layout() == CudaConvLayout::kImplicit && tf32_allowed() && !matmul_bf16() && !is_pointwise(g) &&
         conv2d_implicit_supported();
}

// n floats rounded up to a whole 128 bytes: the offset of a second matrix in a workspace, so that
// cuBLAS sees it aligned (its vectorised kernels need 16-byte operands).
int64_t aligned(int64_t n) { return (n + 31) / 32 * 32; }

// Images per chunk when each image needs `scratch` floats of workspace and the chunk's kernels
// cover up to `flat` elements per image.
int64_t chunk_images(int64_t N, int64_t scratch, int64_t flat) {
  const int64_t fit = static_cast<int64_t>(workspace_budget() / sizeof(float)) / std::max<int64_t>(scratch, 1);
  return std::max<int64_t>(1, std::min({N, fit, items_per_launch(flat, "conv2d")}));
}

// ---- operands in the matmul mode
// In the bf16 matmul mode im2col and the dout swap write bf16 directly, and the weights are
// rounded once per call, so the column buffers are half the bytes and no float32 copy of them is
// rounded afterwards (gemm() rounding copies of every operand made bf16 slower than float32).
// The inputs of the products that take tensors as they are (pointwise convolutions, the batched
// layout's dinput) still go through gemm_batched, which rounds copies.

// A GEMM operand as conv2d made it: float32, or bf16.
struct Operand {
  const void* data;
  bool bf16;
};

// C = op(A) op(B) + beta C as gemm_batched, for two operands of the same kind.
void product(bool ta, bool tb, int64_t M, int64_t N, int64_t K, Operand A, int64_t lda, int64_t sa, Operand B,
             int64_t ldb, int64_t sb, float beta, float* C, int64_t ldc, int64_t sc, int64_t batch) {
  MD_CHECK(A.bf16 == B.bf16, RuntimeError, "conv2d: a bf16 operand paired with a float32 one");
  if (A.bf16)
    gemm_bf16_operands(ta, tb, M, N, K, 1.0f, static_cast<const __nv_bfloat16*>(A.data), lda, sa,
                       static_cast<const __nv_bfloat16*>(B.data), ldb, sb, beta, C, ldc, sc, batch);
  else
    gemm_batched(ta, tb, M, N, K, 1.0f, static_cast<const float*>(A.data), lda, sa, static_cast<const float*>(B.data),
                 ldb, sb, beta, C, ldc, sc, batch);
}

// The n weights as an operand: as they are, or (round) rounded to bf16 once.
class WeightOperand {
 public:
  WeightOperand(const float* weight, int64_t n, bool round) {
    if (round) rounded_.emplace(weight, n);
    op_ = round ? Operand{rounded_->get(), true} : Operand{weight, false};
  }
  Operand get() const { return op_; }

 private:
  std::optional<Bf16Copy> rounded_;
  Operand op_{};
};

}  // namespace

template <>
MD_HOST_DEVICE __nv_bfloat16 column_value<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

namespace {

// ---- kernels
// Flat indices are split into coordinates with Divmod (32-bit, one multiply-high each): every
// launch covers fewer than 2^32 elements (chunk_images sees to it).

// im2col: one thread per (n, c, pq) writes that output pixel's R*S taps (one index split for all
// of them); neighbouring threads write neighbouring pq, so every store is coalesced.
// R, S: the kernel size when fixed at compile time (see conv2d_index.h), else 0.
// T: the columns' element type (float, or bf16 in the bf16 matmul mode).
template <int R, int S, typename T>
__global__ void im2col_kernel(T* col, const float* inp, Conv2dGeometry g, ConvIndex ix, int64_t total,
                              int64_t img_stride, int64_t row_stride) {
  MD_GRID_STRIDE(i, total) im2col_at<R, S, T>(static_cast<uint32_t>(i), col, inp, g, ix, img_stride, row_stride);
}

// dinp (nb, C, H, W) from columns dcol in either layout, a gather per input pixel.
template <int R, int S>
__global__ void col2im_kernel(float* dinp, const float* dcol, Conv2dGeometry g, ConvIndex ix, int64_t total,
                              int64_t img_stride, int64_t row_stride) {
  MD_GRID_STRIDE(i, total) dinp[i] = col2im_at<R, S>(static_cast<uint32_t>(i), dcol, g, ix, img_stride, row_stride);
}

// out (nb, K, PQ) = wide (K, nb*PQ) with the first two axes swapped back, + bias (K) if given.
__global__ void unswap_bias_kernel(float* out, const float* wide, const float* bias, ConvIndex ix, int64_t nb,
                                   int64_t total) {
  MD_GRID_STRIDE(i, total) {
    const uint32_t u = static_cast<uint32_t>(i);
    float v = wide[swap_image_channel_at(u, ix, nb)];
    if (bias) v += bias[output_channel_at(u, ix)];
    out[i] = v;
  }
}

// dst (K, nb*PQ) = src (nb, K, PQ) with the first two axes swapped (T as for im2col).
template <typename T>
__global__ void swap_image_channel_kernel(T* dst, const float* src, ConvIndex ix, int64_t nb, int64_t total) {
  MD_GRID_STRIDE(i, total) dst[swap_image_channel_at(static_cast<uint32_t>(i), ix, nb)] = column_value<T>(src[i]);
}

// out (nb, K, PQ) += bias (K)
__global__ void add_bias_kernel(float* out, const float* bias, ConvIndex ix, int64_t total) {
  MD_GRID_STRIDE(i, total) out[i] += bias[output_channel_at(static_cast<uint32_t>(i), ix)];
}

// dbias (K) = sum over n and pq of dout (N, K, PQ), in two deterministic passes. First, block
// (k, s) sums channel k over images [s*per, s*per + per) into partial[k * S + s] (S = gridDim.y):
// enough blocks to keep every multiprocessor streaming, where one block per channel (64-128
// blocks) left most of them idle. Then one thread per channel adds its S partials in order.
__global__ void bias_grad_partial_kernel(double* partial, const float* dout, ConvIndex ix, int64_t N, int64_t K,
                                         int64_t per) {
  const int64_t k = blockIdx.x, s = blockIdx.y, n0 = s * per;
  const int64_t PQ = ix.PQ.divisor();
  const uint32_t total = static_cast<uint32_t>(std::min(per, N - n0) * PQ);
  const float* base = dout + (n0 * K + k) * PQ;
  double acc = 0.0;
#pragma unroll 4
  for (uint32_t j = threadIdx.x; j < total; j += blockDim.x) {
    uint32_t n, pq;
    ix.PQ.divmod(j, n, pq);
    acc += base[static_cast<int64_t>(n) * K * PQ + pq];
  }
  acc = block_sum(acc);
  if (threadIdx.x == 0) partial[k * gridDim.y + s] = acc;
}

__global__ void bias_grad_finish_kernel(float* dbias, const double* partial, int64_t K, int64_t S) {
  MD_GRID_STRIDE(k, K) {
    double acc = 0.0;
    for (int64_t s = 0; s < S; ++s) acc += partial[k * S + s];
    dbias[k] = static_cast<float>(acc);
  }
}

template <typename T>
void im2col_as(T* col, const float* inp, const Conv2dGeometry& g, const ConvIndex& ix, int64_t total,
               int64_t img_stride, int64_t row_stride) {
  if (g.R == 3 && g.S == 3)
    im2col_kernel<3, 3, T><<<grid_for(total), kThreads, 0, stream()>>>(col, inp, g, ix, total, img_stride, row_stride);
  else
    im2col_kernel<0, 0, T><<<grid_for(total), kThreads, 0, stream()>>>(col, inp, g, ix, total, img_stride, row_stride);
  MD_CUDA_LAUNCHED("conv2d im2col");
}

// The columns of nb images into `col` (room for nb*CRS*PQ floats), bf16 or float32; returns them as
// an operand.
Operand im2col(void* col, bool bf16, const float* inp, const Conv2dGeometry& g, const ConvIndex& ix, int64_t nb,
               int64_t img_stride, int64_t row_stride) {
  const int64_t total = nb * g.C * static_cast<int64_t>(g.P) * g.Q;  // threads: one per (n, c, pq)
  if (total > 0) {
    if (bf16)
      im2col_as(static_cast<__nv_bfloat16*>(col), inp, g, ix, total, img_stride, row_stride);
    else
      im2col_as(static_cast<float*>(col), inp, g, ix, total, img_stride, row_stride);
  }
  return Operand{col, bf16};
}

// dst (K, nb*PQ), bf16 or float32 = src (nb, K, PQ) with the first two axes swapped; as an operand.
Operand swap_image_channel(void* dst, bool bf16, const float* src, const ConvIndex& ix, int64_t nb, int64_t total) {
  if (bf16)
    swap_image_channel_kernel<<<grid_for(total), kThreads, 0, stream()>>>(static_cast<__nv_bfloat16*>(dst), src, ix, nb,
                                                                          total);
  else
    swap_image_channel_kernel<<<grid_for(total), kThreads, 0, stream()>>>(static_cast<float*>(dst), src, ix, nb, total);
  MD_CUDA_LAUNCHED("conv2d dout swap");
  return Operand{dst, bf16};
}

// dinp (nb, C, H, W) from the columns dcol (either layout)
void col2im(float* dinp, const float* dcol, const Conv2dGeometry& g, const ConvIndex& ix, int64_t nb,
            int64_t img_stride, int64_t row_stride) {
  const int64_t total = nb * g.C * static_cast<int64_t>(g.H) * g.W;
  if (total == 0) return;
  if (g.R == 3 && g.S == 3)
    col2im_kernel<3, 3><<<grid_for(total), kThreads, 0, stream()>>>(dinp, dcol, g, ix, total, img_stride, row_stride);
  else
    col2im_kernel<0, 0><<<grid_for(total), kThreads, 0, stream()>>>(dinp, dcol, g, ix, total, img_stride, row_stride);
  MD_CUDA_LAUNCHED("conv2d col2im");
}

void bias_grad(float* dbias, const float* dout, const Conv2dGeometry& g, const ConvIndex& ix) {
  const int64_t N = g.N, K = g.K, PQ = static_cast<int64_t>(g.P) * g.Q;
  // about 16K elements per block, at most 256 blocks per channel
  constexpr int64_t kPerBlock = 16384, kMaxSplits = 256;
  const int64_t want = std::min(kMaxSplits, std::max<int64_t>(1, N * PQ / kPerBlock));
  const int64_t per = (N + want - 1) / want, splits = (N + per - 1) / per;
  MD_CHECK(K <= INT32_MAX && per * PQ <= kMaxLaunch, ValueError, "conv2d: bias gradient of ", K, " channels of ", PQ,
           " pixels is too large for one launch");
  DeviceBuffer partial(sizeof(double) * K * splits);
  const dim3 grid(static_cast<unsigned>(K), static_cast<unsigned>(splits));
  bias_grad_partial_kernel<<<grid, kThreads, 0, stream()>>>(partial.as<double>(), dout, ix, N, K, per);
  MD_CUDA_LAUNCHED("conv2d bias grad");
  bias_grad_finish_kernel<<<grid_for(K), kThreads, 0, stream()>>>(dbias, partial.as<double>(), K, splits);
  MD_CUDA_LAUNCHED("conv2d bias grad (finish)");
}

void add_bias(float* out, const float* bias, const Conv2dGeometry& g, const ConvIndex& ix) {
  const int64_t per_image = static_cast<int64_t>(g.K) * g.P * g.Q;
  const int64_t nb = items_per_launch(per_image, "conv2d");
  for (int64_t n0 = 0; n0 < g.N; n0 += nb) {
    const int64_t total = std::min(nb, g.N - n0) * per_image;
    add_bias_kernel<<<grid_for(total), kThreads, 0, stream()>>>(out + n0 * per_image, bias, ix, total);
    MD_CUDA_LAUNCHED("conv2d bias");
  }
}

}  // namespace

// ---- launchers

int64_t conv2d_saved_floats(const Conv2dGeometry&) { return 0; }  // nothing is saved on the GPU

void conv2d_forward(float* out, const float* inp, const float* weight, const float* bias, const Conv2dGeometry& g,
                    float*) {
  const int64_t N = g.N, K = g.K, PQ = static_cast<int64_t>(g.P) * g.Q;
  const int64_t CRS = static_cast<int64_t>(g.C) * g.R * g.S, in_img = static_cast<int64_t>(g.C) * g.H * g.W;
  if (N == 0 || K == 0 || PQ == 0) return;
  if (use_implicit(g)) {
    conv2d_implicit_forward(out, inp, weight, bias, g);
    return;
  }
  const ConvIndex ix(g);
  const bool pointwise = is_pointwise(g), bf16 = matmul_bf16();
  const WeightOperand w(weight, K * CRS, bf16 && !pointwise);  // (the pointwise product rounds its own)
  if (pointwise) {
    // the input already is the column matrix of each image
    gemm_batched(false, false, K, PQ, CRS, 1.0f, weight, CRS, 0, inp, PQ, in_img, 0.0f, out, PQ, K * PQ, N);
  } else if (use_wide(PQ)) {
    // per chunk: wide columns (CRS, m*PQ), outw (K, m*PQ) = W (K, CRS) @ columns, then back to NCHW
    const int64_t nb = chunk_images(N, (CRS + K) * PQ, std::max(CRS, K) * PQ);
    DeviceBuffer work(sizeof(float) * (aligned(K * nb * PQ) + CRS * nb * PQ));
    float* outw = work.as<float>();
    float* colw = outw + aligned(K * nb * PQ);
    for (int64_t n0 = 0; n0 < N; n0 += nb) {
      const int64_t m = std::min(nb, N - n0);
      const Operand cols = im2col(colw, bf16, inp + n0 * in_img, g, ix, m, PQ, m * PQ);
      product(false, false, K, m * PQ, CRS, w.get(), CRS, 0, cols, m * PQ, 0, 0.0f, outw, m * PQ, 0, 1);
      const int64_t total = m * K * PQ;
      unswap_bias_kernel<<<grid_for(total), kThreads, 0, stream()>>>(out + n0 * K * PQ, outw, bias, ix, m, total);
      MD_CUDA_LAUNCHED("conv2d unswap");
    }
    return;  // the bias went in with the transpose
  } else {
    const int64_t nb = chunk_images(N, CRS * PQ, CRS * PQ);
    DeviceBuffer col(sizeof(float) * nb * CRS * PQ);
    for (int64_t n0 = 0; n0 < N; n0 += nb) {
      const int64_t m = std::min(nb, N - n0);
      const Operand cols = im2col(col.as<float>(), bf16, inp + n0 * in_img, g, ix, m, CRS * PQ, PQ);
      // out_n (K, PQ) = W (K, CRS) @ col_n (CRS, PQ)
      product(false, false, K, PQ, CRS, w.get(), CRS, 0, cols, PQ, CRS * PQ, 0.0f, out + n0 * K * PQ, PQ, K * PQ, m);
    }
  }
  if (bias) add_bias(out, bias, g, ix);
}

void conv2d_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, const Conv2dGeometry& g, const float*) {
  const int64_t N = g.N, K = g.K, PQ = static_cast<int64_t>(g.P) * g.Q;
  const int64_t CRS = static_cast<int64_t>(g.C) * g.R * g.S, in_img = static_cast<int64_t>(g.C) * g.H * g.W;
  const ConvIndex ix(g);
  if (dbias) {
    if (N * PQ == 0) {
      fill_f32(dbias, 0.0f, K);
    } else if (K > 0) {
      bias_grad(dbias, dout, g, ix);
    }
  }
  if (!dweight && !dinp) return;
  if (N * PQ == 0 || K == 0) {  // nothing flows back: the gradients are zero
    if (dweight) fill_f32(dweight, 0.0f, K * CRS);
    if (dinp) fill_f32(dinp, 0.0f, N * in_img);
    return;
  }
  if (dinp && g.stride_h == 1 && g.stride_w == 1 && use_implicit(g)) {
    conv2d_implicit_dinput(dinp, dout, weight, g);
    if (!dweight) return;
    dinp = nullptr;  // done; the loop below makes dweight
  }
  const bool pointwise = is_pointwise(g);
  const bool wide = !pointwise && use_wide(PQ);
  const bool bf16 = matmul_bf16();
  const WeightOperand w(weight, K * CRS, bf16 && dinp && wide);  // (the other dinput paths round their own)
  // scratch per image: wide columns (CRS, PQ) and swapped dout (K, PQ) for dweight, in floats (bf16
  // ones use half); the float32 columns (CRS, PQ) for dinput reuse the same space afterwards
  const int64_t nb = chunk_images(N, (CRS + K) * PQ, std::max({CRS * PQ, K * PQ, in_img}));
  DeviceBuffer work(sizeof(float) * (aligned(CRS * nb * PQ) + K * nb * PQ));
  float* colw = work.as<float>();                // (CRS, m*PQ)
  float* doutw = colw + aligned(CRS * nb * PQ);  // (K, m*PQ)
  for (int64_t n0 = 0; n0 < N; n0 += nb) {
    const int64_t m = std::min(nb, N - n0);
    const float* dO = dout + n0 * K * PQ;
    Operand dO_wide{};
    if (dweight || (dinp && wide))  // the chunk's dout with its images side by side
      dO_wide = swap_image_channel(doutw, bf16, dO, ix, m, m * K * PQ);
    if (dweight) {
      // dW (K, CRS) (+)= dO (K, m*PQ) @ col^T (m*PQ, CRS), with the chunk's images side by side
      const Operand cols = im2col(colw, bf16, inp + n0 * in_img, g, ix, m, PQ, m * PQ);
      product(false, true, K, CRS, m * PQ, dO_wide, m * PQ, 0, cols, m * PQ, 0, n0 == 0 ? 0.0f : 1.0f, dweight, CRS, 0,
              1);
    }
    if (dinp) {
      float* dI = dinp + n0 * in_img;
      if (pointwise) {
        // dI_n (C, HW) = W^T (C, K) @ dO_n (K, HW)
        gemm_batched(true, false, CRS, PQ, K, 1.0f, weight, CRS, 0, dO, PQ, K * PQ, 0.0f, dI, PQ, in_img, m);
      } else if (wide) {
        // dcol (CRS, m*PQ) = W^T (CRS, K) @ doutw (K, m*PQ), then gathered back to pixels
        product(true, false, CRS, m * PQ, K, w.get(), CRS, 0, dO_wide, m * PQ, 0, 0.0f, colw, m * PQ, 0, 1);
        col2im(dI, colw, g, ix, m, PQ, m * PQ);
      } else {
        // dcol_n (CRS, PQ) = W^T (CRS, K) @ dO_n (K, PQ), then gathered back to pixels
        float* dcol = work.as<float>();
        gemm_batched(true, false, CRS, PQ, K, 1.0f, weight, CRS, 0, dO, PQ, K * PQ, 0.0f, dcol, PQ, CRS * PQ, m);
        col2im(dI, dcol, g, ix, m, CRS * PQ, PQ);
      }
    }
  }
}

}  // namespace md::cuda
