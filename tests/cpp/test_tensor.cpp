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
