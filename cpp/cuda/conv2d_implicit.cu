// The implicit-GEMM convolution: the forward and the stride-1 input gradient as one tensor-core
// (TF32, WMMA) kernel each, whose operands are copied from the input (or dout) and the weights
// straight into shared memory, so no column buffer is written and read back (im2col and col2im
// were a third of the GPU time of a batch-512 fmnist step, H200, 2026-11-27), and whose epilogue
// writes NCHW with the bias added. The operands and index arithmetic are in conv2d_index.h
// (ImplicitGemm), checked on the CPU by tests/cpp/test_cuda_index.cpp.
//
// Tiles: 128 output pixels by 64 or 128 output channels (BM, picked by M) by 32 of depth; eight
// warps, 2 x 4, each holding a (BM/2) x 32 block of accumulators. Each thread keeps four output
// pixels' tap origins for the whole depth (its B columns) and splits each of its B rows' depth
// into a tap once per tile. The tiles move with cp.async (4 bytes each, zero-filled outside the
// map) through kStages buffers. Fragments are rounded to TF32 (nearest) after they are loaded.
//
// Status (H200, 2026-11-27, benchmarks/RESULTS.md): correct, and slower than the columns path
// (25-41 TFLOP/s; a fmnist step 1.2-1.3x the default's time), so only the implicit layout picks
// it. Three versions ran at the same speed: a register-staged double buffer of 16-deep tiles;
// this cp.async pipeline with every element's depth split into a tap and B rows padded by 4; and
// this one. So memory latency, index arithmetic and B's bank conflicts do not limit it; the WMMA
// path (per-element fragment loads and conversions, HMMA rather than Hopper's wgmma) and the
// occupancy are the suspects left.
#include <mma.h>

#include <algorithm>
#include <climits>

#include "cuda/common.cuh"
#include "cuda/conv2d_implicit.h"
#include "cuda/conv2d_index.h"

namespace md::cuda {

namespace {

using namespace nvcuda;

// Row padding: 4 floats for A and 8 for B make the TF32 fragment loads free of bank conflicts
// (a B fragment's lanes read 4 depths x 8 pixels: 8 floats apart per depth, 4 would collide).
constexpr int kBN = 128, kBK = 32, kPadA = 4, kPadB = 8, kStages = 3, kWarps = kThreads / 32;
static_assert(kThreads == 256 && kBK == 32, "the tile loaders assume 256 threads and 32-deep tiles");

// Floats of one pipeline stage: A (BM, kBK) then B (kBK, kBN), rows padded.
template <int BM>
constexpr int stage_floats() {
  return BM * (kBK + kPadA) + kBK * (kBN + kPadB);
}
template <int BM>
constexpr size_t smem_bytes() {
  return sizeof(float) * kStages * stage_floats<BM>();
}

// 4 bytes global -> shared, asynchronously; zeros where !valid (src is then not read).
__device__ __forceinline__ void copy_async(float* dst, const float* src, bool valid) {
  const unsigned saddr = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(saddr), "l"(src), "r"(valid ? 4 : 0));
}
__device__ __forceinline__ void commit_async() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void wait_async() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

template <typename Frag>
__device__ __forceinline__ void round_tf32(Frag& f) {
  MD_UNROLL
  for (int e = 0; e < f.num_elements; ++e) f.x[e] = wmma::__float_to_tf32(f.x[e]);
}

template <int BM, int R_, int S_>
__global__ void __launch_bounds__(kThreads, BM == 128 ? 1 : 2) implicit_gemm_kernel(ImplicitGemm p) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
  __trap();  // no TF32 tensor cores: conv2d_implicit_supported() keeps such devices away
#else
  constexpr int WM = BM / 2, FM = WM / 16;  // warp rows, fragments along M per warp
  constexpr int LDA = kBK + kPadA, LDB = kBN + kPadB;
  constexpr int A_ROWS = kThreads / kBK, A_PER = BM / A_ROWS;
  constexpr int B_COLS = kBN / 32, B_ROWS = kBK / (kThreads / 32);
  extern __shared__ __align__(128) float smem[];  // kStages x [A (BM, LDA) | B (kBK, LDB)]

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * kBN;

  // B: this thread's columns lane + 32 i (one output pixel each, their tap origins kept for the
  // whole depth; a warp reads 32 consecutive pixels) and rows warp + 8 j, whose tap is split once
  // per tile and shared by the four columns. A column past the end starts far outside the map.
  ImplicitPixel px[B_COLS];
  MD_UNROLL
  for (int i = 0; i < B_COLS; ++i) {
    const int n = n0 + lane + 32 * i;
    px[i] = n < p.Ncols ? implicit_pixel(p, n) : ImplicitPixel{0, -(1 << 29), -(1 << 29)};
  }
  // A: this thread's depth column and rows am0, am0 + A_ROWS, ... (a warp reads 32 consecutive
  // depths of one row)
  const int ak = lane, am0 = warp;

  auto load = [&](int stage, int k0) {
    float* As = smem + stage * stage_floats<BM>();
    float* Bs = As + BM * LDA;
    const int kk = k0 + ak;
    const int64_t a_off = kk < p.Kd ? implicit_a_offset<R_, S_>(p, kk) : -1;
    MD_UNROLL
    for (int j = 0; j < A_PER; ++j) {
      const int m = am0 + A_ROWS * j;
      const bool ok = a_off >= 0 && m0 + m < p.M;
      copy_async(&As[m * LDA + ak], ok ? p.wgt + (m0 + m) * p.a_m + a_off : p.wgt, ok);
    }
    MD_UNROLL
    for (int j = 0; j < B_ROWS; ++j) {
      const int row = warp + 8 * j, kb = k0 + row;
      const bool k_ok = kb < p.Kd;
      const ImplicitTap tap = implicit_tap<R_, S_>(p, k_ok ? kb : 0);
      MD_UNROLL
      for (int i = 0; i < B_COLS; ++i) {
        const int64_t off = k_ok ? implicit_b_offset(p, px[i], tap) : -1;
        copy_async(&Bs[row * LDB + lane + 32 * i], off >= 0 ? p.src + off : p.src, off >= 0);
      }
    }
  };

  wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc[FM][2];
  MD_UNROLL
  for (int i = 0; i < FM; ++i) {
    wmma::fill_fragment(acc[i][0], 0.0f);
    wmma::fill_fragment(acc[i][1], 0.0f);
  }
  const int wm = warp / 4, wn = warp % 4;
  const int tiles = (p.Kd + kBK - 1) / kBK;
  MD_UNROLL
  for (int t = 0; t < kStages - 1; ++t) {  // one commit group per tile, empty past the last
    if (t < tiles) load(t, t * kBK);
    commit_async();
  }
  for (int t = 0; t < tiles; ++t) {
    wait_async<kStages - 2>();  // tile t has landed (for this thread) ...
    __syncthreads();            // ... for every thread, and tile t - 1's buffer is free
    if (t + kStages - 1 < tiles) load((t + kStages - 1) % kStages, (t + kStages - 1) * kBK);
    commit_async();
    const float* As = smem + (t % kStages) * stage_floats<BM>();
    const float* Bs = As + BM * LDA;
    MD_UNROLL
    for (int ks = 0; ks < kBK; ks += 8) {
      wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> a[FM];
      wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> b[2];
      MD_UNROLL
      for (int i = 0; i < FM; ++i) {
        wmma::load_matrix_sync(a[i], As + (wm * WM + 16 * i) * LDA + ks, LDA);
        round_tf32(a[i]);
      }
      MD_UNROLL
      for (int j = 0; j < 2; ++j) {
        wmma::load_matrix_sync(b[j], Bs + ks * LDB + wn * 32 + 16 * j, LDB);
        round_tf32(b[j]);
      }
      MD_UNROLL
      for (int i = 0; i < FM; ++i) {
        wmma::mma_sync(acc[i][0], a[i], b[0], acc[i][0]);
        wmma::mma_sync(acc[i][1], a[i], b[1], acc[i][1]);
      }
    }
  }
  wait_async<0>();
  __syncthreads();  // the pipeline's buffers become the warps' staging blocks

  // epilogue: each fragment through the warp's staging block, 16 consecutive pixels per row
  float* stage = smem + warp * 16 * 16;
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

template <int BM, int R_, int S_>
void launch_with(const ImplicitGemm& p, dim3 grid) {
  static const bool configured = [] {  // more than the default 48 KiB of dynamic shared memory
    MD_CUDA_CHECK(cudaFuncSetAttribute(implicit_gemm_kernel<BM, R_, S_>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       static_cast<int>(smem_bytes<BM>())));
    return true;
  }();
  (void)configured;
  implicit_gemm_kernel<BM, R_, S_><<<grid, kThreads, smem_bytes<BM>(), stream()>>>(p);
}

template <int BM>
void launch(const ImplicitGemm& p) {
  const dim3 grid(static_cast<unsigned>((p.Ncols + kBN - 1) / kBN), static_cast<unsigned>((p.M + BM - 1) / BM));
  if (p.R == 3 && p.S == 3)
    launch_with<BM, 3, 3>(p, grid);
  else
    launch_with<BM, 0, 0>(p, grid);
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
