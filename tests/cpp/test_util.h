// Helpers shared by the C++ tests: host vectors <-> tensors, seeded random tensors, comparison.
#pragma once

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "check.h"
#include "ops/ops.h"

namespace testutil {

inline std::vector<float> host(const md::Tensor& t) {
  std::vector<float> v(static_cast<size_t>(t.numel()));
  md::to_host(t, v.data());
  return v;
}

inline md::Tensor tensor(const std::vector<float>& v, const md::Shape& shape) {
  return md::from_host(v.data(), shape, md::DType::Float32);
}

// Uniform in [lo, hi), reproducible from seed.
inline std::vector<float> random_vec(size_t n, unsigned seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

inline md::Tensor random(const md::Shape& shape, unsigned seed, float lo = -1.0f, float hi = 1.0f) {
  return tensor(random_vec(static_cast<size_t>(md::shape_numel(shape)), seed, lo, hi), shape);
}

// Largest |a - b| / (atol + rtol * |b|); <= 1 means every element is within tolerance.
inline double worst(const std::vector<float>& a, const std::vector<double>& b, double rtol, double atol) {
  if (a.size() != b.size()) return INFINITY;
  double w = 0.0;
  for (size_t i = 0; i < a.size(); ++i) w = std::max(w, std::fabs(a[i] - b[i]) / (atol + rtol * std::fabs(b[i])));
  return w;
}

}  // namespace testutil

// Element-wise closeness of a float vector to a double reference, reporting the worst ratio.
#define CHECK_ALLCLOSE(a, b, rtol, atol)                                                                     \
  do {                                                                                                       \
    const double w_ = testutil::worst((a), (b), (rtol), (atol));                                             \
    if (!(w_ <= 1.0))                                                                                        \
      check::fail(__FILE__, __LINE__, std::string(#a " ~ " #b ": worst error ratio ") + std::to_string(w_)); \
  } while (0)
