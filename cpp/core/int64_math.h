// int64 elementwise arithmetic shared by the CPU and CUDA twins (binary_forward_i64 and
// scalar_forward_i64): + - * and ** wrap around on overflow as torch's do (computed in uint64_t, where
// overflow is defined, unlike signed overflow); comparisons give 1 or 0, written as a float32 mask.
#pragma once

#include <cstdint>
#include <type_traits>

#include "core/host_device.h"
#include "kernel_types.h"

namespace md {

template <BinaryOp op>
MD_HOST_DEVICE int64_t binary_i64(int64_t a, int64_t b) {
  const uint64_t ua = static_cast<uint64_t>(a), ub = static_cast<uint64_t>(b);
  if constexpr (op == BinaryOp::Add) return static_cast<int64_t>(ua + ub);
  if constexpr (op == BinaryOp::Sub) return static_cast<int64_t>(ua - ub);
  if constexpr (op == BinaryOp::Mul) return static_cast<int64_t>(ua * ub);
  if constexpr (op == BinaryOp::Pow) {
    // as torch's integer pow: a negative exponent gives 0 unless the base is 1 or -1
    if (b < 0) return a == 1 ? 1 : a == -1 ? ((b & 1) ? -1 : 1) : 0;
    uint64_t result = 1, base = ua;  // square and multiply, wrapping around as torch's
    for (uint64_t e = ub; e; e >>= 1) {
      if (e & 1) result *= base;
      base *= base;
    }
    return static_cast<int64_t>(result);
  }
  if constexpr (op == BinaryOp::Maximum) return a > b ? a : b;
  if constexpr (op == BinaryOp::Minimum) return a < b ? a : b;
  if constexpr (op == BinaryOp::Eq) return a == b;
  if constexpr (op == BinaryOp::Ne) return a != b;
  if constexpr (op == BinaryOp::Lt) return a < b;
  if constexpr (op == BinaryOp::Le) return a <= b;
  if constexpr (op == BinaryOp::Gt) return a > b;
  if constexpr (op == BinaryOp::Ge) return a >= b;
  return 0;
}

// The element type binary_i64's results are written as.
template <BinaryOp op>
using I64Out = std::conditional_t<is_comparison(op), float, int64_t>;

// The offsets into a and b of element i of plan's output (row-major over plan.shape), by 64-bit
// division: the general case of a broadcast, for any size.
MD_HOST_DEVICE void broadcast_offsets(const BroadcastPlan& p, int64_t i, int64_t& oa, int64_t& ob) {
  int64_t rest = i;
  oa = ob = 0;
  for (int d = p.ndim - 1; d >= 0; --d) {
    const int64_t idx = rest % p.shape[d];
    rest /= p.shape[d];
    oa += idx * p.a_strides[d];
    ob += idx * p.b_strides[d];
  }
}

}  // namespace md
