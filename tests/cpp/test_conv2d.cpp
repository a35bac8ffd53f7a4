// conv2d against a naive direct convolution (conv_ref.h, double accumulation): forward and all
// three gradients (input, weight, bias) for stride 1 and 2, padding 0 and 1, 1x1 and 3x3 and
// non-square kernels, odd and non-square images, batch 1 and larger.
#include "conv_geometry.h"
#include "conv_ref.h"
#include "test_util.h"

using namespace md;
using testutil::host;

namespace {

struct Case {
  int N, C, H, W, K, R, S, sh, sw, ph, pw;
  bool bias;
};

void run_case(const Case& c, unsigned seed) {
  Tensor x = testutil::random({c.N, c.C, c.H, c.W}, seed);
  Tensor w = testutil::random({c.K, c.C, c.R, c.S}, seed + 1);
  Tensor b = testutil::random({c.K}, seed + 2);
  x.set_requires_grad(true);
  w.set_requires_grad(true);
  b.set_requires_grad(true);
  Tensor y = conv2d(x, w, c.bias ? b : Tensor(), {c.sh, c.sw}, {c.ph, c.pw});
  const Conv2dGeometry geo = conv_geometry(c.N, c.C, c.H, c.W, c.K, c.R, c.S, c.sh, c.sw, c.ph, c.pw);
  CHECK((y.shape() == Shape{c.N, c.K, geo.P, geo.Q}));
  const auto hx = host(x), hw = host(w), hb = host(b);
  CHECK_ALLCLOSE(host(y), testutil::conv2d_ref(geo, hx, hw, c.bias ? hb.data() : nullptr), 1e-5, 1e-5);

  Tensor g = testutil::random(y.shape(), seed + 3);
  y.backward(g);
  std::vector<double> dx, dw, db;
  testutil::conv2d_grads_ref(geo, hx, hw, host(g), dx, dw, &db);
  CHECK_ALLCLOSE(host(x.grad()), dx, 1e-5, 1e-5);
  CHECK_ALLCLOSE(host(w.grad()), dw, 1e-5, 1e-5);
  if (c.bias)
    CHECK_ALLCLOSE(host(b.grad()), db, 1e-5, 1e-5);
  else
    CHECK(!b.grad().defined());
}

}  // namespace

TEST(conv2d_3x3_stride_and_padding_variants) {
  unsigned seed = 100;
  for (int stride : {1, 2})
    for (int pad : {0, 1})
      for (int batch : {1, 3})
        run_case({batch, 3, 7, 6, 4, 3, 3, stride, stride, pad, pad, (stride + pad) % 2 == 0}, seed += 10);
}

TEST(conv2d_1x1) {
  run_case({2, 5, 4, 6, 3, 1, 1, 1, 1, 0, 0, true}, 200);  // pointwise: no im2col
  run_case({2, 5, 5, 6, 3, 1, 1, 2, 2, 0, 0, false}, 210);
  run_case({1, 2, 3, 3, 4, 1, 1, 1, 1, 1, 1, true}, 220);  // padding makes a zero border
}

TEST(conv2d_non_square_kernel_stride_padding) {
  run_case({2, 2, 9, 5, 3, 3, 1, 2, 1, 1, 0, true}, 300);
  run_case({1, 3, 6, 11, 2, 2, 3, 1, 2, 0, 1, false}, 310);
  run_case({1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, true}, 320);
}

TEST(conv2d_larger_than_the_parallel_grain) { run_case({2, 16, 17, 15, 8, 3, 3, 1, 1, 1, 1, true}, 400); }

TEST(conv2d_rejects_bad_shapes) {
  CHECK_THROWS(conv2d(zeros({1, 3, 8, 8}), zeros({4, 2, 3, 3}), Tensor(), {1, 1}, {0, 0}), ValueError);
  CHECK_THROWS(conv2d(zeros({8, 8}), zeros({4, 3, 3, 3}), Tensor(), {1, 1}, {0, 0}), ValueError);
  CHECK_THROWS(conv2d(zeros({2, 8, 8}), zeros({4, 3, 3, 3}), Tensor(), {1, 1}, {0, 0}), ValueError);
  CHECK_THROWS(conv2d(zeros({1, 3, 2, 2}), zeros({4, 3, 3, 3}), Tensor(), {1, 1}, {0, 0}), ValueError);
  CHECK_THROWS(conv2d(zeros({1, 3, 4, 4}), zeros({4, 3, 3, 3}), zeros({3}), {1, 1}, {0, 0}), ValueError);
  CHECK_THROWS(conv2d(zeros({1, 3, 4, 4}), zeros({4, 3, 3, 3}), Tensor(), {0, 1}, {0, 0}), ValueError);
}

TEST(conv2d_unbatched_input_is_one_image) {
  // (C, H, W) is convolved as (1, C, H, W), as torch's; the output drops the batch dim again
  Tensor x = from_host(std::vector<float>(3 * 6 * 5, 0.5f).data(), {3, 6, 5}, DType::Float32);
  Tensor w = from_host(std::vector<float>(4 * 3 * 3 * 3, 0.25f).data(), {4, 3, 3, 3}, DType::Float32);
  Tensor one = conv2d(x, w, Tensor(), {1, 1}, {1, 1});
  Tensor batched = conv2d(unsqueeze(x, 0), w, Tensor(), {1, 1}, {1, 1});
  CHECK(one.shape() == (Shape{4, 6, 5}));
  std::vector<float> a(one.numel()), b(batched.numel());
  to_host(one, a.data());
  to_host(batched, b.data());
  CHECK(a == b);
}
