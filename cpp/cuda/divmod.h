// Division of unsigned 32-bit indices by a divisor fixed at launch, as one multiply-high, an add
// and a shift (the round-up method of Granlund and Montgomery, "Division by invariant integers
// using multiplication", 1994). Kernels that split a flat index into coordinates use it instead
// of `/` and `%`: on the GPU a 64-bit division is a long subroutine and a 32-bit one still takes
// about twenty instructions. Plain C++ as well as CUDA, so the CPU tests check it exhaustively
// around every boundary (tests/cpp/test_divmod.cpp).
#pragma once

#include <cstdint>

#include "core/host_device.h"
#include "kernel_types.h"

namespace md::cuda {

class Divmod {
 public:
  Divmod() = default;
  // d >= 1
  explicit Divmod(uint32_t d) : d_(d) {
    while ((uint64_t(1) << shift_) < d) ++shift_;  // shift = ceil(log2 d)
    // m = floor(2^32 * (2^shift - d) / d) + 1, which is below 2^32 because 2^shift - d < d
    mul_ = static_cast<uint32_t>(((uint64_t(1) << 32) * ((uint64_t(1) << shift_) - d)) / d + 1);
  }

  MD_HOST_DEVICE uint32_t divisor() const { return d_; }

  // n / d for every 32-bit n (the add is done in 64 bits, so it cannot overflow)
  MD_HOST_DEVICE uint32_t div(uint32_t n) const {
    return static_cast<uint32_t>((static_cast<uint64_t>(mulhi(n, mul_)) + n) >> shift_);
  }

  // q = n / d and r = n % d
  MD_HOST_DEVICE void divmod(uint32_t n, uint32_t& q, uint32_t& r) const {
    q = div(n);
    r = n - q * d_;
  }

 private:
  MD_HOST_DEVICE static uint32_t mulhi(uint32_t a, uint32_t b) {
#if defined(__CUDA_ARCH__)
    return __umulhi(a, b);
#else
    return static_cast<uint32_t>((static_cast<uint64_t>(a) * b) >> 32);
#endif
  }

  uint32_t d_ = 1, mul_ = 1, shift_ = 0;
};

// Flat row-major indices over shape[0..ndim) turned into offsets into two operands with their own
// strides: the index split of strided copies and of broadcasting binary ops, for launches of
// fewer than 2^32 elements.
struct FlatIndex2 {
  int ndim = 0;
  Divmod shape[kMaxDims];
  int64_t stride0[kMaxDims] = {}, stride1[kMaxDims] = {};

  FlatIndex2(int nd, const int64_t* sh, const int64_t* s0, const int64_t* s1) : ndim(nd) {
    for (int d = 0; d < nd; ++d) {
      shape[d] = Divmod(static_cast<uint32_t>(sh[d] > 0 ? sh[d] : 1));
      stride0[d] = s0[d];
      stride1[d] = s1[d];
    }
  }

  MD_HOST_DEVICE void offsets(uint32_t i, int64_t& o0, int64_t& o1) const {
    o0 = 0;
    o1 = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      uint32_t q, r;
      shape[d].divmod(i, q, r);
      i = q;
      o0 += static_cast<int64_t>(r) * stride0[d];
      o1 += static_cast<int64_t>(r) * stride1[d];
    }
  }
};

}  // namespace md::cuda
