// Tensor handles: creation, geometry, views sharing storage, host round trips, dtype errors.
#include <cstdint>

#include "check.h"
#include "core/allocator.h"
#include "ops/ops.h"

using namespace md;

TEST(empty_has_contiguous_strides) {
  Tensor t = empty({2, 3, 4});
  CHECK(t.numel() == 24);
  CHECK((t.strides() == Shape{12, 4, 1}));
  CHECK(t.is_contiguous());
}

TEST(host_round_trip) {
  std::vector<float> v{1, 2, 3, 4, 5, 6};
  Tensor t = from_host(v.data(), {2, 3}, DType::Float32);
  std::vector<float> back(6);
  to_host(t, back.data());
  CHECK(back == v);
}

TEST(transpose_is_a_view_and_copies_correctly) {
  std::vector<float> v{1, 2, 3, 4, 5, 6};
  Tensor t = from_host(v.data(), {2, 3}, DType::Float32);
  Tensor tt = transpose(t, 0, 1);
  CHECK(tt.storage() == t.storage());
  CHECK(!tt.is_contiguous());
  std::vector<float> back(6);
  to_host(tt, back.data());
  CHECK((back == std::vector<float>{1, 4, 2, 5, 3, 6}));
}

TEST(slice_with_step) {
  Tensor t = arange(0, 10, 1);
  Tensor s = slice(t, 0, 1, 9, 3);
  std::vector<float> back(s.numel());
  to_host(s, back.data());
  CHECK((back == std::vector<float>{1, 4, 7}));
}

TEST(float_accessor_rejects_int64) {
  Tensor t = zeros({3}, DType::Int64);
  CHECK_THROWS(t.f32(), TypeError);
}

TEST(bool_casts_copies_and_comparisons) {
  // a number is true where nonzero (NaN included); bool converts back to 0/1 in every dtype
  std::vector<float> v{0.0f, -0.0f, 2.5f, NAN, -1e-30f, 1.0f};
  Tensor f = from_host(v.data(), {2, 3}, DType::Float32);
  Tensor b = to_dtype(f, DType::Bool);
  CHECK(b.dtype() == DType::Bool && b.nbytes() == 6);
  std::vector<uint8_t> flags(6);
  to_host(b, flags.data());
  CHECK((flags == std::vector<uint8_t>{0, 0, 1, 1, 1, 1}));
  std::vector<int64_t> ints(6);
  to_host(to_dtype(b, DType::Int64), ints.data());
  CHECK((ints == std::vector<int64_t>{0, 0, 1, 1, 1, 1}));
  std::vector<float> back(6);
  to_host(to_dtype(to_dtype(b, DType::BFloat16), DType::Float32), back.data());
  CHECK((back == std::vector<float>{0, 0, 1, 1, 1, 1}));
  // one-byte elements through a strided copy (the transpose)
  to_host(contiguous(transpose(b, 0, 1)), flags.data());
  CHECK((flags == std::vector<uint8_t>{0, 1, 0, 1, 1, 1}));
  // comparisons give bool; a sum of bools counts in int64
  Tensor gt = compare(BinaryOp::Gt, f, 0.5, false);
  CHECK(gt.dtype() == DType::Bool);
  Tensor count = sum(gt, {}, false);
  CHECK(count.dtype() == DType::Int64);
  int64_t n = 0;
  to_host(count, &n);
  CHECK(n == 2);
  CHECK_THROWS(sub(gt, gt), TypeError);
}

TEST(negative_shape_is_a_value_error) { CHECK_THROWS(empty({2, -1}), ValueError); }

TEST(huge_shape_is_an_error_not_an_abort) {
  bool threw = false;
  try {
    empty({int64_t(1) << 40, int64_t(1) << 20});
  } catch (const std::exception&) {
    threw = true;
  }
  CHECK(threw);
}

TEST(cpu_alloc_alignment_small_and_huge_page_blocks) {
  // every block is 64-byte aligned; blocks of 2 MiB and more start on a 2 MiB boundary, so that
  // they can be backed by transparent huge pages
  for (size_t n : {size_t(1), size_t(1000), (size_t(2) << 20) - 4096, size_t(2) << 20, (size_t(9) << 20) + 123}) {
    void* p = md::cpu_alloc(n);
    CHECK(reinterpret_cast<uintptr_t>(p) % 64 == 0);
    if (n >= (size_t(2) << 20)) CHECK(reinterpret_cast<uintptr_t>(p) % (size_t(2) << 20) == 0);
    static_cast<char*>(p)[n - 1] = 1;  // the whole block is usable
    md::cpu_free(p, n);
  }
}

TEST(narrow_integer_casts_wrap_and_promote) {
  std::vector<int64_t> v{-129, -1, 0, 127, 128, 255, 256, 70000};
  Tensor t = from_host(v.data(), {8}, DType::Int64);
  std::vector<uint8_t> u(8);
  to_host(to_dtype(t, DType::UInt8), u.data());
  CHECK((u == std::vector<uint8_t>{127, 255, 0, 127, 128, 255, 0, 112}));
  std::vector<int8_t> s(8);
  to_host(to_dtype(t, DType::Int8), s.data());
  CHECK((s == std::vector<int8_t>{127, -1, 0, 127, -128, -1, 0, 112}));
  std::vector<int16_t> h(8);
  to_host(to_dtype(t, DType::Int16), h.data());
  CHECK(h[7] == 4464 && h[0] == -129);  // 70000 - 65536
  // back to int64 sign-extends (int8) and zero-extends (uint8)
  std::vector<int64_t> back(8);
  to_host(to_dtype(to_dtype(t, DType::Int8), DType::Int64), back.data());
  CHECK(back[1] == -1 && back[4] == -128);
  to_host(to_dtype(to_dtype(t, DType::UInt8), DType::Int64), back.data());
  CHECK(back[1] == 255 && back[4] == 128);
  // a narrow integer computes in int64 and wraps once: uint8 250 + 10 is 4
  Tensor a = full({2}, 250, DType::UInt8), b = full({2}, 10, DType::UInt8);
  Tensor c = add(a, b);
  CHECK(c.dtype() == DType::UInt8);
  to_host(c, u.data());
  CHECK(u[0] == 4 && u[1] == 4);
  CHECK(promote_types(DType::UInt8, DType::Int8) == DType::Int16);
  CHECK(promote_types(DType::Int32, DType::Float16) == DType::Float16);
  CHECK(result_dtype(full({3}, 1, DType::Int32), full({}, 1, DType::Int64)) == DType::Int32);
  CHECK(result_dtype(full({3}, 1, DType::Int32), full({}, 1, DType::Float32)) == DType::Float32);
  CHECK(sum(a).dtype() == DType::Int64);
  CHECK_THROWS(fill_(a, 256.0), ValueError);
}
