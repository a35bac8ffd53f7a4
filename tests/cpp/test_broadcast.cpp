// Broadcasting: shape rules, the merged plans the kernels see, elementwise results against an
// index-by-index reference (contiguous, transposed, expanded and sliced operands), and sum_to as
// the adjoint that the backward of every broadcasting op relies on.
#include "ops/plan.h"
#include "test_util.h"

using namespace md;
using testutil::host;
using testutil::random;

namespace {

// Value of t at a multi-index given in out's coordinates, following numpy broadcasting.
double at(const std::vector<float>& data, const Shape& shape, const Shape& out_idx) {
  const size_t lead = out_idx.size() - shape.size();
  int64_t flat = 0;
  for (size_t i = 0; i < shape.size(); ++i) flat = flat * shape[i] + (shape[i] == 1 ? 0 : out_idx[lead + i]);
  return data[static_cast<size_t>(flat)];
}

// Reference of a op b over the broadcast shape (a and b given as contiguous host data).
std::vector<double> reference(BinaryOp op, const std::vector<float>& a, const Shape& sa, const std::vector<float>& b,
                              const Shape& sb, const Shape& out) {
  std::vector<double> r(static_cast<size_t>(shape_numel(out)));
  Shape idx(out.size(), 0);
  for (size_t f = 0; f < r.size(); ++f) {
    int64_t rem = static_cast<int64_t>(f);
    for (int64_t d = static_cast<int64_t>(out.size()) - 1; d >= 0; --d) {
      idx[d] = rem % out[d];
      rem /= out[d];
    }
    const double x = at(a, sa, idx), y = at(b, sb, idx);
    switch (op) {
      case BinaryOp::Add:
        r[f] = x + y;
        break;
      case BinaryOp::Sub:
        r[f] = x - y;
        break;
      case BinaryOp::Mul:
        r[f] = x * y;
        break;
      default:
        r[f] = x / y;
    }
  }
  return r;
}

Tensor apply(BinaryOp op, const Tensor& a, const Tensor& b) {
  switch (op) {
    case BinaryOp::Add:
      return add(a, b);
    case BinaryOp::Sub:
      return sub(a, b);
    case BinaryOp::Mul:
      return mul(a, b);
    default:
      return div(a, b);
  }
}

}  // namespace

TEST(broadcast_shape_rules) {
  CHECK((broadcast_shapes("t", {3, 1, 5}, {4, 1}) == Shape{3, 4, 5}));
  CHECK((broadcast_shapes("t", {}, {2, 3}) == Shape{2, 3}));
  CHECK((broadcast_shapes("t", {2, 3}, {}) == Shape{2, 3}));
  CHECK((broadcast_shapes("t", {1}, {0}) == Shape{0}));
  CHECK((broadcast_shapes("t", {2, 1}, {1, 0}) == Shape{2, 0}));
  CHECK_THROWS(broadcast_shapes("t", {2, 3}, {3, 2}), ValueError);
  CHECK_THROWS(broadcast_shapes("t", {2}, {0}), ValueError);
  CHECK_THROWS(broadcast_shapes("t", Shape(9, 1), {1}), ValueError);
}

TEST(plan_merges_contiguous_dims_and_drops_size_one_dims) {
  // same-shape contiguous operands collapse to one dimension
  BroadcastPlan p = make_broadcast_plan({2, 3, 4}, {2, 3, 4}, {12, 4, 1}, {2, 3, 4}, {12, 4, 1});
  CHECK(p.ndim == 1);
  CHECK(p.shape[0] == 24 && p.a_strides[0] == 1 && p.b_strides[0] == 1);
  // a row vector broadcast over rows: (rows merged, then the inner dim)
  p = make_broadcast_plan({2, 3, 4}, {2, 3, 4}, {12, 4, 1}, {4}, {1});
  CHECK(p.ndim == 2);
  CHECK(p.shape[0] == 6 && p.shape[1] == 4);
  CHECK(p.a_strides[0] == 4 && p.a_strides[1] == 1);
  CHECK(p.b_strides[0] == 0 && p.b_strides[1] == 1);
  // size-1 dims vanish; a transposed operand keeps its dims apart
  p = make_broadcast_plan({1, 3, 1, 4}, {1, 3, 1, 4}, {12, 4, 4, 1}, {1, 3, 1, 4}, {12, 1, 4, 3});
  CHECK(p.ndim == 2);
  CHECK(p.shape[0] == 3 && p.shape[1] == 4);
  CHECK(p.b_strides[0] == 1 && p.b_strides[1] == 3);
  CHECK(p.numel == 12);
  // all-ones shape: a 0-d plan of one element
  p = make_broadcast_plan({1, 1}, {1, 1}, {1, 1}, {1}, {1});
  CHECK(p.ndim == 0 && p.numel == 1);
}

TEST(elementwise_matches_reference_on_broadcast_shapes) {
  const std::vector<std::pair<Shape, Shape>> cases = {{{3, 4}, {3, 4}},    {{3, 4}, {4}},   {{4}, {3, 4}},
                                                      {{2, 1, 4}, {3, 1}}, {{}, {2, 3}},    {{2, 3, 1, 5}, {1, 4, 1}},
                                                      {{1}, {7}},          {{5, 1}, {1, 6}}};
  unsigned seed = 1;
  for (const auto& [sa, sb] : cases) {
    for (BinaryOp op : {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div}) {
      Tensor a = random(sa, seed++), b = random(sb, seed++, 0.5f, 2.0f);
      Tensor out = apply(op, a, b);
      const Shape os = broadcast_shapes("t", sa, sb);
      CHECK(out.shape() == os);
      CHECK_ALLCLOSE(host(out), reference(op, host(a), sa, host(b), sb, os), 1e-6, 1e-6);
    }
  }
}

TEST(elementwise_on_views) {
  Tensor base = random({4, 6}, 11);
  const std::vector<float> hb = host(base);
  // a transposed view (6, 4) times a column that is itself a transposed row slice (6, 1)
  Tensor t = transpose(base, 0, 1);                  // (6, 4), strides (1, 6)
  Tensor c = transpose(slice(base, 0, 0, 1), 0, 1);  // (6, 1): base[0, i]
  Tensor out = mul(t, c);
  CHECK((out.shape() == Shape{6, 4}));
  std::vector<double> ref(24);
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 4; ++j) ref[i * 4 + j] = static_cast<double>(hb[j * 6 + i]) * hb[i];
  CHECK_ALLCLOSE(host(out), ref, 1e-6, 1e-7);
  // an expanded operand (stride 0) and a step-2 slice
  Tensor e = expand(random({1, 3}, 12), {4, 3});
  Tensor s = slice(random({4, 6}, 13), 1, 0, 6, 2);
  Tensor sum_es = add(e, s);
  const auto he = host(e), hs = host(s), hsum = host(sum_es);
  for (int i = 0; i < 12; ++i) CHECK_NEAR(hsum[i], he[i] + hs[i], 1e-6);
}

TEST(large_broadcast_uses_every_row) {
  // big enough for the multi-threaded path; a (R, 1) column against a (1, C) row
  const int64_t R = 300, C = 257;
  Tensor a = random({R, 1}, 21), b = random({1, C}, 22);
  const auto ha = host(a), hb = host(b), ho = host(sub(a, b));
  double worst = 0.0;
  for (int64_t i = 0; i < R; ++i)
    for (int64_t j = 0; j < C; ++j) worst = std::max<double>(worst, std::fabs(ho[i * C + j] - (ha[i] - hb[j])));
  CHECK(worst == 0.0);
}

TEST(sum_to_is_the_adjoint_of_broadcasting) {
  Tensor g = ones({2, 3, 4});
  Tensor r = sum_to(g, {3, 1});
  CHECK((r.shape() == Shape{3, 1}));
  for (float v : host(r)) CHECK(v == 8.0f);
  r = sum_to(g, {});
  CHECK(r.shape().empty() && host(r)[0] == 24.0f);
  r = sum_to(g, {2, 3, 4});
  CHECK(r.same(g));  // nothing to reduce: the same tensor
  CHECK_THROWS(sum_to(g, {5}), ValueError);
}

TEST(broadcast_backward_sums_over_broadcast_dims) {
  Tensor a = random({2, 3}, 31);
  Tensor b = random({3}, 32);
  a.set_requires_grad(true);
  b.set_requires_grad(true);
  Tensor y = mul(a, b);  // (2, 3)
  y.backward(ones({2, 3}));
  const auto ha = host(a), hb = host(b), ga = host(a.grad()), gb = host(b.grad());
  for (int j = 0; j < 3; ++j) {
    CHECK_NEAR(gb[j], ha[j] + ha[3 + j], 1e-6);
    CHECK_NEAR(ga[j], hb[j], 0.0);
    CHECK_NEAR(ga[3 + j], hb[j], 0.0);
  }
}

TEST(copy_into_a_strided_destination) {
  Tensor dst = zeros({4, 6});
  Tensor region = slice(slice(dst, 0, 1, 3), 1, 0, 6, 2);  // rows 1-2, even columns
  copy_elements(region, ones({2, 3}));
  const auto h = host(dst);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 6; ++j) CHECK(h[i * 6 + j] == ((i == 1 || i == 2) && j % 2 == 0 ? 1.0f : 0.0f));
}
