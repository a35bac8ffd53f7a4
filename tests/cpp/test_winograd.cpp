// Winograd F(2x2, 3x3) and F(4x4, 3x3) conv2d (cpu/winograd.cpp). Its three entry points are
// called directly with each tile, whatever the selection rule says, against a direct convolution
// in double: padding 0, 1 and 2, image sizes that are and are not multiples of the tile (down to
// 1x1), 1 to 40 channels, batch 1 to 37, with 1, 2 and 3 threads (so chunks split images and
// cross image boundaries, or hold whole images with lanes across them on small maps). Both tiles
// meet the same tolerance here (F(4x4)'s larger error stays under it up to these 40 channels).
// Then the selection rules (Winograd or im2col; which tile), and the public conv2d op on shapes
// the rule sends to Winograd, so that path is checked end to end.
#include <omp.h>

#include "conv_ref.h"
#include "cpu/winograd.h"
#include "kernels.h"
#include "test_util.h"

using namespace md;
using testutil::host;

namespace {

struct Case {
  int N, C, H, W, K, ph, pw;
};

Conv2dGeometry geometry(const Case& c) {
  return {c.N, c.C, c.H, c.W, c.K, 3, 3, 1, 1, c.ph, c.pw, c.H + 2 * c.ph - 2, c.W + 2 * c.pw - 2};
}

// Float32 against a double reference: each element within 1e-5 relative plus 1e-5 of the
// reference's largest magnitude (the error of a float32 sum grows with its terms, not its result).
void check_close(const std::vector<float>& got, const std::vector<double>& ref, const char* what, const Case& c,
                 int threads, int tile) {
  double scale = 1.0;
  for (double v : ref) scale = std::max(scale, std::fabs(v));
  const double w = testutil::worst(got, ref, 1e-5, 1e-5 * scale);
  if (!(w <= 1.0))
    check::fail(__FILE__, __LINE__,
                std::string(what) + " of N" + std::to_string(c.N) + " C" + std::to_string(c.C) + " H" +
                    std::to_string(c.H) + " W" + std::to_string(c.W) + " K" + std::to_string(c.K) + " pad " +
                    std::to_string(c.ph) + "," + std::to_string(c.pw) + " tile " + std::to_string(tile) + " at " +
                    std::to_string(threads) + " threads: worst error ratio " + std::to_string(w));
}

// Restores the thread count a test changed.
struct Threads {
  int saved = omp_get_max_threads();
  explicit Threads(int n) { omp_set_num_threads(n); }
  ~Threads() { omp_set_num_threads(saved); }
};

int kept_cases = 0;  // run_direct cases that kept the forward's transform for the weight gradient

void run_direct(const Case& c, unsigned seed) {
  const Conv2dGeometry g = geometry(c);
  const auto x = testutil::random_vec(static_cast<size_t>(c.N) * c.C * c.H * c.W, seed);
  const auto w = testutil::random_vec(static_cast<size_t>(c.K) * c.C * 9, seed + 1);
  const auto b = testutil::random_vec(c.K, seed + 2);
  const auto dy = testutil::random_vec(static_cast<size_t>(c.N) * c.K * g.P * g.Q, seed + 3);
  const bool with_bias = seed % 2 == 0;
  const auto y_ref = testutil::conv2d_ref(g, x, w, with_bias ? b.data() : nullptr);
  std::vector<double> dx_ref, dw_ref;
  testutil::conv2d_grads_ref(g, x, w, dy, dx_ref, dw_ref);
  for (int threads : {1, 2, 3}) {
    Threads scope(threads);
    // outputs start as NaN (every element must be written) and are followed by a guard that must
    // stay untouched (the transforms write whole blocks of lanes past a row's end)
    constexpr size_t kGuard = 64;
    constexpr float kSentinel = 12345.0f;
    auto output = [&](size_t n) {
      std::vector<float> v(n + kGuard, NAN);
      std::fill(v.begin() + n, v.end(), kSentinel);
      return v;
    };
    auto result = [&](std::vector<float>& v, const char* what) {
      for (size_t i = v.size() - kGuard; i < v.size(); ++i)
        if (v[i] != kSentinel) {
          check::fail(__FILE__, __LINE__, std::string(what) + " wrote past its end");
          break;
        }
      v.resize(v.size() - kGuard);
      return v;
    };
    for (int tile : {2, 4}) {
      std::vector<float> y = output(y_ref.size()), dx = output(x.size()), dw = output(w.size());
      cpu::winograd_forward(y.data(), x.data(), w.data(), with_bias ? b.data() : nullptr, g, tile);
      cpu::winograd_backward_input(dx.data(), dy.data(), w.data(), g, tile);
      cpu::winograd_backward_weight(dw.data(), dy.data(), x.data(), g, tile);
      check_close(result(y, "forward"), y_ref, "forward", c, threads, tile);
      check_close(result(dx, "input gradient"), dx_ref, "input gradient", c, threads, tile);
      check_close(result(dw, "weight gradient"), dw_ref, "weight gradient", c, threads, tile);
      // the forward's input transform kept for the weight gradient (image chunks only), and a
      // kept transform whose header does not match the plan (recomputed instead)
      const int64_t n_saved = cpu::winograd_saved_floats(g, tile);
      if (n_saved > 0) {
        std::vector<float> saved = output(static_cast<size_t>(n_saved));
        std::vector<float> y2 = output(y_ref.size()), dw2 = output(w.size()), dw3 = output(w.size());
        cpu::winograd_forward(y2.data(), x.data(), w.data(), with_bias ? b.data() : nullptr, g, tile, saved.data());
        cpu::winograd_backward_weight(dw2.data(), dy.data(), x.data(), g, tile, saved.data());
        check_close(result(y2, "forward keeping its transform"), y_ref, "forward (kept)", c, threads, tile);
        check_close(result(dw2, "weight gradient from the kept transform"), dw_ref, "weight gradient (kept)", c,
                    threads, tile);
        result(saved, "the kept transform");
        saved[1] += 1.0f;  // the chunk count
        std::fill(saved.begin() + 4, saved.end(), NAN);
        cpu::winograd_backward_weight(dw3.data(), dy.data(), x.data(), g, tile, saved.data());
        check_close(result(dw3, "weight gradient past a stale transform"), dw_ref, "weight gradient (stale)", c,
                    threads, tile);
        ++kept_cases;
      }
    }
  }
}

}  // namespace

TEST(winograd_small_and_odd_sizes) {
  unsigned seed = 10;
  for (const Case& c : std::vector<Case>{
           {1, 1, 5, 5, 1, 1, 1},   // one channel each way
           {1, 3, 7, 6, 4, 1, 1},   // odd height: the last tile row is half outside
           {2, 2, 3, 3, 2, 0, 0},   // a single output pixel
           {1, 2, 2, 2, 3, 1, 1},   // 2x2 image, one tile
           {2, 3, 4, 1, 2, 1, 1},   // one column
           {1, 2, 1, 1, 2, 2, 2},   // 1x1 image, padding 2: a 3x3 output of the kernel itself
           {3, 5, 9, 12, 7, 0, 0},  // padding 0 (its input gradient runs with padding 2)
           {2, 4, 6, 9, 3, 2, 2},   // padding 2 (its input gradient runs with padding 0)
           {2, 6, 8, 7, 5, 0, 1},   // different padding per side
           {1, 8, 5, 11, 6, 2, 0},
       })
    run_direct(c, seed += 10);
}

TEST(winograd_chunks_across_images_and_wide_rows) {
  unsigned seed = 200;
  for (const Case& c : std::vector<Case>{
           {7, 12, 5, 5, 9, 1, 1},     // 3 tile rows per image: chunks cross images
           {5, 24, 7, 7, 40, 1, 1},    // 7x7 (4 tiles per row) as in the U-Net's last level
           {1, 40, 14, 14, 24, 1, 1},  // batch 1
           {3, 16, 28, 28, 16, 1, 1},  // 14 tiles per row: two blocks of 8 lanes
           {2, 9, 19, 33, 5, 1, 1},    // 17 tiles per row: three blocks, the last mostly padding
       })
    run_direct(c, seed += 10);
}

TEST(winograd_image_chunks_on_small_maps) {
  // maps up to 8 wide with 16+ images run with lanes across images (ImageChunks): batch-last
  // copies, a short last chunk whose missing images are zero lanes, odd sizes, every padding
  unsigned seed = 300;
  for (const Case& c : std::vector<Case>{
           {16, 3, 4, 4, 5, 1, 1},   // the digits U-Net's 4x4 level, one full vector of lanes
           {37, 12, 8, 8, 9, 1, 1},  // 8x8, a short last chunk
           {20, 6, 7, 7, 4, 1, 1},   // 7x7: the last tile row and column are half outside
           {17, 5, 3, 5, 4, 0, 0},   // padding 0 (its input gradient runs with padding 2)
           {18, 4, 2, 2, 3, 2, 2},   // padding 2 (its input gradient runs with padding 0)
           {33, 9, 5, 8, 7, 0, 1},   // different padding per side
           {24, 2, 1, 1, 3, 1, 1},   // 1x1 maps
       })
    run_direct(c, seed += 10);
  CHECK(kept_cases > 0);  // these cases exercise the kept transform
}

TEST(winograd_selection_rule) {
  auto algos = [](Conv2dGeometry g) {
    return std::vector<cpu::ConvAlgo>{cpu::conv2d_forward_algo(g), cpu::conv2d_backward_input_algo(g),
                                      cpu::conv2d_backward_weight_algo(g)};
  };
  const std::vector<cpu::ConvAlgo> all_wino(3, cpu::ConvAlgo::Winograd), all_im2col(3, cpu::ConvAlgo::Im2col);
  // the U-Net's 3x3 convolutions at batch 32, its output conv (64 -> 1) included
  for (const Case& c : std::vector<Case>{{32, 64, 28, 28, 64, 1, 1},
                                         {32, 192, 28, 28, 64, 1, 1},
                                         {32, 128, 14, 14, 128, 1, 1},
                                         {32, 256, 7, 7, 128, 1, 1},
                                         {32, 64, 28, 28, 1, 1, 1}})
    CHECK(algos(geometry(c)) == all_wino);
  // its input conv (1 -> 64): products one channel deep
  CHECK(algos(geometry({32, 1, 28, 28, 64, 1, 1})) == all_im2col);
  // not 3x3 stride 1 with padding up to 2
  Conv2dGeometry g = geometry({32, 64, 28, 28, 64, 1, 1});
  for (auto edit :
       std::vector<void (*)(Conv2dGeometry&)>{[](Conv2dGeometry& x) { x.stride_h = x.stride_w = 2, x.P = x.Q = 14; },
                                              [](Conv2dGeometry& x) { x.R = x.S = 1, x.pad_h = x.pad_w = 0; },
                                              [](Conv2dGeometry& x) { x.S = 1, x.pad_w = 0; },
                                              [](Conv2dGeometry& x) { x.pad_h = x.pad_w = 3, x.P = x.Q = 32; }}) {
    Conv2dGeometry e = g;
    edit(e);
    CHECK(!cpu::winograd_supported(e));
    CHECK(algos(e) == all_im2col);
  }
  // the thresholds: channels (4 for forward and weight gradient, 8 for the input gradient) and
  // tiles over the batch (8; 64 for the weight gradient)
  CHECK(algos(geometry({32, 4, 28, 28, 64, 1, 1})) ==
        (std::vector<cpu::ConvAlgo>{cpu::ConvAlgo::Winograd, cpu::ConvAlgo::Im2col, cpu::ConvAlgo::Winograd}));
  CHECK(algos(geometry({32, 3, 28, 28, 64, 1, 1})) == all_im2col);
  CHECK(algos(geometry({32, 8, 28, 28, 64, 1, 1})) == all_wino);
  CHECK(algos(geometry({2, 128, 4, 4, 128, 1, 1})) ==  // 8 tiles
        (std::vector<cpu::ConvAlgo>{cpu::ConvAlgo::Winograd, cpu::ConvAlgo::Winograd, cpu::ConvAlgo::Im2col}));
  CHECK(algos(geometry({1, 128, 4, 4, 128, 1, 1})) == all_im2col);  // 4 tiles
  CHECK(algos(geometry({4, 128, 7, 7, 128, 1, 1})) == all_wino);    // 64 tiles
}

TEST(winograd_tile_rule) {
  // Restores the switches a check changed.
  struct Switches {
    ~Switches() {
      set_cpu_winograd_tile(0);
      set_matmul_bf16(false);
    }
  } restore;
  // F(4x4) where its products are at most 0.6x F(2x2)'s: maps of 4k and 4k - 1 pixels a side
  CHECK(cpu::winograd_tile(32, 28, 28) == 4);
  CHECK(cpu::winograd_tile(32, 7, 7) == 4);
  CHECK(cpu::winograd_tile(128, 8, 8) == 4);
  CHECK(cpu::winograd_tile(128, 4, 4) == 4);
  CHECK(cpu::winograd_tile(32, 14, 14) == 2);  // 16x16 of F(4x4) tiles over 14x14: 0.73x
  CHECK(cpu::winograd_tile(32, 6, 6) == 2);
  CHECK(cpu::winograd_tile(8, 2, 2) == 2);
  // bf16 mode keeps F(2x2); the switch overrides both
  set_matmul_bf16(true);
  CHECK(cpu::winograd_tile(32, 28, 28) == 2);
  set_cpu_winograd_tile(4);
  CHECK(cpu::winograd_tile(32, 28, 28) == 4);
  set_matmul_bf16(false);
  CHECK(cpu::winograd_tile(32, 14, 14) == 4);
  set_cpu_winograd_tile(2);
  CHECK(cpu::winograd_tile(32, 28, 28) == 2);
  CHECK_THROWS(set_cpu_winograd_tile(3), ValueError);
  CHECK(cpu_winograd_tile() == 2);
}

TEST(conv2d_op_takes_the_winograd_path) {
  // batch 1 (fewer images than threads) and 5 (more), odd sizes, with and without bias
  unsigned seed = 400;
  for (const Case& c :
       std::vector<Case>{{1, 24, 17, 15, 20, 1, 1}, {5, 16, 9, 11, 12, 1, 1}, {3, 8, 14, 12, 8, 0, 0}}) {
    const Conv2dGeometry g = geometry(c);
    CHECK(cpu::conv2d_forward_algo(g) == cpu::ConvAlgo::Winograd);
    CHECK(cpu::conv2d_backward_input_algo(g) == cpu::ConvAlgo::Winograd);
    CHECK(cpu::conv2d_backward_weight_algo(g) == cpu::ConvAlgo::Winograd);
    for (bool with_bias : {true, false}) {
      seed += 10;
      Tensor x = testutil::random({c.N, c.C, c.H, c.W}, seed);
      Tensor w = testutil::random({c.K, c.C, 3, 3}, seed + 1);
      Tensor b = testutil::random({c.K}, seed + 2);
      x.set_requires_grad(true);
      w.set_requires_grad(true);
      b.set_requires_grad(true);
      Tensor y = conv2d(x, w, with_bias ? b : Tensor(), {1, 1}, {c.ph, c.pw});
      CHECK((y.shape() == Shape{c.N, c.K, g.P, g.Q}));
      const auto hx = host(x), hw = host(w), hb = host(b);
      check_close(host(y), testutil::conv2d_ref(g, hx, hw, with_bias ? hb.data() : nullptr), "conv2d forward", c,
                  omp_get_max_threads(), 0);
      Tensor dy = testutil::random(y.shape(), seed + 3);
      y.backward(dy);
      std::vector<double> dx, dw;
      testutil::conv2d_grads_ref(g, hx, hw, host(dy), dx, dw);
      check_close(host(x.grad()), dx, "conv2d input gradient", c, omp_get_max_threads(), 0);
      check_close(host(w.grad()), dw, "conv2d weight gradient", c, omp_get_max_threads(), 0);
      if (with_bias) {
        std::vector<double> db(c.K, 0.0);
        const auto hdy = host(dy);
        for (size_t i = 0; i < hdy.size(); ++i) db[(i / (static_cast<size_t>(g.P) * g.Q)) % c.K] += hdy[i];
        check_close(host(b.grad()), db, "conv2d bias gradient", c, omp_get_max_threads(), 0);
      }
    }
  }
}
