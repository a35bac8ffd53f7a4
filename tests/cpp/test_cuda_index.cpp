// The CUDA kernels' index arithmetic, run on the CPU: the division they split flat indices with
// (cuda/divmod.h) against `/` and `%` (every divisor up to 4096, every power of two and its
// neighbours, random large divisors, each over small dividends, the dividends around many
// multiples of the divisor and the top of the range); the two-operand offsets of strided copies
// and broadcast ops; and the per-element bodies of conv2d's im2col, col2im, swap and bias kernels
// (cuda/conv2d_index.h) against direct loops, over every index of many geometries; and the
// implicit-GEMM convolution's operand gathers, multiplied out, against the direct convolution. These headers
// are plain C++ off the GPU, so this runs on any machine.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "check.h"
#include "conv_geometry.h"
#include "conv_ref.h"
#include "cpu/bf16.h"
#include "cuda/conv2d_index.h"
#include "cuda/divmod.h"

using md::Conv2dGeometry;
using md::cuda::ConvIndex;
using md::cuda::Divmod;
using md::cuda::FlatIndex2;

namespace {

// Checks n / d and n % d for one divisor over the interesting dividends; returns mismatches.
int64_t check_divisor(uint32_t d, std::mt19937_64& rng, std::string& first_bad) {
  const Divmod dm(d);
  int64_t bad = 0;
  auto one = [&](uint64_t n64) {
    if (n64 > UINT32_MAX) return;
    const uint32_t n = static_cast<uint32_t>(n64);
    uint32_t q = 0, r = 0;
    dm.divmod(n, q, r);
    if (q != n / d || r != n % d || dm.div(n) != n / d) {
      if (bad++ == 0)
        first_bad =
            std::to_string(n) + " / " + std::to_string(d) + " gave " + std::to_string(q) + " r " + std::to_string(r);
    }
  };
  for (uint64_t n = 0; n < 2048; ++n) one(n);
  for (uint64_t n = UINT32_MAX - 2048; n <= UINT32_MAX; ++n) one(n);
  // either side of multiples of d: the first ones, the last ones below 2^32, and random ones
  const uint64_t kmax = UINT32_MAX / d;
  std::uniform_int_distribution<uint64_t> pick(0, kmax);
  for (uint64_t i = 0; i < 64; ++i) {
    for (uint64_t k : {i, kmax >= i ? kmax - i : 0, pick(rng)}) {
      const uint64_t base = k * d;
      for (int64_t delta = -2; delta <= 2; ++delta)
        if (static_cast<int64_t>(base) + delta >= 0) one(base + delta);
    }
  }
  std::uniform_int_distribution<uint32_t> any;
  for (int i = 0; i < 256; ++i) one(any(rng));
  return bad;
}

}  // namespace

TEST(divmod_small_divisors) {
  std::mt19937_64 rng(1);
  int64_t bad = 0;
  std::string first;
  for (uint32_t d = 1; d <= 4096; ++d) bad += check_divisor(d, rng, first);
  if (bad) check::fail(__FILE__, __LINE__, std::to_string(bad) + " wrong results, first " + first);
}

TEST(divmod_powers_of_two_and_neighbours) {
  std::mt19937_64 rng(2);
  int64_t bad = 0;
  std::string first;
  for (int e = 1; e < 32; ++e) {
    const uint64_t p = uint64_t(1) << e;
    for (uint64_t d : {p - 1, p, p + 1})
      if (d >= 1 && d <= UINT32_MAX) bad += check_divisor(static_cast<uint32_t>(d), rng, first);
  }
  bad += check_divisor(UINT32_MAX, rng, first);
  if (bad) check::fail(__FILE__, __LINE__, std::to_string(bad) + " wrong results, first " + first);
}

TEST(divmod_random_divisors) {
  std::mt19937_64 rng(3);
  std::uniform_int_distribution<uint32_t> any(1, UINT32_MAX);
  std::uniform_int_distribution<uint32_t> mid(4097, 1u << 24);  // the sizes of real index spaces
  int64_t bad = 0;
  std::string first;
  for (int i = 0; i < 2000; ++i) {
    bad += check_divisor(any(rng), rng, first);
    bad += check_divisor(mid(rng), rng, first);
  }
  if (bad) check::fail(__FILE__, __LINE__, std::to_string(bad) + " wrong results, first " + first);
}

TEST(divmod_divisor_is_kept) {
  for (uint32_t d : {1u, 7u, 49u, 784u, UINT32_MAX}) CHECK(Divmod(d).divisor() == d);
}

TEST(flat_index_offsets_match_the_64_bit_split) {
  // random shapes of 1-8 dims (sizes 1-9, so every index of the space is checked), strides that
  // are contiguous, transposed, broadcast (0) or arbitrary
  std::mt19937_64 rng(4);
  int64_t bad = 0;
  for (int trial = 0; trial < 300; ++trial) {
    const int nd = 1 + static_cast<int>(rng() % md::kMaxDims);
    int64_t shape[md::kMaxDims], s0[md::kMaxDims], s1[md::kMaxDims], numel = 1;
    for (int d = 0; d < nd; ++d) {
      shape[d] = 1 + static_cast<int64_t>(rng() % 9);
      numel *= shape[d];
    }
    int64_t contiguous = 1;
    for (int d = nd - 1; d >= 0; --d) {
      s0[d] = contiguous;
      contiguous *= shape[d];
      s1[d] = rng() % 3 == 0 ? 0 : static_cast<int64_t>(rng() % 1000);
    }
    if (numel > 200000) continue;
    const FlatIndex2 ix(nd, shape, s0, s1);
    for (int64_t i = 0; i < numel; ++i) {
      int64_t rest = i, want0 = 0, want1 = 0;
      for (int d = nd - 1; d >= 0; --d) {
        want0 += (rest % shape[d]) * s0[d];
        want1 += (rest % shape[d]) * s1[d];
        rest /= shape[d];
      }
      int64_t got0 = -1, got1 = -1;
      ix.offsets(static_cast<uint32_t>(i), got0, got1);
      bad += got0 != want0 || got1 != want1;
    }
  }
  CHECK(bad == 0);
  // one large dim near the 32-bit limit
  const int64_t shape[2] = {3, 1431655765}, s0[2] = {1431655765, 1}, s1[2] = {1, 0};
  const FlatIndex2 ix(2, shape, s0, s1);
  int64_t o0, o1;
  ix.offsets(4294967294u, o0, o1);  // the last index: (2, 1431655764)
  CHECK(o0 == 4294967294 && o1 == 2);
}

// A stand-in for CUDA's bf16 type on the host: conv2d.cu specialises column_value for
// __nv_bfloat16 with __float2bfloat16_rn; here the CPU's rounding (also to nearest even) plays it.
struct Bf16Bits {
  uint16_t v;
};

namespace md::cuda {
template <>
inline Bf16Bits column_value<Bf16Bits>(float x) {
  return Bf16Bits{md::cpu::f32_to_bf16(x)};
}
}  // namespace md::cuda

namespace {

// f(n, c, crs, p, q, h, w) for every tap (r, s) of every output pixel (p, q) of every channel c of
// every image n of g, in (n, c, r, s, p, q) order: crs = (c*R + r)*S + s, and (h, w) the input
// pixel the tap reads (possibly in the padding).
template <typename F>
void for_each_tap(const Conv2dGeometry& g, F f) {
  for (int64_t n = 0; n < g.N; ++n)
    for (int c = 0; c < g.C; ++c)
      for (int r = 0; r < g.R; ++r)
        for (int s = 0; s < g.S; ++s)
          for (int p = 0; p < g.P; ++p)
            for (int q = 0; q < g.Q; ++q)
              f(n, c, (int64_t(c) * g.R + r) * g.S + s, p, q, p * g.stride_h - g.pad_h + r,
                q * g.stride_w - g.pad_w + s);
}

bool inside(const Conv2dGeometry& g, int h, int w) { return h >= 0 && h < g.H && w >= 0 && w < g.W; }

// The geometries: the U-Nets' (3x3 pad 1, stride 1 and 2, 1x1) and random ones with kernels up to
// 5x5, strides up to 3, every padding up to the kernel's reach and maps down to 1x1.
std::vector<Conv2dGeometry> geometries() {
  std::vector<Conv2dGeometry> gs = {
      conv_geometry(3, 4, 8, 8, 5, 3, 3, 1, 1, 1, 1), conv_geometry(2, 3, 7, 7, 4, 3, 3, 2, 2, 1, 1),
      conv_geometry(2, 5, 6, 9, 3, 1, 1, 1, 1, 0, 0), conv_geometry(2, 3, 9, 8, 2, 4, 3, 2, 1, 0, 2),
      conv_geometry(1, 2, 5, 5, 2, 5, 5, 3, 3, 2, 2), conv_geometry(4, 3, 4, 4, 2, 1, 1, 2, 2, 0, 0),
      conv_geometry(2, 2, 1, 1, 3, 3, 3, 1, 1, 1, 1), conv_geometry(2, 3, 6, 5, 2, 3, 3, 1, 1, 0, 0),
      conv_geometry(3, 2, 5, 7, 3, 3, 3, 1, 3, 2, 2)};
  std::mt19937_64 rng(5);
  auto pick = [&](int lo, int hi) { return lo + static_cast<int>(rng() % (hi - lo + 1)); };
  while (gs.size() < 60) {
    const int R = pick(1, 5), S = pick(1, 5), sh = pick(1, 3), sw = pick(1, 3);
    const int ph = pick(0, R - 1), pw = pick(0, S - 1);
    const int H = pick(std::max(1, R - 2 * ph), 12), W = pick(std::max(1, S - 2 * pw), 12);
    gs.push_back(conv_geometry(pick(1, 3), pick(1, 5), H, W, pick(1, 4), R, S, sh, sw, ph, pw));
  }
  return gs;
}

std::string describe(const Conv2dGeometry& g) {
  return "N" + std::to_string(g.N) + " C" + std::to_string(g.C) + " " + std::to_string(g.H) + "x" +
         std::to_string(g.W) + " K" + std::to_string(g.K) + " " + std::to_string(g.R) + "x" + std::to_string(g.S) +
         " stride " + std::to_string(g.stride_h) + "," + std::to_string(g.stride_w) + " pad " +
         std::to_string(g.pad_h) + "," + std::to_string(g.pad_w);
}

}  // namespace

TEST(conv_im2col_at_matches_direct_loops_in_both_layouts) {
  std::mt19937_64 rng(6);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (const Conv2dGeometry& g : geometries()) {
    const int64_t PQ = int64_t(g.P) * g.Q, CRS = int64_t(g.C) * g.R * g.S, nb = g.N;
    std::vector<float> inp(size_t(nb) * g.C * g.H * g.W);
    for (auto& v : inp) v = u(rng);
    const ConvIndex ix(g);
    for (bool wide : {false, true}) {
      const int64_t img_stride = wide ? PQ : CRS * PQ, row_stride = wide ? nb * PQ : PQ;
      std::vector<float> want(size_t(nb * CRS * PQ)), got(want.size(), std::nanf(""));
      for_each_tap(g, [&](int64_t n, int c, int64_t crs, int p, int q, int h, int w) {
        want[n * img_stride + crs * row_stride + p * g.Q + q] =
            inside(g, h, w) ? inp[((n * g.C + c) * g.H + h) * g.W + w] : 0.0f;
      });
      for (uint32_t i = 0; i < nb * g.C * PQ; ++i)
        md::cuda::im2col_at(i, got.data(), inp.data(), g, ix, img_stride, row_stride);
      if (std::memcmp(got.data(), want.data(), sizeof(float) * want.size()) != 0)
        check::fail(__FILE__, __LINE__, "im2col_at differs for " + describe(g) + (wide ? " (wide)" : ""));
      if (g.R == 3 && g.S == 3) {  // the unrolled body the launchers pick for 3x3 kernels
        std::fill(got.begin(), got.end(), std::nanf(""));
        for (uint32_t i = 0; i < nb * g.C * PQ; ++i)
          md::cuda::im2col_at<3, 3>(i, got.data(), inp.data(), g, ix, img_stride, row_stride);
        if (std::memcmp(got.data(), want.data(), sizeof(float) * want.size()) != 0)
          check::fail(__FILE__, __LINE__, "im2col_at<3, 3> differs for " + describe(g) + (wide ? " (wide)" : ""));
      }
      // bf16 columns (the bf16 matmul mode) hold every value rounded, at the same places
      for (bool fixed : {false, true}) {
        if (fixed && !(g.R == 3 && g.S == 3)) continue;
        std::vector<Bf16Bits> bits(want.size(), Bf16Bits{0xffff});
        for (uint32_t i = 0; i < nb * g.C * PQ; ++i) {
          if (fixed)
            md::cuda::im2col_at<3, 3>(i, bits.data(), inp.data(), g, ix, img_stride, row_stride);
          else
            md::cuda::im2col_at(i, bits.data(), inp.data(), g, ix, img_stride, row_stride);
        }
        int64_t bad = 0;
        for (size_t k = 0; k < want.size(); ++k) bad += bits[k].v != md::cpu::f32_to_bf16(want[k]);
        if (bad)
          check::fail(__FILE__, __LINE__,
                      std::to_string(bad) + " bf16 im2col_at" + (fixed ? "<3, 3>" : "") + " values differ for " +
                          describe(g) + (wide ? " (wide)" : ""));
      }
    }
  }
}

TEST(conv_col2im_at_matches_a_direct_scatter_in_both_layouts) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (const Conv2dGeometry& g : geometries()) {
    const int64_t PQ = int64_t(g.P) * g.Q, CRS = int64_t(g.C) * g.R * g.S, HW = int64_t(g.H) * g.W;
    std::vector<float> dcol(size_t(g.N * CRS * PQ));
    for (auto& v : dcol) v = u(rng);
    const ConvIndex ix(g);
    for (bool wide : {false, true}) {
      const int64_t img_stride = wide ? PQ : CRS * PQ, row_stride = wide ? g.N * PQ : PQ;
      // the scatter in (r, s) order: each pixel receives at most one entry per tap, so its sum is
      // taken in the same order as the gather's
      std::vector<float> want(size_t(g.N) * g.C * HW, 0.0f);
      for_each_tap(g, [&](int64_t n, int c, int64_t crs, int p, int q, int h, int w) {
        if (inside(g, h, w))
          want[(n * g.C + c) * HW + h * g.W + w] += dcol[n * img_stride + crs * row_stride + p * g.Q + q];
      });
      int64_t bad = 0;
      const bool fixed = g.R == 3 && g.S == 3;  // also the unrolled body the launchers pick for 3x3
      for (uint32_t i = 0; i < want.size(); ++i) {
        bad += md::cuda::col2im_at(i, dcol.data(), g, ix, img_stride, row_stride) != want[i];
        if (fixed) bad += md::cuda::col2im_at<3, 3>(i, dcol.data(), g, ix, img_stride, row_stride) != want[i];
      }
      if (bad)
        check::fail(__FILE__, __LINE__,
                    std::to_string(bad) + " col2im_at values differ for " + describe(g) + (wide ? " (wide)" : ""));
    }
  }
}

TEST(conv_swap_and_bias_indices_match_direct_formulas) {
  for (const Conv2dGeometry& g : geometries()) {
    const int64_t PQ = int64_t(g.P) * g.Q, nb = g.N, total = nb * g.K * PQ;
    const ConvIndex ix(g);
    std::vector<char> hit(size_t(total), 0);
    int64_t bad = 0;
    for (int64_t i = 0; i < total; ++i) {
      const int64_t pq = i % PQ, k = (i / PQ) % g.K, n = i / PQ / g.K;
      const int64_t dst = md::cuda::swap_image_channel_at(static_cast<uint32_t>(i), ix, nb);
      bad += dst != k * nb * PQ + n * PQ + pq;
      if (dst >= 0 && dst < total) hit[size_t(dst)] = 1;
      bad += md::cuda::output_channel_at(static_cast<uint32_t>(i), ix) != static_cast<uint32_t>(k);
    }
    for (char h : hit) bad += !h;  // a permutation: every destination written once
    if (bad) check::fail(__FILE__, __LINE__, std::to_string(bad) + " swap/bias indices wrong for " + describe(g));
  }
}

namespace {

// The implicit-GEMM product C = A @ B of p, gathered element by element through the kernel's own
// index functions (R_, S_ as the kernel's template), scattered through its output index, with the
// products summed in double.
template <int R_ = 0, int S_ = 0>
std::vector<double> implicit_product(md::cuda::ImplicitGemm p, int64_t out_size) {
  std::vector<double> out(size_t(out_size), std::nan(""));
  for (int n = 0; n < p.Ncols; ++n) {
    const md::cuda::ImplicitPixel px = md::cuda::implicit_pixel(p, n);
    for (int m = 0; m < p.M; ++m) {
      double acc = p.bias ? p.bias[m] : 0.0;
      for (int kk = 0; kk < p.Kd; ++kk)
        acc += double(p.wgt[m * p.a_m + md::cuda::implicit_a_offset<R_, S_>(p, kk)]) *
               md::cuda::implicit_b_at<R_, S_>(p, px, kk);
      out[size_t(md::cuda::implicit_out_index(p, m, n))] = acc;
    }
  }
  return out;
}

// got within 1e-9 of want's largest magnitude (both sum exact products in double, in other orders)
int64_t count_off(const std::vector<double>& got, const std::vector<double>& want) {
  double scale = 1.0;
  for (double v : want) scale = std::max(scale, std::fabs(v));
  int64_t bad = got.size() != want.size();
  for (size_t i = 0; i < std::min(got.size(), want.size()); ++i) bad += !(std::fabs(got[i] - want[i]) <= 1e-9 * scale);
  return bad;
}

}  // namespace

TEST(conv_implicit_gemm_operands_make_the_forward_and_the_input_gradient) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  auto random = [&](size_t n) {
    std::vector<float> v(n);
    for (auto& x : v) x = u(rng);
    return v;
  };
  for (const Conv2dGeometry& g : geometries()) {
    const size_t nin = size_t(g.N) * g.C * g.H * g.W, nout = size_t(g.N) * g.K * g.P * g.Q;
    const std::vector<float> x = random(nin), w = random(size_t(g.K) * g.C * g.R * g.S), b = random(g.K),
                             dy = random(nout);
    const bool fixed = g.R == 3 && g.S == 3;  // the launchers' unrolled 3x3 instance too

    md::cuda::ImplicitGemm fwd = md::cuda::implicit_forward_gemm(nullptr, x.data(), w.data(), b.data(), g);
    fwd.Ncols = g.N * g.P * g.Q;
    const std::vector<double> y = testutil::conv2d_ref(g, x, w, b.data());
    int64_t bad = count_off(implicit_product(fwd, int64_t(nout)), y);
    if (fixed) bad += count_off(implicit_product<3, 3>(fwd, int64_t(nout)), y);
    if (bad) check::fail(__FILE__, __LINE__, std::to_string(bad) + " implicit forward values wrong for " + describe(g));

    if (g.stride_h != 1 || g.stride_w != 1) continue;  // the implicit input gradient is stride 1 only
    md::cuda::ImplicitGemm din = md::cuda::implicit_dinput_gemm(nullptr, dy.data(), w.data(), g);
    din.Ncols = g.N * g.H * g.W;
    std::vector<double> dx, dw;
    testutil::conv2d_grads_ref(g, x, w, dy, dx, dw);
    bad = count_off(implicit_product(din, int64_t(nin)), dx);
    if (fixed) bad += count_off(implicit_product<3, 3>(din, int64_t(nin)), dx);
    if (bad)
      check::fail(__FILE__, __LINE__, std::to_string(bad) + " implicit input-gradient values wrong for " + describe(g));
  }
}
