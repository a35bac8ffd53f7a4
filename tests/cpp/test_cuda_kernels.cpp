// CUDA kernels against their CPU twins, kernel by kernel, on the same random inputs (conv2d against
// a direct convolution in double, see check_conv): every entry of kernel_list.inc, including those no Python op reaches
// yet (adam_step, clip_by_norm, sum_squares). Outputs are pre-filled with NaN on both devices, so a kernel that
// accumulates where it should write, or skips an element, fails. Without a CUDA build or device every test returns at
// once (the skip is printed).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "check.h"
#include "conv_geometry.h"
#include "conv_ref.h"
#include "core/common.h"
#include "kernels.h"
#include "runtime.h"

using namespace md;

#ifdef MINIDIFF_CUDA

namespace {

bool have_gpu() {
  static const bool ok = [] {
    const bool g = cuda_device_count() > 0;
    if (!g) std::printf("(no CUDA device: CUDA kernel tests skipped)\n");
    return g;
  }();
  return ok;
}

const float kNaN = std::numeric_limits<float>::quiet_NaN();

// Device memory holding a copy of a host vector.
template <typename T>
struct DeviceArray {
  T* ptr = nullptr;
  size_t n = 0;
  explicit DeviceArray(const std::vector<T>& host) : n(host.size()) {
    ptr = static_cast<T*>(cuda::device_alloc(bytes()));
    if (n) cuda::copy_from_host(ptr, host.data(), bytes());
  }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  ~DeviceArray() { cuda::device_free(ptr, bytes()); }
  size_t bytes() const { return n * sizeof(T); }
  std::vector<T> host() const {
    std::vector<T> h(n);
    if (n) cuda::copy_to_host(h.data(), ptr, bytes());
    return h;
  }
};

std::mt19937& rng() {
  static std::mt19937 g(1234);
  return g;
}

std::vector<float> randn(size_t n, float scale = 1.0f) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng());
  return v;
}

std::vector<float> nans(size_t n) { return std::vector<float>(n, kNaN); }

// |got - want| <= atol + rtol * |want| everywhere (NaN only where want is NaN); want is the CPU
// twin's result (float) or a reference in double.
template <typename W>
void expect_close(const std::vector<float>& got, const std::vector<W>& want, double rtol, double atol,
                  const std::string& what, int line) {
  if (got.size() != want.size()) {
    check::fail(__FILE__, line, what + ": size " + std::to_string(got.size()) + " vs " + std::to_string(want.size()));
    return;
  }
  size_t bad = 0, worst = 0;
  double worst_excess = -1.0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double g = got[i], w = want[i];
    bool ok;
    double excess = 0.0;
    if (std::isnan(w) || std::isnan(g)) {
      ok = std::isnan(w) && std::isnan(g);
      excess = ok ? 0.0 : 1e30;
    } else if (std::isinf(w) || std::isinf(g)) {
      ok = g == w;
      excess = ok ? 0.0 : 1e30;
    } else {
      const double tol = atol + rtol * std::fabs(w);
      excess = std::fabs(g - w) - tol;
      ok = excess <= 0.0;
    }
    if (!ok) {
      ++bad;
      if (excess > worst_excess) {
        worst_excess = excess;
        worst = i;
      }
    }
  }
  if (bad)
    check::fail(__FILE__, line,
                what + ": " + std::to_string(bad) + " of " + std::to_string(got.size()) + " differ; worst at " +
                    std::to_string(worst) + ": cuda " + std::to_string(got[worst]) + " vs " +
                    (std::is_same_v<W, float> ? "cpu " : "reference ") + std::to_string(want[worst]));
}

#define EXPECT_CLOSE(got, want, rtol, atol, what) expect_close((got), (want), (rtol), (atol), (what), __LINE__)

template <typename T>
void expect_equal(const std::vector<T>& got, const std::vector<T>& want, const std::string& what, int line) {
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
    const bool same = std::memcmp(&got[i], &want[i], sizeof(T)) == 0;
    if (!same && bad++ == 0) first = i;
  }
  if (got.size() != want.size() || bad)
    check::fail(
        __FILE__, line,
        what + ": " + std::to_string(bad) + " elements differ bitwise (first at " + std::to_string(first) + ")");
}

#define EXPECT_EQUAL(got, want, what) expect_equal((got), (want), (what), __LINE__)

struct Tf32Off {  // exact float32 GEMMs for the tight comparisons
  Tf32Off() { cuda::runtime_set_allow_tf32(false); }
  ~Tf32Off() { cuda::runtime_set_allow_tf32(true); }
};

}  // namespace

TEST(runtime_reports_a_device) {
  if (!have_gpu()) return;
  CHECK(cuda_device_count() >= 1);
  CHECK(!cuda::runtime_device_name(0).empty());
  CHECK_THROWS(cuda::runtime_device_name(cuda_device_count()), ValueError);
}

TEST(allocator_reuses_blocks_and_returns_to_baseline) {
  if (!have_gpu()) return;
  cuda::synchronize();
  const CudaMemoryStats before = cuda::runtime_memory_stats();
  void* a = cuda::device_alloc(3 << 20);
  const CudaMemoryStats during = cuda::runtime_memory_stats();
  CHECK(during.allocated >= before.allocated + (3 << 20));
  CHECK(during.peak_allocated >= during.allocated);
  CHECK(during.reserved >= during.allocated);
  cuda::device_free(a, 3 << 20);
  CHECK(cuda::runtime_memory_stats().allocated == before.allocated);
  const int64_t reserved = cuda::runtime_memory_stats().reserved;
  void* b = cuda::device_alloc(3 << 20);  // served from the cache: nothing new is reserved
  CHECK(cuda::runtime_memory_stats().reserved == reserved);
  cuda::device_free(b, 3 << 20);
  CHECK(cuda::runtime_memory_stats().reserved == reserved);  // cached, not released
  cuda::runtime_empty_cache();
  CHECK(cuda::runtime_memory_stats().reserved < reserved);
  CHECK(cuda::runtime_memory_stats().allocated == before.allocated);
}

TEST(allocator_out_of_memory_is_an_exception_naming_the_size) {
  if (!have_gpu()) return;
  bool thrown = false;
  try {
    cuda::device_alloc(size_t(1) << 50);
  } catch (const OutOfMemoryError& e) {
    thrown = std::string(e.what()).find(std::to_string(size_t(1) << 50)) != std::string::npos;
  }
  CHECK(thrown);
  // the device is still usable afterwards
  DeviceArray<float> x(std::vector<float>{1, 2, 3});
  CHECK((x.host() == std::vector<float>{1, 2, 3}));
}

TEST(copy_strided_matches_for_2_4_8_byte_elements) {
  if (!have_gpu()) return;
  // dst (3, 4, 5) contiguous from src (5, 4, 3) read transposed; plus a broadcast (stride 0) dim
  StridedCopy p;
  p.ndim = 3;
  const int64_t shape[3] = {3, 4, 5}, dst[3] = {20, 5, 1}, src[3] = {1, 3, 12};
  for (int d = 0; d < 3; ++d) {
    p.shape[d] = shape[d];
    p.dst_strides[d] = dst[d];
    p.src_strides[d] = src[d];
  }
  StridedCopy bcast = p;
  bcast.src_strides[1] = 0;
  for (const StridedCopy& plan : {p, bcast}) {
    std::vector<uint64_t> s8(60);
    for (size_t i = 0; i < s8.size(); ++i) s8[i] = 0x0123456789abcdefull * (i + 1);
    std::vector<uint32_t> s4(s8.begin(), s8.end());
    std::vector<uint16_t> s2(s8.begin(), s8.end());
    auto run = [&](auto& host_src) {
      using T = typename std::decay_t<decltype(host_src)>::value_type;
      std::vector<T> want(60, 0);
      cpu::copy_strided(want.data(), host_src.data(), sizeof(T), plan);
      DeviceArray<T> dsrc(host_src), ddst(std::vector<T>(60, 0));
      cuda::copy_strided(ddst.ptr, dsrc.ptr, sizeof(T), plan);
      EXPECT_EQUAL(ddst.host(), want, "copy_strided " + std::to_string(sizeof(T)));
    };
    run(s2);
    run(s4);
    run(s8);
  }
  // a 0-d copy is one element
  StridedCopy scalar;
  DeviceArray<float> a(std::vector<float>{7.5f}), b(std::vector<float>{0.0f});
  cuda::copy_strided(b.ptr, a.ptr, 4, scalar);
  CHECK(b.host()[0] == 7.5f);
}

TEST(fill_and_cast_match) {
  if (!have_gpu()) return;
  DeviceArray<float> f(nans(1000));
  cuda::fill_f32(f.ptr, 2.5f, 1000);
  CHECK((f.host() == std::vector<float>(1000, 2.5f)));
  DeviceArray<int64_t> i(std::vector<int64_t>(77, 0));
  cuda::fill_i64(i.ptr, -(int64_t(1) << 40), 77);
  CHECK((i.host() == std::vector<int64_t>(77, -(int64_t(1) << 40))));

  std::vector<float> x = randn(4097, 100.0f);
  x[0] = kNaN;
  x[1] = std::numeric_limits<float>::infinity();
  x[2] = 1.00390625f;  // halfway between two bf16 values: rounds to even
  std::vector<uint16_t> bf_want(x.size());
  cpu::cast(bf_want.data(), DType::BFloat16, x.data(), DType::Float32, x.size());
  DeviceArray<float> dx(x);
  DeviceArray<uint16_t> dbf(std::vector<uint16_t>(x.size(), 0));
  cuda::cast(dbf.ptr, DType::BFloat16, dx.ptr, DType::Float32, x.size());
  EXPECT_EQUAL(dbf.host(), bf_want, "cast f32->bf16");
  std::vector<float> back_want(x.size());
  cpu::cast(back_want.data(), DType::Float32, bf_want.data(), DType::BFloat16, x.size());
  DeviceArray<float> dback(nans(x.size()));
  cuda::cast(dback.ptr, DType::Float32, dbf.ptr, DType::BFloat16, x.size());
  EXPECT_EQUAL(dback.host(), back_want, "cast bf16->f32");

  std::vector<float> xf = randn(1000, 1000.0f);
  std::vector<int64_t> i_want(xf.size());
  cpu::cast(i_want.data(), DType::Int64, xf.data(), DType::Float32, xf.size());
  DeviceArray<float> dxf(xf);
  DeviceArray<int64_t> di(std::vector<int64_t>(xf.size(), 0));
  cuda::cast(di.ptr, DType::Int64, dxf.ptr, DType::Float32, xf.size());
  EXPECT_EQUAL(di.host(), i_want, "cast f32->i64");
  std::vector<float> f_want(xf.size());
  cpu::cast(f_want.data(), DType::Float32, i_want.data(), DType::Int64, xf.size());
  DeviceArray<float> df(nans(xf.size()));
  cuda::cast(df.ptr, DType::Float32, di.ptr, DType::Int64, xf.size());
  EXPECT_EQUAL(df.host(), f_want, "cast i64->f32");
  DeviceArray<float> dsame(nans(xf.size()));
  cuda::cast(dsame.ptr, DType::Float32, dxf.ptr, DType::Float32, xf.size());
  EXPECT_EQUAL(dsame.host(), xf, "cast f32->f32");
}

TEST(unary_forward_and_backward_match) {
  if (!have_gpu()) return;
  const int n = 10007;
  for (int o = 0; o <= static_cast<int>(UnaryOp::Tanh); ++o) {
    const UnaryOp op = static_cast<UnaryOp>(o);
    std::vector<float> x = randn(n, 2.0f);
    if (op == UnaryOp::Log || op == UnaryOp::Sqrt || op == UnaryOp::Rsqrt)
      for (auto& v : x) v = std::fabs(v) + 0.1f;
    std::vector<float> y(n), dy = randn(n), dx(n);
    cpu::unary_forward(op, y.data(), x.data(), n);
    cpu::unary_backward(op, dx.data(), dy.data(), x.data(), y.data(), n);
    DeviceArray<float> dX(x), dY(nans(n)), dDY(dy), dDX(nans(n));
    cuda::unary_forward(op, dY.ptr, dX.ptr, n);
    cuda::unary_backward(op, dDX.ptr, dDY.ptr, dX.ptr, dY.ptr, n);
    // CUDA's expf/logf/sinf/erff/tanhf are within 2 ulp, glibc's within 1
    EXPECT_CLOSE(dY.host(), y, 2e-6, 1e-6, "unary_forward op " + std::to_string(o));
    EXPECT_CLOSE(dDX.host(), dx, 2e-5, 1e-6, "unary_backward op " + std::to_string(o));
  }
}

TEST(binary_scalar_axpby_match) {
  if (!have_gpu()) return;
  // out (4, 5, 6): a contiguous, b broadcast along dim 0 and strided (a transposed view) in dim 1
  BroadcastPlan p;
  p.ndim = 3;
  p.numel = 120;
  const int64_t shape[3] = {4, 5, 6}, sa[3] = {30, 6, 1}, sb[3] = {0, 1, 5};
  for (int d = 0; d < 3; ++d) {
    p.shape[d] = shape[d];
    p.a_strides[d] = sa[d];
    p.b_strides[d] = sb[d];
  }
  BroadcastPlan flat;  // a (50) with a scalar b
  flat.ndim = 1;
  flat.numel = 50;
  flat.shape[0] = 50;
  flat.a_strides[0] = 1;
  flat.b_strides[0] = 0;
  BroadcastPlan zero_d;  // 0-d tensors
  zero_d.numel = 1;
  for (int o = 0; o <= static_cast<int>(BinaryOp::PowGradExponent); ++o) {
    const BinaryOp op = static_cast<BinaryOp>(o);
    for (const BroadcastPlan& plan : {p, flat, zero_d}) {
      std::vector<float> a = randn(120), b = randn(30);
      if (op >= BinaryOp::Pow && op != BinaryOp::Maximum && op != BinaryOp::Minimum) {
        for (auto& v : a) v = std::fabs(v) + 0.5f;
        a[0] = 0.0f;  // pow's backward factors have their own values at base 0
      }
      std::vector<float> want = nans(plan.ndim ? plan.numel : 1);
      cpu::binary_forward(op, want.data(), a.data(), b.data(), plan);
      DeviceArray<float> da(a), db(b), dout(nans(want.size()));
      cuda::binary_forward(op, dout.ptr, da.ptr, db.ptr, plan);
      EXPECT_CLOSE(dout.host(), want, 2e-6, 0.0, "binary_forward op " + std::to_string(o));
    }
    std::vector<float> a = randn(333), want(333), want_first(333);
    if (op >= BinaryOp::Pow && op != BinaryOp::Maximum && op != BinaryOp::Minimum)
      for (auto& v : a) v = std::fabs(v) + 0.5f;
    cpu::scalar_forward(op, want.data(), a.data(), 1.7f, false, 333);
    cpu::scalar_forward(op, want_first.data(), a.data(), 1.7f, true, 333);
    DeviceArray<float> da(a), dout(nans(333)), dout_first(nans(333));
    cuda::scalar_forward(op, dout.ptr, da.ptr, 1.7f, false, 333);
    cuda::scalar_forward(op, dout_first.ptr, da.ptr, 1.7f, true, 333);
    EXPECT_CLOSE(dout.host(), want, 2e-6, 0.0, "scalar_forward op " + std::to_string(o));
    EXPECT_CLOSE(dout_first.host(), want_first, 2e-6, 0.0, "scalar_forward (scalar first) op " + std::to_string(o));
  }
  std::vector<float> a = randn(1000), b = randn(1000), want(1000);
  cpu::axpby(want.data(), a.data(), 0.9f, b.data(), -0.3f, 1000);
  DeviceArray<float> da(a), db(b);
  cuda::axpby(da.ptr, da.ptr, 0.9f, db.ptr, -0.3f, 1000);  // in place, as add_ uses it
  EXPECT_CLOSE(da.host(), want, 1e-6, 1e-7, "axpby");
}

TEST(int64_binary_and_scalar_kernels_match_exactly) {
  if (!have_gpu()) return;
  BroadcastPlan p;  // a (4, 5, 6) strided, b broadcast along dim 0
  p.ndim = 3;
  p.numel = 120;
  const int64_t shape[3] = {4, 5, 6}, sa[3] = {30, 6, 1}, sb[3] = {0, 1, 5};
  for (int d = 0; d < 3; ++d) {
    p.shape[d] = shape[d];
    p.a_strides[d] = sa[d];
    p.b_strides[d] = sb[d];
  }
  std::vector<int64_t> a(120), b(30);
  for (size_t i = 0; i < a.size(); ++i) a[i] = (int64_t(1) << 40) + static_cast<int64_t>(i * 7919 % 97) - 48;
  for (size_t i = 0; i < b.size(); ++i) b[i] = (int64_t(1) << 40) + static_cast<int64_t>(i * 31 % 29) - 14;
  a[3] = INT64_MAX;  // + and * wrap around on both twins
  for (int o = 0; o <= static_cast<int>(BinaryOp::Ge); ++o) {
    const BinaryOp op = static_cast<BinaryOp>(o);
    if (!has_int64_kernel(op)) continue;
    DeviceArray<int64_t> da(a), db(b);
    if (is_comparison(op)) {
      std::vector<float> want(120), want_s(120);
      cpu::binary_forward_i64(op, want.data(), a.data(), b.data(), p);
      cpu::scalar_forward_i64(op, want_s.data(), a.data(), b[0], true, 120);
      DeviceArray<float> dout(nans(120)), dout_s(nans(120));
      cuda::binary_forward_i64(op, dout.ptr, da.ptr, db.ptr, p);
      cuda::scalar_forward_i64(op, dout_s.ptr, da.ptr, b[0], true, 120);
      EXPECT_EQUAL(dout.host(), want, "binary_forward_i64 op " + std::to_string(o));
      EXPECT_EQUAL(dout_s.host(), want_s, "scalar_forward_i64 op " + std::to_string(o));
    } else {
      std::vector<int64_t> want(120), want_s(120);
      cpu::binary_forward_i64(op, want.data(), a.data(), b.data(), p);
      cpu::scalar_forward_i64(op, want_s.data(), a.data(), -3, false, 120);
      DeviceArray<int64_t> dout(std::vector<int64_t>(120, -1)), dout_s(std::vector<int64_t>(120, -1));
      cuda::binary_forward_i64(op, dout.ptr, da.ptr, db.ptr, p);
      cuda::scalar_forward_i64(op, dout_s.ptr, da.ptr, -3, false, 120);
      EXPECT_EQUAL(dout.host(), want, "binary_forward_i64 op " + std::to_string(o));
      EXPECT_EQUAL(dout_s.host(), want_s, "scalar_forward_i64 op " + std::to_string(o));
    }
  }
}

TEST(int64_reductions_and_scans_match_exactly) {
  if (!have_gpu()) return;
  // (O, R, I) shapes: full reduction, rows (I == 1), columns, R larger than a block, one element
  const int64_t shapes[][3] = {{1, 1000, 1}, {7, 33, 1}, {3, 5, 9}, {2, 700, 3}, {1, 1, 1}};
  for (const auto& sh : shapes) {
    const int64_t O = sh[0], R = sh[1], I = sh[2];
    std::vector<int64_t> x(O * R * I);
    for (size_t k = 0; k < x.size(); ++k) x[k] = (int64_t(1) << 40) + static_cast<int64_t>(k * 7919 % 13) - 6;
    x[x.size() / 2] = INT64_MAX;  // sums wrap around on both twins
    DeviceArray<int64_t> dx(x);
    std::vector<int64_t> sum(O * I), mx(O * I), arg(O * I), cs(x.size()), cp(x.size());
    cpu::reduce_sum_i64(sum.data(), x.data(), O, R, I);
    cpu::reduce_max_i64(mx.data(), arg.data(), x.data(), O, R, I);
    cpu::cumulative_i64(cs.data(), x.data(), O, R, I, false);
    cpu::cumulative_i64(cp.data(), x.data(), O, R, I, true);
    DeviceArray<int64_t> dsum(std::vector<int64_t>(O * I, -1)), dmx(std::vector<int64_t>(O * I, -1)),
        darg(std::vector<int64_t>(O * I, -1)), dcs(std::vector<int64_t>(x.size(), -1)),
        dcp(std::vector<int64_t>(x.size(), -1));
    cuda::reduce_sum_i64(dsum.ptr, dx.ptr, O, R, I);
    cuda::reduce_max_i64(dmx.ptr, darg.ptr, dx.ptr, O, R, I);
    cuda::cumulative_i64(dcs.ptr, dx.ptr, O, R, I, false);
    cuda::cumulative_i64(dcp.ptr, dx.ptr, O, R, I, true);
    const std::string what =
        " (O, R, I) = (" + std::to_string(O) + ", " + std::to_string(R) + ", " + std::to_string(I) + ")";
    EXPECT_EQUAL(dsum.host(), sum, "reduce_sum_i64" + what);
    EXPECT_EQUAL(dmx.host(), mx, "reduce_max_i64 values" + what);
    EXPECT_EQUAL(darg.host(), arg, "reduce_max_i64 indices" + what);
    EXPECT_EQUAL(dcs.host(), cs, "cumulative_i64 sums" + what);
    EXPECT_EQUAL(dcp.host(), cp, "cumulative_i64 products" + what);
  }
}

TEST(reduce_sum_matches_for_every_path) {
  if (!have_gpu()) return;
  struct Case {
    int64_t O, R, I;
  };
  // rows (warp per row), few long rows (block per row), columns, single outputs, > 65535 slabs
  for (const Case& c : {Case{1000, 37, 1}, Case{3, 50000, 1}, Case{1, 1, 1}, Case{7, 300, 45}, Case{1, 4096, 130},
                        Case{70000, 3, 2}, Case{5, 1, 8}}) {
    std::vector<float> x = randn(c.O * c.R * c.I), want = nans(c.O * c.I);
    cpu::reduce_sum(want.data(), x.data(), c.O, c.R, c.I);
    DeviceArray<float> dx(x), dout(nans(c.O * c.I));
    cuda::reduce_sum(dout.ptr, dx.ptr, c.O, c.R, c.I);
    // both sum in double and round once, so they agree to the last bit but for ties in rounding
    EXPECT_CLOSE(dout.host(), want, 1e-6, 1e-6,
                 "reduce_sum O=" + std::to_string(c.O) + " R=" + std::to_string(c.R) + " I=" + std::to_string(c.I));
  }
}

TEST(reduce_max_matches_with_ties_and_nans) {
  if (!have_gpu()) return;
  struct Case {
    int64_t O, R, I;
  };
  for (const Case& c : {Case{50, 1000, 1}, Case{4, 7, 33}, Case{1, 100000, 1}, Case{3, 1, 1}}) {
    std::vector<float> x = randn(c.O * c.R * c.I);
    for (auto& v : x) v = std::round(v * 2.0f);  // many ties: the first occurrence must win
    if (x.size() > 500) {
      x[123] = kNaN;  // the first NaN wins over everything after and before it
      x[400] = kNaN;
    }
    std::vector<float> want = nans(c.O * c.I);
    std::vector<int64_t> want_arg(c.O * c.I, -1);
    cpu::reduce_max(want.data(), want_arg.data(), x.data(), c.O, c.R, c.I);
    DeviceArray<float> dx(x), dout(nans(c.O * c.I));
    DeviceArray<int64_t> darg(std::vector<int64_t>(c.O * c.I, -1));
    cuda::reduce_max(dout.ptr, darg.ptr, dx.ptr, c.O, c.R, c.I);
    EXPECT_EQUAL(dout.host(), want, "reduce_max values R=" + std::to_string(c.R));
    EXPECT_EQUAL(darg.host(), want_arg, "reduce_max argmax R=" + std::to_string(c.R));

    std::vector<float> g = randn(c.O * c.I), dwant = nans(c.O * c.R * c.I);
    cpu::reduce_max_backward(dwant.data(), g.data(), want_arg.data(), c.O, c.R, c.I);
    DeviceArray<float> dg(g), ddx(nans(dwant.size()));
    cuda::reduce_max_backward(ddx.ptr, dg.ptr, darg.ptr, c.O, c.R, c.I);
    EXPECT_EQUAL(ddx.host(), dwant, "reduce_max_backward");
  }
}

TEST(sum_squares_writes_and_accumulates) {
  if (!have_gpu()) return;
  for (int64_t n : {int64_t(0), int64_t(1), int64_t(1000), int64_t(3000001)}) {
    std::vector<float> x = randn(n);
    float want = kNaN, want_acc = 2.0f;
    cpu::sum_squares(&want, x.data(), n, false);
    cpu::sum_squares(&want_acc, x.data(), n, true);
    DeviceArray<float> dx(x), out(std::vector<float>{kNaN}), acc(std::vector<float>{2.0f});
    cuda::sum_squares(out.ptr, dx.ptr, n, false);
    cuda::sum_squares(acc.ptr, dx.ptr, n, true);
    EXPECT_CLOSE(out.host(), std::vector<float>{want}, 1e-6, 0.0, "sum_squares n=" + std::to_string(n));
    EXPECT_CLOSE(acc.host(), std::vector<float>{want_acc}, 1e-6, 0.0, "sum_squares accumulate");
  }
}

TEST(gemm_matches_every_transpose_and_leading_dim) {
  if (!have_gpu()) return;
  Tf32Off exact;
  const int64_t M = 37, N = 29, K = 53, pad = 3;
  for (int t = 0; t < 4; ++t) {
    const bool ta = t & 1, tb = t & 2;
    const int64_t lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
    std::vector<float> A = randn((ta ? K : M) * lda), B = randn((tb ? N : K) * ldb), C = randn(M * ldc);
    std::vector<float> want = C;
    cpu::gemm(ta, tb, M, N, K, 0.7f, A.data(), lda, B.data(), ldb, 0.4f, want.data(), ldc);
    DeviceArray<float> dA(A), dB(B), dC(C);
    cuda::gemm(ta, tb, M, N, K, 0.7f, dA.ptr, lda, dB.ptr, ldb, 0.4f, dC.ptr, ldc);
    EXPECT_CLOSE(dC.host(), want, 1e-5, 1e-5, "gemm ta=" + std::to_string(ta) + " tb=" + std::to_string(tb));
  }
}

TEST(gemm_batched_matches_with_broadcast_operands) {
  if (!have_gpu()) return;
  Tf32Off exact;
  const int64_t M = 16, N = 24, K = 40, batch = 5;
  for (int t = 0; t < 4; ++t) {
    const bool ta = t & 1, tb = t & 2;
    const int64_t lda = ta ? M : K, ldb = tb ? K : N;
    for (int bcast = 0; bcast < 3; ++bcast) {  // none, A shared, B shared
      const int64_t sa = bcast == 1 ? 0 : M * K, sb = bcast == 2 ? 0 : K * N;
      std::vector<float> A = randn(M * K * batch), B = randn(K * N * batch), want = nans(M * N * batch);
      cpu::gemm_batched(ta, tb, M, N, K, 1.0f, A.data(), lda, sa, B.data(), ldb, sb, 0.0f, want.data(), N, M * N,
                        batch);
      DeviceArray<float> dA(A), dB(B), dC(nans(M * N * batch));
      cuda::gemm_batched(ta, tb, M, N, K, 1.0f, dA.ptr, lda, sa, dB.ptr, ldb, sb, 0.0f, dC.ptr, N, M * N, batch);
      EXPECT_CLOSE(dC.host(), want, 1e-5, 1e-5,
                   "gemm_batched t=" + std::to_string(t) + " bcast=" + std::to_string(bcast));
    }
  }
  // K = 0: C = beta * C
  std::vector<float> C = randn(M * N * 2);
  DeviceArray<float> dC(C), dummy(std::vector<float>(1, 0.0f));
  cuda::gemm_batched(false, false, M, N, 0, 1.0f, dummy.ptr, 1, 0, dummy.ptr, N, 0, 0.0f, dC.ptr, N, M * N, 2);
  CHECK((dC.host() == std::vector<float>(M * N * 2, 0.0f)));
}

TEST(gemm_tf32_is_close_but_allowed_to_differ) {
  if (!have_gpu()) return;
  cuda::runtime_set_allow_tf32(true);
  const int64_t M = 128, N = 128, K = 256;
  std::vector<float> A = randn(M * K), B = randn(K * N), want = nans(M * N);
  cpu::gemm(false, false, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f, want.data(), N);
  DeviceArray<float> dA(A), dB(B), dC(nans(M * N));
  cuda::gemm(false, false, M, N, K, 1.0f, dA.ptr, K, dB.ptr, N, 0.0f, dC.ptr, N);
  // TF32 keeps 10 mantissa bits: per-term relative error ~1e-3, entries are ~sqrt(K) = 16
  EXPECT_CLOSE(dC.host(), want, 1e-2, 0.1, "gemm tf32");
}

namespace {

// The CUDA conv2d against the direct convolution in double (the CPU conv2d is no oracle here: its
// Winograd F(4x4, 3x3) rounds more than a float32 GEMM). tf32: the errors of TF32 products, within
// 3e-3 of each tensor's largest magnitude (a sum's error follows its terms' spread, not its value).
void check_conv(const Conv2dGeometry& g, bool with_bias, bool all_grads, const std::string& name, bool tf32 = false) {
  const size_t nin = size_t(g.N) * g.C * g.H * g.W, nw = size_t(g.K) * g.C * g.R * g.S,
               nout = size_t(g.N) * g.K * g.P * g.Q;
  std::vector<float> x = randn(nin), w = randn(nw, 0.2f), b = randn(g.K), dy = randn(nout);
  const std::vector<double> y = testutil::conv2d_ref(g, x, w, with_bias ? b.data() : nullptr);
  std::vector<double> dx, dw, db;
  testutil::conv2d_grads_ref(g, x, w, dy, dx, dw, &db);
  DeviceArray<float> dX(x), dW(w), dB(b), dDY(dy), dY(nans(nout)), dDX(nans(nin)), dDW(nans(nw)), dDB(nans(g.K));
  cuda::conv2d_forward(dY.ptr, dX.ptr, dW.ptr, with_bias ? dB.ptr : nullptr, g, nullptr);
  cuda::conv2d_backward(dDX.ptr, all_grads ? dDW.ptr : nullptr, all_grads ? dDB.ptr : nullptr, dDY.ptr, dX.ptr, dW.ptr,
                        g, nullptr);
  auto near = [&](const std::vector<float>& got, const std::vector<double>& want, double rtol, double atol,
                  const std::string& what) {
    double scale = 0.0;
    for (double v : want) scale = std::max(scale, std::fabs(v));
    if (tf32)
      EXPECT_CLOSE(got, want, 0.0, 3e-3 * scale, name + " " + what + " (tf32)");
    else
      EXPECT_CLOSE(got, want, rtol, atol, name + " " + what);
  };
  near(dY.host(), y, 1e-4, 1e-4, "forward");
  near(dDX.host(), dx, 1e-4, 1e-4, "dinput");
  if (all_grads) {
    near(dDW.host(), dw, 1e-4, 1e-3, "dweight");
    EXPECT_CLOSE(dDB.host(), db, 1e-5, 1e-4, name + " dbias");
  } else {
    CHECK(std::isnan(dDW.host()[0]));  // null gradients are not written
  }
}
}  // namespace

TEST(conv2d_matches_for_common_geometries) {
  if (!have_gpu()) return;
  Tf32Off exact;
  check_conv(conv_geometry(2, 3, 9, 9, 4, 3, 3, 1, 1, 1, 1), true, true, "3x3 pad 1");
  check_conv(conv_geometry(3, 5, 10, 11, 6, 3, 3, 2, 2, 1, 1), true, true, "3x3 stride 2");
  check_conv(conv_geometry(2, 8, 7, 6, 5, 1, 1, 1, 1, 0, 0), true, true, "1x1 pointwise");
  check_conv(conv_geometry(2, 4, 9, 8, 3, 4, 3, 2, 1, 0, 2), false, true, "4x3 stride (2,1) pad (0,2)");
  check_conv(conv_geometry(1, 2, 5, 5, 2, 5, 5, 3, 3, 2, 2), true, false, "5x5 stride 3, dinput only");
  check_conv(conv_geometry(4, 3, 4, 4, 2, 1, 1, 2, 2, 0, 0), true, true, "1x1 stride 2 (not pointwise)");
}

TEST(conv2d_matches_when_chunked_over_images) {
  if (!have_gpu()) return;
  Tf32Off exact;
  // columns of one image: 64*9 rows x 64*64 = 9.4 MB, so 40 images need two 256 MiB chunks
  check_conv(conv_geometry(40, 64, 64, 64, 8, 3, 3, 1, 1, 1, 1), true, true, "chunked 3x3");
}

// The implicit layout with TF32 on: the forward and the stride-1 dinput from the implicit-GEMM
// kernels, on the geometries above (the last one's 163,840 output pixels span 1,280 column tiles).
TEST(conv2d_implicit_gemm_matches_with_tf32) {
  if (!have_gpu()) return;
  const CudaConvLayout before = cuda_conv_layout();
  set_cuda_conv_layout(CudaConvLayout::kImplicit);
  cuda::runtime_set_allow_tf32(true);
  check_conv(conv_geometry(2, 3, 9, 9, 4, 3, 3, 1, 1, 1, 1), true, true, "3x3 pad 1", true);
  check_conv(conv_geometry(3, 5, 10, 11, 6, 3, 3, 2, 2, 1, 1), true, true, "3x3 stride 2", true);
  check_conv(conv_geometry(2, 4, 9, 8, 3, 4, 3, 2, 1, 0, 2), false, true, "4x3 stride (2,1) pad (0,2)", true);
  check_conv(conv_geometry(1, 2, 5, 5, 2, 5, 5, 3, 3, 2, 2), true, false, "5x5 stride 3, dinput only", true);
  check_conv(conv_geometry(2, 6, 7, 5, 3, 5, 3, 1, 1, 2, 0), true, true, "5x3 pad (2,0)", true);
  check_conv(conv_geometry(3, 130, 6, 6, 70, 3, 3, 1, 1, 1, 1), true, true, "3x3 130->70 (two tile rows for dinput)",
             true);
  check_conv(conv_geometry(40, 64, 64, 64, 8, 3, 3, 1, 1, 1, 1), true, true, "wide 3x3", true);
  set_cuda_conv_layout(before);
}

TEST(group_norm_matches_with_and_without_affine_and_silu) {
  if (!have_gpu()) return;
  const int64_t N = 3, C = 12, HW = 50;
  for (int variant = 0; variant < 4; ++variant) {
    const bool affine = variant & 1, silu = variant & 2;
    for (int64_t G : {int64_t(1), int64_t(4), int64_t(12)}) {
      std::vector<float> x = randn(N * C * HW, 3.0f), w = randn(C), b = randn(C), dy = randn(N * C * HW);
      for (auto& v : x) v += 5.0f;  // a mean far from zero tests the two-pass variance
      const float* wp = affine ? w.data() : nullptr;
      const float* bp = affine ? b.data() : nullptr;
      std::vector<float> y = nans(N * C * HW), mean = nans(N * G), rstd = nans(N * G);
      cpu::group_norm_forward(y.data(), mean.data(), rstd.data(), x.data(), wp, bp, N, C, HW, G, 1e-5f, silu);
      std::vector<float> dx = nans(N * C * HW), dw = nans(C), db = nans(C);
      cpu::group_norm_backward(dx.data(), dw.data(), db.data(), dy.data(), x.data(), wp, bp, mean.data(), rstd.data(),
                               N, C, HW, G, silu);
      DeviceArray<float> dX(x), dWt(w), dBs(b), dDY(dy), dY(nans(N * C * HW)), dM(nans(N * G)), dR(nans(N * G));
      DeviceArray<float> dDX(nans(N * C * HW)), dDW(nans(C)), dDB(nans(C));
      const float* dwp = affine ? dWt.ptr : nullptr;
      const float* dbp = affine ? dBs.ptr : nullptr;
      cuda::group_norm_forward(dY.ptr, dM.ptr, dR.ptr, dX.ptr, dwp, dbp, N, C, HW, G, 1e-5f, silu);
      cuda::group_norm_backward(dDX.ptr, dDW.ptr, dDB.ptr, dDY.ptr, dX.ptr, dwp, dbp, dM.ptr, dR.ptr, N, C, HW, G,
                                silu);
      const std::string name =
          "group_norm G=" + std::to_string(G) + " affine=" + std::to_string(affine) + " silu=" + std::to_string(silu);
      EXPECT_CLOSE(dM.host(), mean, 1e-6, 1e-6, name + " mean");
      EXPECT_CLOSE(dR.host(), rstd, 1e-6, 0.0, name + " rstd");
      EXPECT_CLOSE(dY.host(), y, 1e-5, 1e-5, name + " forward");
      EXPECT_CLOSE(dDX.host(), dx, 1e-4, 1e-5, name + " dinput");
      EXPECT_CLOSE(dDW.host(), dw, 1e-5, 1e-5, name + " dweight");
      EXPECT_CLOSE(dDB.host(), db, 1e-5, 1e-5, name + " dbias");
    }
  }
}

TEST(layer_norm_matches) {
  if (!have_gpu()) return;
  for (int64_t D : {int64_t(7), int64_t(64), int64_t(1000)}) {
    const int64_t M = 33;
    std::vector<float> x = randn(M * D, 2.0f), w = randn(D), b = randn(D), dy = randn(M * D);
    std::vector<float> y = nans(M * D), mean = nans(M), rstd = nans(M), dx = nans(M * D), dw = nans(D), db = nans(D);
    cpu::layer_norm_forward(y.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), M, D, 1e-5f);
    cpu::layer_norm_backward(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), mean.data(), rstd.data(),
                             M, D);
    DeviceArray<float> dX(x), dWt(w), dBs(b), dDY(dy), dY(nans(M * D)), dM(nans(M)), dR(nans(M));
    DeviceArray<float> dDX(nans(M * D)), dDW(nans(D)), dDB(nans(D));
    cuda::layer_norm_forward(dY.ptr, dM.ptr, dR.ptr, dX.ptr, dWt.ptr, dBs.ptr, M, D, 1e-5f);
    cuda::layer_norm_backward(dDX.ptr, dDW.ptr, dDB.ptr, dDY.ptr, dX.ptr, dWt.ptr, dM.ptr, dR.ptr, M, D);
    const std::string name = "layer_norm D=" + std::to_string(D);
    EXPECT_CLOSE(dY.host(), y, 1e-5, 1e-5, name + " forward");
    EXPECT_CLOSE(dM.host(), mean, 1e-6, 1e-6, name + " mean");
    EXPECT_CLOSE(dR.host(), rstd, 1e-6, 0.0, name + " rstd");
    EXPECT_CLOSE(dDX.host(), dx, 1e-4, 1e-5, name + " dinput");
    EXPECT_CLOSE(dDW.host(), dw, 1e-5, 1e-5, name + " dweight");
    EXPECT_CLOSE(dDB.host(), db, 1e-5, 1e-5, name + " dbias");
  }
}

TEST(softmax_matches_including_masked_rows) {
  if (!have_gpu()) return;
  for (int64_t D : {int64_t(1), int64_t(5), int64_t(49), int64_t(1024), int64_t(3000)}) {
    const int64_t M = 20;
    std::vector<float> x = randn(M * D, 4.0f), dy = randn(M * D);
    x[0] = -std::numeric_limits<float>::infinity();  // a masked entry
    std::vector<float> y = nans(M * D), dx = nans(M * D);
    cpu::softmax_forward(y.data(), x.data(), M, D);
    cpu::softmax_backward(dx.data(), dy.data(), y.data(), M, D);
    DeviceArray<float> dX(x), dDY(dy), dY(nans(M * D)), dDX(nans(M * D));
    cuda::softmax_forward(dY.ptr, dX.ptr, M, D);
    cuda::softmax_backward(dDX.ptr, dDY.ptr, dY.ptr, M, D);
    EXPECT_CLOSE(dY.host(), y, 1e-5, 1e-7, "softmax D=" + std::to_string(D));
    EXPECT_CLOSE(dDX.host(), dx, 1e-4, 1e-6, "softmax_backward D=" + std::to_string(D));
  }
}

TEST(attention_matches) {
  if (!have_gpu()) return;
  Tf32Off exact;
  struct Case {
    int64_t B, Lq, Lk, D, Dv;
  };
  for (const Case& c : {Case{6, 16, 16, 32, 32}, Case{3, 49, 20, 8, 12}, Case{2, 1, 1, 4, 4}}) {
    const float scale = 1.0f / std::sqrt(static_cast<float>(c.D));
    std::vector<float> q = randn(c.B * c.Lq * c.D), k = randn(c.B * c.Lk * c.D), v = randn(c.B * c.Lk * c.Dv),
                       dy = randn(c.B * c.Lq * c.Dv);
    std::vector<float> y = nans(c.B * c.Lq * c.Dv), lse = nans(c.B * c.Lq);
    std::vector<float> dq = nans(q.size()), dk = nans(k.size()), dv = nans(v.size());
    cpu::attention_forward(y.data(), lse.data(), q.data(), k.data(), v.data(), c.B, c.Lq, c.Lk, c.D, c.Dv, scale);
    cpu::attention_backward(dq.data(), dk.data(), dv.data(), dy.data(), q.data(), k.data(), v.data(), y.data(),
                            lse.data(), c.B, c.Lq, c.Lk, c.D, c.Dv, scale);
    DeviceArray<float> dQ(q), dK(k), dV(v), dDY(dy), dY(nans(y.size())), dL(nans(lse.size()));
    DeviceArray<float> dDQ(nans(q.size())), dDK(nans(k.size())), dDV(nans(v.size()));
    cuda::attention_forward(dY.ptr, dL.ptr, dQ.ptr, dK.ptr, dV.ptr, c.B, c.Lq, c.Lk, c.D, c.Dv, scale);
    cuda::attention_backward(dDQ.ptr, dDK.ptr, dDV.ptr, dDY.ptr, dQ.ptr, dK.ptr, dV.ptr, dY.ptr, dL.ptr, c.B, c.Lq,
                             c.Lk, c.D, c.Dv, scale);
    const std::string name = "attention Lq=" + std::to_string(c.Lq) + " Lk=" + std::to_string(c.Lk);
    EXPECT_CLOSE(dY.host(), y, 1e-4, 1e-5, name + " out");
    EXPECT_CLOSE(dL.host(), lse, 1e-5, 1e-5, name + " lse");
    EXPECT_CLOSE(dDQ.host(), dq, 1e-4, 1e-4, name + " dq");
    EXPECT_CLOSE(dDK.host(), dk, 1e-4, 1e-4, name + " dk");
    EXPECT_CLOSE(dDV.host(), dv, 1e-4, 1e-4, name + " dv");
  }
}

TEST(upsample_nearest_matches) {
  if (!have_gpu()) return;
  const int64_t NC = 6, H = 5, W = 7;
  for (int64_t sh : {int64_t(1), int64_t(2), int64_t(3)}) {
    const int64_t sw = 2;
    std::vector<float> x = randn(NC * H * W), dy = randn(NC * H * sh * W * sw);
    std::vector<float> y = nans(dy.size()), dx = nans(x.size());
    cpu::upsample_nearest_forward(y.data(), x.data(), NC, H, W, sh, sw);
    cpu::upsample_nearest_backward(dx.data(), dy.data(), NC, H, W, sh, sw);
    DeviceArray<float> dX(x), dDY(dy), dY(nans(y.size())), dDX(nans(x.size()));
    cuda::upsample_nearest_forward(dY.ptr, dX.ptr, NC, H, W, sh, sw);
    cuda::upsample_nearest_backward(dDX.ptr, dDY.ptr, NC, H, W, sh, sw);
    EXPECT_EQUAL(dY.host(), y, "upsample forward");
    EXPECT_EQUAL(dDX.host(), dx, "upsample backward");
  }
}

TEST(embedding_and_index_range_match) {
  if (!have_gpu()) return;
  const int64_t V = 10, D = 33, n = 500;
  std::vector<int64_t> idx(n);
  for (int64_t i = 0; i < n; ++i) idx[i] = (i * 7) % V;  // every row hit many times
  idx[17] = 2;
  std::vector<float> w = randn(V * D), dy = randn(n * D), y = nans(n * D), dw = nans(V * D);
  cpu::embedding_forward(y.data(), idx.data(), w.data(), n, V, D);
  cpu::embedding_backward(dw.data(), dy.data(), idx.data(), n, V, D);
  DeviceArray<int64_t> dI(idx);
  DeviceArray<float> dWt(w), dDY(dy), dY(nans(n * D)), dDW(nans(V * D));
  cuda::embedding_forward(dY.ptr, dI.ptr, dWt.ptr, n, V, D);
  cuda::embedding_backward(dDW.ptr, dDY.ptr, dI.ptr, n, V, D);
  EXPECT_EQUAL(dY.host(), y, "embedding forward");
  EXPECT_CLOSE(dDW.host(), dw, 1e-5, 1e-5, "embedding backward");  // atomics add in any order
  std::vector<int64_t> signed_idx = {5, -3, 99, 0, 7};
  DeviceArray<int64_t> dS(signed_idx);
  int64_t mm[2] = {0, 0};
  cuda::index_range(mm, dS.ptr, 5);
  CHECK(mm[0] == -3 && mm[1] == 99);
}

TEST(philox_streams_match_the_cpu) {
  if (!have_gpu()) return;
  const int64_t n = 100003;
  const uint64_t seed = 0x1234abcd5678ull, offset = 977;
  std::vector<float> u(n), z(n), mask(n);
  std::vector<int64_t> r(n);
  cpu::philox_uniform(u.data(), n, seed, offset);
  cpu::philox_normal(z.data(), n, seed, offset);
  cpu::philox_randint(r.data(), n, -5, 1000, seed, offset);
  cpu::philox_dropout_mask(mask.data(), n, 0.3f, seed, offset);
  DeviceArray<float> dU(nans(n)), dZ(nans(n)), dM(nans(n));
  DeviceArray<int64_t> dR(std::vector<int64_t>(n, 0));
  cuda::philox_uniform(dU.ptr, n, seed, offset);
  cuda::philox_normal(dZ.ptr, n, seed, offset);
  cuda::philox_randint(dR.ptr, n, -5, 1000, seed, offset);
  cuda::philox_dropout_mask(dM.ptr, n, 0.3f, seed, offset);
  EXPECT_EQUAL(dU.host(), u, "philox_uniform");
  EXPECT_EQUAL(dR.host(), r, "philox_randint");
  EXPECT_EQUAL(dM.host(), mask, "philox_dropout_mask");
  // logf/sinf/cosf: CUDA's and glibc's may differ in the last bits
  EXPECT_CLOSE(dZ.host(), z, 1e-5, 1e-6, "philox_normal");
}

TEST(mse_forward_and_backward_match) {
  if (!have_gpu()) return;
  for (int64_t n : {int64_t(0), int64_t(1), int64_t(12345), int64_t(2000000)}) {
    std::vector<float> a = randn(n), b = randn(n);
    const float scale = n ? 1.0f / n : 1.0f;
    float loss = kNaN;
    cpu::mse_forward(&loss, a.data(), b.data(), n, scale);
    DeviceArray<float> dA(a), dB(b), dL(std::vector<float>{kNaN});
    cuda::mse_forward(dL.ptr, dA.ptr, dB.ptr, n, scale);
    EXPECT_CLOSE(dL.host(), std::vector<float>{loss}, 1e-6, 0.0, "mse_forward n=" + std::to_string(n));
    if (!n) continue;
    const float dloss = 0.37f;
    std::vector<float> da = nans(n), db = nans(n);
    cpu::mse_backward(da.data(), db.data(), &dloss, a.data(), b.data(), n, scale);
    DeviceArray<float> dDL(std::vector<float>{dloss}), dDA(nans(n)), dDB(nans(n)), dDA2(nans(n));
    cuda::mse_backward(dDA.ptr, dDB.ptr, dDL.ptr, dA.ptr, dB.ptr, n, scale);
    cuda::mse_backward(dDA2.ptr, nullptr, dDL.ptr, dA.ptr, dB.ptr, n, scale);
    EXPECT_CLOSE(dDA.host(), da, 1e-6, 0.0, "mse_backward da");
    EXPECT_CLOSE(dDB.host(), db, 1e-6, 0.0, "mse_backward db");
    EXPECT_CLOSE(dDA2.host(), da, 1e-6, 0.0, "mse_backward da without db");
  }
}

TEST(adam_step_matches_over_several_steps) {
  if (!have_gpu()) return;
  const int64_t n = 50001;
  for (int variant = 0; variant < 4; ++variant) {
    const bool decoupled = variant & 1, scaled = variant & 2;
    std::vector<float> p = randn(n), m(n, 0.0f), v(n, 0.0f);
    DeviceArray<float> dP(p), dM(m), dV(v);
    const float gs = 0.25f;
    DeviceArray<float> dGS(std::vector<float>{gs});
    for (int step = 1; step <= 5; ++step) {
      std::vector<float> g = randn(n);
      const float bc1 = 1.0f - std::pow(0.9f, step), bc2 = 1.0f - std::pow(0.999f, step);
      cpu::adam_step(p.data(), m.data(), v.data(), g.data(), n, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.1f, decoupled, bc1, bc2,
                     scaled ? &gs : nullptr);
      DeviceArray<float> dG(g);
      cuda::adam_step(dP.ptr, dM.ptr, dV.ptr, dG.ptr, n, 1e-2f, 0.9f, 0.999f, 1e-8f, 0.1f, decoupled, bc1, bc2,
                      scaled ? dGS.ptr : nullptr);
    }
    const std::string name = "adam decoupled=" + std::to_string(decoupled) + " scaled=" + std::to_string(scaled);
    EXPECT_CLOSE(dP.host(), p, 1e-5, 1e-6, name + " param");
    EXPECT_CLOSE(dM.host(), m, 1e-5, 1e-7, name + " m");
    EXPECT_CLOSE(dV.host(), v, 1e-5, 1e-9, name + " v");
  }
}

TEST(clip_by_norm_matches) {
  if (!have_gpu()) return;
  const int64_t n = 4000;
  for (float max_norm : {1.0f, 1e6f}) {  // clipping, and a no-op
    std::vector<float> x = randn(n);
    float sumsq = 0.0f;
    cpu::sum_squares(&sumsq, x.data(), n, false);
    std::vector<float> want = x;
    cpu::clip_by_norm(want.data(), n, &sumsq, max_norm);
    DeviceArray<float> dX(x), dS(std::vector<float>{sumsq});
    cuda::clip_by_norm(dX.ptr, n, dS.ptr, max_norm);
    EXPECT_CLOSE(dX.host(), want, 1e-6, 0.0, "clip_by_norm max_norm=" + std::to_string(max_norm));
  }
}

TEST(kernels_leave_no_memory_behind) {
  if (!have_gpu()) return;
  cuda::synchronize();
  CHECK(cuda::runtime_memory_stats().allocated == 0);  // every DeviceArray above was freed
}

#else

TEST(cuda_backend_not_built) { std::printf("(built without CUDA: CUDA kernel tests skipped)\n"); }

#endif
