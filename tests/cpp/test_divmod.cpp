// The CUDA kernels' index division (cuda/divmod.h) against the `/` and `%` operators: every
// divisor up to 4096, every power of two and its neighbours, and random large divisors, each over
// small dividends, the dividends around many multiples of the divisor, and the top of the range.
// The header is plain C++ off the GPU, so this runs on any machine.
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "check.h"
#include "cuda/divmod.h"

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
