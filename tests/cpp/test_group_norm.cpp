// group_norm (and its fused SiLU form) against a naive reference written here, forward, and
// backward against central finite differences of the float32 op itself (loss accumulated in
// double), for the input, weight and bias.
#include <functional>

#include "test_util.h"

using namespace md;
using testutil::host;

namespace {

std::vector<double> group_norm_ref(const std::vector<float>& x, const Shape& shape, int64_t G,
                                   const std::vector<float>& w, const std::vector<float>& b, double eps, bool silu) {
  const int64_t N = shape[0], C = shape[1], HW = shape_numel(shape) / (N * C), Cg = C / G;
  std::vector<double> y(x.size());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t g = 0; g < G; ++g) {
      const size_t base = static_cast<size_t>((n * C + g * Cg) * HW), len = static_cast<size_t>(Cg * HW);
      double mean = 0.0, var = 0.0;
      for (size_t i = 0; i < len; ++i) mean += x[base + i];
      mean /= len;
      for (size_t i = 0; i < len; ++i) var += (x[base + i] - mean) * (x[base + i] - mean);
      var /= len;
      for (size_t i = 0; i < len; ++i) {
        const int64_t c = g * Cg + static_cast<int64_t>(i) / HW;
        double v = (x[base + i] - mean) / std::sqrt(var + eps);
        if (!w.empty()) v = v * w[c] + b[c];
        y[base + i] = silu ? v / (1.0 + std::exp(-v)) : v;
      }
    }
  return y;
}

// d/dp sum(g * f()) at every element of p, by central differences on p's storage.
std::vector<double> numeric_grad(Tensor& p, const std::vector<float>& g, const std::function<Tensor()>& f, float eps) {
  std::vector<float> v = host(p);
  std::vector<double> out(v.size());
  auto loss = [&]() {
    NoGradGuard ng;
    const auto y = host(f());
    double s = 0.0;
    for (size_t i = 0; i < y.size(); ++i) s += static_cast<double>(g[i]) * y[i];
    return s;
  };
  float* data = p.f32();
  for (size_t i = 0; i < v.size(); ++i) {
    const float plus = v[i] + eps, minus = v[i] - eps;
    data[i] = plus;
    const double lp = loss();
    data[i] = minus;
    const double lm = loss();
    data[i] = v[i];
    out[i] = (lp - lm) / (static_cast<double>(plus) - minus);
  }
  return out;
}

void run_case(const Shape& shape, int64_t G, bool affine, bool silu, unsigned seed) {
  const int64_t C = shape[1];
  Tensor x = add(mul(testutil::random(shape, seed), 2.0), 0.5);
  Tensor w = testutil::random({C}, seed + 1, 0.5f, 1.5f), b = testutil::random({C}, seed + 2);
  const double eps = 1e-5;
  auto f = [&]() { return group_norm(x, G, affine ? w : Tensor(), affine ? b : Tensor(), eps, silu); };
  Tensor y = f();
  CHECK(y.shape() == shape);
  CHECK_ALLCLOSE(host(y),
                 group_norm_ref(host(x), shape, G, affine ? host(w) : std::vector<float>{}, host(b), eps, silu), 1e-4,
                 1e-5);

  x.set_requires_grad(true);
  w.set_requires_grad(true);
  b.set_requires_grad(true);
  Tensor g = testutil::random(shape, seed + 3);
  f().backward(g);
  const auto hg = host(g);
  {
    NoGradGuard ng;  // finite differences write into the leaves' storage
    CHECK_ALLCLOSE(host(x.grad()), numeric_grad(x, hg, f, 2e-3f), 1e-2, 2e-3);
    if (affine) {
      CHECK_ALLCLOSE(host(w.grad()), numeric_grad(w, hg, f, 2e-3f), 1e-2, 2e-3);
      CHECK_ALLCLOSE(host(b.grad()), numeric_grad(b, hg, f, 2e-3f), 1e-2, 2e-3);
    } else {
      CHECK(!w.grad().defined() && !b.grad().defined());
    }
  }
}

}  // namespace

TEST(group_norm_matches_reference_and_finite_differences) {
  unsigned seed = 1;
  for (int64_t G : {1, 2, 3, 6})
    for (bool affine : {true, false}) run_case({2, 6, 3, 4}, G, affine, false, seed += 10);
}

TEST(group_norm_silu_matches_reference_and_finite_differences) {
  unsigned seed = 500;
  for (int64_t G : {1, 3})
    for (bool affine : {true, false}) run_case({2, 6, 5, 3}, G, affine, true, seed += 10);
}

// Maps of whole 16-float vectors (4x4, 8x8) take the kernel's explicit-lane sums; the shapes
// above its `omp simd` reductions.
TEST(group_norm_whole_vector_maps) {
  unsigned seed = 700;
  for (bool silu : {false, true}) {
    run_case({2, 4, 4, 4}, 2, true, silu, seed += 10);
    run_case({1, 2, 8, 8}, 1, true, silu, seed += 10);
  }
}

TEST(group_norm_other_ranks) {
  run_case({3, 4, 7}, 2, true, false, 900);       // (N, C, L)
  run_case({1, 4, 2, 3, 2}, 4, true, true, 910);  // (N, C, D, H, W)
  run_case({2, 4}, 2, true, false, 920);          // no spatial dims
}

TEST(group_norm_statistics_over_a_large_offset) {
  // the mean is removed before the variance is summed, so a large offset costs no precision
  const Shape shape{1, 2, 64, 64};
  Tensor x = add(testutil::random(shape, 7), 1000.0);
  Tensor y = group_norm(x, 1, Tensor(), Tensor(), 1e-5);
  const auto hy = host(y);
  double m = 0.0, v = 0.0;
  for (float e : hy) m += e;
  m /= hy.size();
  for (float e : hy) v += (e - m) * (e - m);
  v /= hy.size();
  CHECK_NEAR(m, 0.0, 1e-4);
  CHECK_NEAR(v, 1.0, 1e-3);
}

TEST(group_norm_rejects_bad_arguments) {
  CHECK_THROWS(group_norm(zeros({2, 6, 3}), 4, Tensor(), Tensor(), 1e-5), ValueError);
  CHECK_THROWS(group_norm(zeros({6}), 2, Tensor(), Tensor(), 1e-5), ValueError);
  CHECK_THROWS(group_norm(zeros({2, 6, 3}), 3, ones({5}), Tensor(), 1e-5), ValueError);
  CHECK_THROWS(group_norm(zeros({2, 6, 3}), 3, Tensor(), Tensor(), -1.0), ValueError);
}
