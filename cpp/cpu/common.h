// Helpers for the CPU kernels: OpenMP thresholds and a walker over strided index spaces.
#pragma once

#include <omp.h>

#include <cstdint>
#include <initializer_list>

#include "core/allocator.h"
#include "core/common.h"
#include "kernel_types.h"

// Helpers the vectorised loops rely on: a lambda body that is not inlined keeps its loop scalar.
#define MD_ALWAYS_INLINE __attribute__((always_inline)) inline

namespace md::cpu {

// Below this many elements a parallel region costs more than it saves.
constexpr int64_t kParallelGrain = 1 << 15;

// Inside a parallel region (conv2d over images, say) a kernel runs on the calling thread.
inline bool worth_parallel(int64_t n) { return n >= kParallelGrain && omp_get_max_threads() > 1 && !omp_in_parallel(); }

// BLAS takes 32-bit sizes. A kernel that calls gemm inside its own parallel region checks its
// sizes before entering it: an exception must not leave an OpenMP region (that aborts).
inline void check_blas_sizes(std::initializer_list<int64_t> sizes) {
  for (int64_t v : sizes)
    MD_CHECK(v <= INT32_MAX, ValueError, "gemm: a matrix size of ", v, " exceeds the 32-bit BLAS limit");
}

// Float scratch memory for one kernel call. It comes from the CPU allocator, whose cache hands the
// same large blocks back every training step, so a kernel pays no page faults for it.
class Scratch {
 public:
  explicit Scratch(int64_t n) : bytes_(static_cast<size_t>(n) * sizeof(float)) {
    if (bytes_) ptr_ = static_cast<float*>(cpu_alloc(bytes_));
  }
  ~Scratch() {
    if (ptr_) cpu_free(ptr_, bytes_);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  float* data() const { return ptr_; }

 private:
  size_t bytes_;
  float* ptr_ = nullptr;
};

// Calls body(outer_index, a_offset, b_offset) for every index of dims [0, ndim-1) of a plan-like
// geometry; the innermost dim is left to the body (it is the one that vectorises).
template <typename Body>
void for_each_row(int ndim, const int64_t* shape, const int64_t* sa, const int64_t* sb, int64_t row_begin,
                  int64_t row_end, Body body) {
  int64_t idx[kMaxDims] = {};
  // decompose row_begin into indices over dims [0, ndim-1)
  int64_t r = row_begin;
  for (int d = ndim - 2; d >= 0; --d) {
    idx[d] = r % shape[d];
    r /= shape[d];
  }
  int64_t oa = 0, ob = 0;
  for (int d = 0; d < ndim - 1; ++d) {
    oa += idx[d] * sa[d];
    ob += idx[d] * sb[d];
  }
  for (int64_t row = row_begin; row < row_end; ++row) {
    body(row, oa, ob);
    for (int d = ndim - 2; d >= 0; --d) {
      ++idx[d];
      oa += sa[d];
      ob += sb[d];
      if (idx[d] < shape[d]) break;
      oa -= idx[d] * sa[d];
      ob -= idx[d] * sb[d];
      idx[d] = 0;
    }
  }
}

// for_each_row over rows [0, rows), split evenly across the threads in one parallel region when
// `parallel` (the callers decide from the element count), else on the calling thread.
template <typename Body>
void for_each_row_split(bool parallel, int ndim, const int64_t* shape, const int64_t* sa, const int64_t* sb,
                        int64_t rows, Body body) {
  if (!parallel || rows < 2) {
    for_each_row(ndim, shape, sa, sb, 0, rows, body);
    return;
  }
#pragma omp parallel
  {
    const int nt = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t b = rows * t / nt, e = rows * (t + 1) / nt;
    if (b < e) for_each_row(ndim, shape, sa, sb, b, e, body);
  }
}

}  // namespace md::cpu
