// CPU reductions over an (O, R, I) view. Sums accumulate in double so that results do not depend
// on the reduction length's rounding, which keeps finite-difference checks meaningful.
#include <cmath>
#include <limits>
#include <vector>

#include "cpu/common.h"
#include "kernels.h"

namespace md::cpu {

void reduce_sum(float* out, const float* inp, int64_t O, int64_t R, int64_t I) {
  if (I == 1) {
    if (O >= 2 * omp_get_max_threads() || !worth_parallel(O * R)) {
#pragma omp parallel for if (worth_parallel(O * R)) schedule(static)
      for (int64_t o = 0; o < O; ++o) {
        const float* x = inp + o * R;
        double acc = 0.0;
#pragma omp simd reduction(+ : acc)
        for (int64_t r = 0; r < R; ++r) acc += x[r];
        out[o] = static_cast<float>(acc);
      }
    } else {  // few long rows: split each row across threads
      for (int64_t o = 0; o < O; ++o) {
        const float* x = inp + o * R;
        double acc = 0.0;
#pragma omp parallel for simd reduction(+ : acc) schedule(static)
        for (int64_t r = 0; r < R; ++r) acc += x[r];
        out[o] = static_cast<float>(acc);
      }
    }
    return;
  }
  // Rows of I contiguous values: accumulate them per (o, block of i).
  const int64_t kBlock = 1024;
  const int64_t nblocks = (I + kBlock - 1) / kBlock;
#pragma omp parallel for collapse(2) if (worth_parallel(O * R * I)) schedule(static)
  for (int64_t o = 0; o < O; ++o) {
    for (int64_t blk = 0; blk < nblocks; ++blk) {
      const int64_t i0 = blk * kBlock, i1 = std::min(I, i0 + kBlock);
      double acc[kBlock];
      for (int64_t i = i0; i < i1; ++i) acc[i - i0] = 0.0;
      for (int64_t r = 0; r < R; ++r) {
        const float* x = inp + (o * R + r) * I;
#pragma omp simd
        for (int64_t i = i0; i < i1; ++i) acc[i - i0] += x[i];
      }
      for (int64_t i = i0; i < i1; ++i) out[o * I + i] = static_cast<float>(acc[i - i0]);
    }
  }
}

void reduce_max(float* out, int64_t* argmax, const float* inp, int64_t O, int64_t R, int64_t I) {
#pragma omp parallel for collapse(2) if (worth_parallel(O * R * I)) schedule(static)
  for (int64_t o = 0; o < O; ++o) {
    for (int64_t i = 0; i < I; ++i) {
      const float* x = inp + o * R * I + i;
      float best = x[0];
      int64_t at = 0;
      for (int64_t r = 1; r < R; ++r) {
        const float v = x[r * I];
        if (v > best || (std::isnan(v) && !std::isnan(best))) {
          best = v;
          at = r;
        }
      }
      out[o * I + i] = best;
      argmax[o * I + i] = at;
    }
  }
}

void reduce_max_backward(float* dinp, const float* dout, const int64_t* argmax, int64_t O, int64_t R, int64_t I) {
  fill_f32(dinp, 0.0f, O * R * I);
  for (int64_t o = 0; o < O; ++o)
    for (int64_t i = 0; i < I; ++i) dinp[(o * R + argmax[o * I + i]) * I + i] = dout[o * I + i];
}

// ---- int64: uint64_t arithmetic, so that overflow wraps around (signed overflow is undefined)

void reduce_sum_i64(int64_t* out, const int64_t* inp, int64_t O, int64_t R, int64_t I) {
#pragma omp parallel for collapse(2) if (worth_parallel(O * R * I)) schedule(static)
  for (int64_t o = 0; o < O; ++o)
    for (int64_t i = 0; i < I; ++i) {
      uint64_t acc = 0;
      for (int64_t r = 0; r < R; ++r) acc += static_cast<uint64_t>(inp[(o * R + r) * I + i]);
      out[o * I + i] = static_cast<int64_t>(acc);
    }
}

void reduce_max_i64(int64_t* out, int64_t* argmax, const int64_t* inp, int64_t O, int64_t R, int64_t I) {
#pragma omp parallel for collapse(2) if (worth_parallel(O * R * I)) schedule(static)
  for (int64_t o = 0; o < O; ++o)
    for (int64_t i = 0; i < I; ++i) {
      const int64_t* x = inp + o * R * I + i;
      int64_t best = x[0], at = 0;
      for (int64_t r = 1; r < R; ++r)
        if (x[r * I] > best) {
          best = x[r * I];
          at = r;
        }
      out[o * I + i] = best;
      argmax[o * I + i] = at;
    }
}

void cumulative_i64(int64_t* out, const int64_t* inp, int64_t O, int64_t R, int64_t I, bool product) {
#pragma omp parallel for collapse(2) if (worth_parallel(O * R * I)) schedule(static)
  for (int64_t o = 0; o < O; ++o)
    for (int64_t i = 0; i < I; ++i) {
      uint64_t acc = product ? 1 : 0;
      for (int64_t r = 0; r < R; ++r) {
        const uint64_t v = static_cast<uint64_t>(inp[(o * R + r) * I + i]);
        acc = product ? acc * v : acc + v;
        out[(o * R + r) * I + i] = static_cast<int64_t>(acc);
      }
    }
}

void sum_squares(float* out, const float* x, int64_t n, bool accumulate) {
  double acc = 0.0;
#pragma omp parallel for simd reduction(+ : acc) if (worth_parallel(n)) schedule(static)
  for (int64_t i = 0; i < n; ++i) acc += static_cast<double>(x[i]) * x[i];
  out[0] = static_cast<float>(accumulate ? out[0] + acc : acc);
}

}  // namespace md::cpu
