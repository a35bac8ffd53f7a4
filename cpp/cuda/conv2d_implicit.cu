// The implicit-GEMM convolution: the forward and the stride-1 input gradient as one tensor-core
// (TF32, WMMA) kernel each, whose B operand is gathered from the input (or dout) tile by tile
// while the tile before it is multiplied, so no column buffer is written and read back (im2col and
// col2im were a third of the GPU time of a batch-512 fmnist step, H200, 2026-11-27), and whose
// epilogue writes NCHW with the bias added. The operands and index arithmetic are in
// conv2d_index.h (ImplicitGemm), checked on the CPU by tests/cpp/test_cuda_index.cpp.
//
// Tiles: 128 output pixels by 64 or 128 output channels (BM, picked by M) by 16 of depth; eight
// warps, 2 x 4, each holding a (BM/2) x 32 block of accumulators. Each thread keeps one output
// pixel's tap origin for the whole depth (its B column) and one depth column of A per tile.
// Operands are rounded to TF32 (nearest, ties away) as they enter shared memory.
#include <mma.h>

#include <algorithm>
#include <climits>

#include "cuda/common.cuh"
#include "cuda/conv2d_implicit.h"
#include "cuda/conv2d_index.h"

namespace md::cuda {

namespace {

using namespace nvcuda;

constexpr int kBN = 128, kBK = 16, kPad = 4, kWarps = kThreads / 32;
static_assert(kThreads == 256, "the tile loaders assume 256 threads");

template <int BM, int R_, int S_>
__global__ void __launch_bounds__(kThreads, 2) implicit_gemm_kernel(ImplicitGemm p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
  __trap();  // no TF32 tensor cores: conv2d_implicit_supported() keeps such devices away
#else
  constexpr int WM = BM / 2, FM = WM / 16;  // warp rows, fragments along M per warp
  constexpr int A_PER = BM * kBK / kThreads, B_PER = kBK * kBN / kThreads;
  __shared__ __align__(128) float As[2][BM][kBK + kPad];   // (m, kk), TF32 values
  __shared__ __align__(128) float Bs[2][kBK][kBN + kPad];  // (kk, n)
  __shared__ __align__(128) float Cs[kWarps][16 * 16];     // one accumulator fragment per warp, on its way out

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * kBN;

  // B: this thread's column (one output pixel) and rows bk0, bk0 + 2, ...
  const int bn = tid % kBN, bk0 = tid / kBN;
  const bool n_ok = n0 + bn < p.Ncols;
  const ImplicitPixel px = implicit_pixel(p, n_ok ? n0 + bn : 0);
  // A: this thread's depth column and rows am0, am0 + 16, ...
  const int ak = tid % kBK, am0 = tid / kBK;

  float ra[A_PER], rb[B_PER];
  auto load = [&](int k0) {
    const int kk = k0 + ak;
    const int64_t a_off = kk < p.Kd ? implicit_a_offset<R_, S_>(p, kk) : -1;
    MD_UNROLL
    for (int j = 0; j < A_PER; ++j) {
      const int m = m0 + am0 + 16 * j;
      ra[j] = a_off >= 0 && m < p.M ? __ldg(p.wgt + m * p.a_m + a_off) : 0.0f;
    }
    MD_UNROLL
    for (int j = 0; j < B_PER; ++j) {
      const int kb = k0 + bk0 + 2 * j;
      rb[j] = n_ok && kb < p.Kd ? implicit_b_at<R_, S_>(p, px, kb) : 0.0f;
    }
  };
  auto store = [&](int buf) {
    MD_UNROLL
    for (int j = 0; j < A_PER; ++j) As[buf][am0 + 16 * j][ak] = wmma::__float_to_tf32(ra[j]);
    MD_UNROLL
    for (int j = 0; j < B_PER; ++j) Bs[buf][bk0 + 2 * j][bn] = wmma::__float_to_tf32(rb[j]);
  };

  wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc[FM][2];
  MD_UNROLL
  for (int i = 0; i < FM; ++i) {
    wmma::fill_fragment(acc[i][0], 0.0f);
    wmma::fill_fragment(acc[i][1], 0.0f);
  }
  const int wm = warp / 4, wn = warp % 4;
  const int tiles = (p.Kd + kBK - 1) / kBK;
  load(0);
  store(0);
  __syncthreads();
  for (int t = 0; t < tiles; ++t) {
    const int cur = t & 1;
    if (t + 1 < tiles) load((t + 1) * kBK);  // in flight while this tile is multiplied
    MD_UNROLL
    for (int ks = 0; ks < kBK; ks += 8) {
      wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> a[FM];
      wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> b[2];
      MD_UNROLL
      for (int i = 0; i < FM; ++i) wmma::load_matrix_sync(a[i], &As[cur][wm * WM + 16 * i][ks], kBK + kPad);
      MD_UNROLL
      for (int j = 0; j < 2; ++j) wmma::load_matrix_sync(b[j], &Bs[cur][ks][wn * 32 + 16 * j], kBN + kPad);
      MD_UNROLL
      for (int i = 0; i < FM; ++i) {
        wmma::mma_sync(acc[i][0], a[i], b[0], acc[i][0]);
        wmma::mma_sync(acc[i][1], a[i], b[1], acc[i][1]);
      }
    }
    // the other buffer was last read before the previous barrier
    if (t + 1 < tiles) store(cur ^ 1);
    __syncthreads();
  }

  // epilogue: each fragment through the warp's staging block, 16 consecutive pixels per row
  float* stage = Cs[warp];
  MD_UNROLL
  for (int i = 0; i < FM; ++i) {
    MD_UNROLL
    for (int j = 0; j < 2; ++j) {
      wmma::store_matrix_sync(stage, acc[i][j], 16, wmma::mem_row_major);
      __syncwarp();
      for (int e = lane; e < 256; e += 32) {
        const int m = m0 + wm * WM + 16 * i + e / 16, n = n0 + wn * 32 + 16 * j + e % 16;
        if (m < p.M && n < p.Ncols) p.out[implicit_out_index(p, m, n)] = stage[e] + (p.bias ? p.bias[m] : 0.0f);
      }
      __syncwarp();
    }
  }
#endif
}

template <int BM>
void launch(const ImplicitGemm& p) {
  const dim3 grid(static_cast<unsigned>((p.Ncols + kBN - 1) / kBN), static_cast<unsigned>((p.M + BM - 1) / BM));
  if (p.R == 3 && p.S == 3)
    implicit_gemm_kernel<BM, 3, 3><<<grid, kThreads, 0, stream()>>>(p);
  else
    implicit_gemm_kernel<BM, 0, 0><<<grid, kThreads, 0, stream()>>>(p);
  MD_CUDA_LAUNCHED("conv2d implicit gemm");
}

// p over N images of src_img source and out_img output elements each, in launches whose columns
// fit the kernel's 32-bit indices.
void run(ImplicitGemm p, int64_t N, int64_t src_img, int64_t out_img, const char* what) {
  const int64_t HoWo = int64_t(p.Ho) * p.Wo;
  if (N == 0 || HoWo == 0 || p.M == 0) return;
  MD_CHECK(HoWo <= INT_MAX - kBN && (p.M + 63) / 64 <= 65535, ValueError, "conv2d ", what, ": a ", p.Ho, "x", p.Wo,
           " map with ", p.M, " channels is too large for the implicit-GEMM kernel's indices");
  const int64_t per = std::max<int64_t>(1, (INT_MAX - kBN) / HoWo);
  for (int64_t n0 = 0; n0 < N; n0 += per) {
    ImplicitGemm q = p;
    q.src += n0 * src_img;
    q.out += n0 * out_img;
    q.Ncols = static_cast<int>(std::min(per, N - n0) * HoWo);
    if (q.M <= 64)
      launch<64>(q);
    else
      launch<128>(q);
  }
}

}  // namespace

bool conv2d_implicit_supported() {
  int device = 0, major = 0;
  MD_CUDA_CHECK(cudaGetDevice(&device));
  MD_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  return major >= 8;
}

void conv2d_implicit_forward(float* out, const float* inp, const float* weight, const float* bias,
                             const Conv2dGeometry& g) {
  run(implicit_forward_gemm(out, inp, weight, bias, g), g.N, int64_t(g.C) * g.H * g.W, int64_t(g.K) * g.P * g.Q,
      "forward");
}

void conv2d_implicit_dinput(float* dinp, const float* dout, const float* weight, const Conv2dGeometry& g) {
  MD_CHECK(g.stride_h == 1 && g.stride_w == 1, RuntimeError, "conv2d: the implicit input gradient needs stride 1");
  run(implicit_dinput_gemm(dinp, dout, weight, g), g.N, int64_t(g.K) * g.P * g.Q, int64_t(g.C) * g.H * g.W,
      "input gradient");
}

}  // namespace md::cuda
