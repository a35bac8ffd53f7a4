// The branch-free float math of cpu/vmath.h against the C library in double: exp, sigmoid, tanh
// and erf over their ranges, their saturation, infinities and NaN, and the bit-mask select.
// (The kernels' vectorised loops run the same functions; the Python tests check those ops.)
#include <algorithm>
#include <cmath>
#include <limits>

#include "check.h"
#include "cpu/vmath.h"

using namespace md::cpu;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
const float kNaN = std::numeric_limits<float>::quiet_NaN();

// The largest relative error of f against ref over n + 1 points evenly spread on [lo, hi].
template <typename F, typename R>
double max_rel_error(F f, R ref, double lo, double hi, int n) {
  double worst = 0.0;
  for (int i = 0; i <= n; ++i) {
    const float x = static_cast<float>(lo + (hi - lo) * i / n);
    const double want = ref(static_cast<double>(x));
    if (want == 0.0) continue;
    worst = std::max(worst, std::fabs(f(x) - want) / std::fabs(want));
  }
  return worst;
}

}  // namespace

TEST(vexp_matches_exp_over_the_float_range) {
  auto ref = [](double x) { return std::exp(x); };
  CHECK(max_rel_error(vexp, ref, -87.0, 88.7, 400000) < 3e-7);  // measured 2.4e-7
  CHECK(max_rel_error(vexp, ref, -1.0, 1.0, 100000) < 1e-7);
  CHECK(vexp(0.0f) == 1.0f);
}

TEST(vexp_gives_denormal_results_as_the_c_library) {
  // below 2^-126 the result is a denormal: within one of its steps (2^-149) of e^x, and the
  // C library's expf's value or its neighbour
  const double step = std::ldexp(1.0, -149);
  double worst = 0.0;
  for (int i = 0; i <= 200000; ++i) {
    const float x = static_cast<float>(-87.0 - 17.0 * i / 200000);
    worst = std::max(worst, std::fabs(vexp(x) - std::exp(static_cast<double>(x))) / step);
    CHECK(std::fabs(vexp(x) - std::exp(x)) <= step);
  }
  CHECK(worst < 1.0);  // measured 0.75: the polynomial's error, then one rounding
  CHECK(vexp(-88.0f) > 0.0f && vexp(-88.0f) < std::numeric_limits<float>::min());
  CHECK(vexp(-103.0f) == std::exp(-103.0f));  // 1 step (1.4e-45)
  CHECK(vexp(-104.0f) == 0.0f);
}

TEST(vexp_saturates_and_propagates_nan) {
  CHECK(vexp(89.0f) == kInf);
  CHECK(vexp(1000.0f) == kInf);
  CHECK(vexp(kInf) == kInf);
  CHECK(vexp(-1000.0f) == 0.0f);
  CHECK(vexp(-kInf) == 0.0f);
  CHECK(std::isnan(vexp(kNaN)));
  CHECK(std::isnan(vexp(-kNaN)));
  CHECK(std::isfinite(vexp(88.72f)));
  CHECK(std::fabs(vexp(88.72f) / std::exp(static_cast<double>(88.72f)) - 1.0) < 3e-7);
}

TEST(vsigmoid_matches_and_saturates) {
  auto ref = [](double x) { return 1.0 / (1.0 + std::exp(-x)); };
  CHECK(max_rel_error(vsigmoid, ref, -80.0, 80.0, 200000) < 2e-7);  // measured 1.4e-7
  CHECK(vsigmoid(0.0f) == 0.5f);
  CHECK(vsigmoid(kInf) == 1.0f);
  CHECK(vsigmoid(100.0f) == 1.0f);
  CHECK(vsigmoid(-kInf) == 0.0f);  // so that SiLU(-inf) = -inf * 0 is NaN, as in PyTorch
  CHECK(vsigmoid(-100.0f) == 0.0f);
  CHECK(std::isnan(vsigmoid(kNaN)));
}

TEST(vtanh_matches_tanh_including_near_zero) {
  auto ref = [](double x) { return std::tanh(x); };
  // measured 2.2e-6 and 2.5e-6: 1 - 2 / (1 + e^2x) cancels just above the series' range
  CHECK(max_rel_error(vtanh, ref, -10.0, 10.0, 200000) < 3e-6);
  CHECK(max_rel_error(vtanh, ref, -0.05, 0.05, 20000) < 3e-6);  // the odd series below 0.04
  CHECK(vtanh(kInf) == 1.0f);
  CHECK(vtanh(-kInf) == -1.0f);
  CHECK(std::isnan(vtanh(kNaN)));
}

TEST(verf_matches_erf) {
  double worst = 0.0;
  for (int i = 0; i <= 100000; ++i) {
    const float x = -6.0f + 12.0f * static_cast<float>(i) / 100000;
    worst = std::max(worst, std::fabs(verf(x) - std::erf(static_cast<double>(x))));
  }
  CHECK(worst < 2e-7);  // the series near 0, Numerical Recipes' erfc elsewhere: measured 1.4e-7
  CHECK(std::isnan(verf(kNaN)));
  CHECK(verf(kInf) == 1.0f && verf(-kInf) == -1.0f);
}

TEST(one_plus_erf_is_relatively_accurate_in_both_tails) {
  // 1 + erf(x): erfc(-x) on the left, where 1 + erf would cancel to nothing (GELU's negative tail)
  double worst = 0.0;
  for (int i = 0; i <= 200000; ++i) {
    const float x = static_cast<float>(-9.0 + 18.0 * i / 200000);  // erfc(9) = 4e-37: still a normal float
    const double want = x < 0 ? std::erfc(-static_cast<double>(x)) : 1.0 + std::erf(static_cast<double>(x));
    worst = std::max(worst, std::fabs(vone_plus_erf(x) - want) / want);
  }
  CHECK(worst < 1e-5);  // measured 7.7e-6 near x = -8.3 (erfc 1e-30: -x^2 rounds), 1.5e-6 for x > -4
  CHECK(vone_plus_erf(-kInf) == 0.0f && vone_plus_erf(kInf) == 2.0f);
  CHECK(std::isnan(vone_plus_erf(kNaN)));
}

TEST(vselect_picks_bits_exactly) {
  CHECK(vselect(true, 1.5f, -2.0f) == 1.5f);
  CHECK(vselect(false, 1.5f, -2.0f) == -2.0f);
  CHECK(vselect(false, 1.0f, -kInf) == -kInf);
  CHECK(std::isnan(vselect(true, kNaN, 0.0f)));
  CHECK(std::signbit(vselect(true, -0.0f, 0.0f)));
}
