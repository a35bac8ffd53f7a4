// CPU selection (where), gather and index_select with their scatter-add adjoints, and the
// cumulative scans. The selection kernels move raw elements (uint16/32/64) of any dtype.
#include <algorithm>
#include <vector>

#include "core/elem_size.h"
#include "cpu/common.h"
#include "kernels.h"

namespace md::cpu {

void where_forward(void* out, const uint8_t* cond, const void* a, const void* b, int64_t n, size_t elem_size) {
  by_elem_size(elem_size, "where", [&](auto tag) {
    using T = decltype(tag);
    T* y = static_cast<T*>(out);
    const T* x0 = static_cast<const T*>(a);
    const T* x1 = static_cast<const T*>(b);
#pragma omp parallel for simd if (worth_parallel(n))
    for (int64_t i = 0; i < n; ++i) y[i] = cond[i] ? x0[i] : x1[i];
  });
}

void gather_forward(void* out, const void* inp, const int64_t* idx, int64_t O, int64_t R, int64_t Ri, int64_t I,
                    size_t elem_size) {
  by_elem_size(elem_size, "gather", [&](auto tag) {
    using T = decltype(tag);
    T* y = static_cast<T*>(out);
    const T* x = static_cast<const T*>(inp);
#pragma omp parallel for if (worth_parallel(O * Ri * I))
    for (int64_t o = 0; o < O; ++o)
      for (int64_t r = 0; r < Ri; ++r) {
        const int64_t* ix = idx + (o * Ri + r) * I;
        T* dst = y + (o * Ri + r) * I;
        const T* src = x + o * R * I;
        for (int64_t i = 0; i < I; ++i) dst[i] = src[ix[i] * I + i];
      }
  });
}

void gather_backward(float* dinp, const float* dout, const int64_t* idx, int64_t O, int64_t R, int64_t Ri, int64_t I) {
  fill_f32(dinp, 0.0f, O * R * I);
  // rows o are independent: parallel over them, serial inside (indices may repeat)
#pragma omp parallel for if (worth_parallel(O * Ri * I) && O > 1)
  for (int64_t o = 0; o < O; ++o)
    for (int64_t r = 0; r < Ri; ++r) {
      const int64_t* ix = idx + (o * Ri + r) * I;
      const float* g = dout + (o * Ri + r) * I;
      float* dst = dinp + o * R * I;
      for (int64_t i = 0; i < I; ++i) dst[ix[i] * I + i] += g[i];
    }
}

void index_select_forward(void* out, const void* inp, const int64_t* idx, int64_t O, int64_t R, int64_t n, int64_t I,
                          size_t elem_size) {
  by_elem_size(elem_size, "index_select", [&](auto tag) {
    using T = decltype(tag);
    T* y = static_cast<T*>(out);
    const T* x = static_cast<const T*>(inp);
#pragma omp parallel for collapse(2) if (worth_parallel(O * n * I))
    for (int64_t o = 0; o < O; ++o)
      for (int64_t j = 0; j < n; ++j) {
        const int64_t r = idx[j] < 0 ? idx[j] + R : idx[j];
        const T* src = x + (o * R + r) * I;
        T* dst = y + (o * n + j) * I;
        for (int64_t i = 0; i < I; ++i) dst[i] = src[i];
      }
  });
}

void index_select_backward(float* dinp, const float* dout, const int64_t* idx, int64_t O, int64_t R, int64_t n,
                           int64_t I) {
  fill_f32(dinp, 0.0f, O * R * I);
#pragma omp parallel for if (worth_parallel(O * n * I) && O > 1)
  for (int64_t o = 0; o < O; ++o)
    for (int64_t j = 0; j < n; ++j) {
      const int64_t r = idx[j] < 0 ? idx[j] + R : idx[j];
      float* dst = dinp + (o * R + r) * I;
      const float* g = dout + (o * n + j) * I;
#pragma omp simd
      for (int64_t i = 0; i < I; ++i) dst[i] += g[i];
    }
}

// The scans walk R serially; the (O, I) columns are split into tasks of up to kColumns adjacent
// columns of one o, so a scan along dim 0 (O = 1) still runs on every thread and each step reads
// contiguous memory.
namespace {
constexpr int64_t kColumns = 256;
}  // namespace

void cumulative(float* out, const float* inp, int64_t O, int64_t R, int64_t I, bool product, bool reverse) {
  const int64_t chunks = (I + kColumns - 1) / kColumns, tasks = O * chunks;
  // running values in double, as torch's CPU kernels; allocated here, outside the parallel region
  std::vector<double> acc(static_cast<size_t>(std::min(tasks, int64_t{omp_get_max_threads()}) * kColumns));
#pragma omp parallel for if (worth_parallel(O * R * I) && tasks > 1)
  for (int64_t task = 0; task < tasks; ++task) {
    const int64_t o = task / chunks, i0 = (task % chunks) * kColumns, w = std::min(kColumns, I - i0);
    double* a = acc.data() + (omp_in_parallel() ? omp_get_thread_num() : 0) * kColumns;
    for (int64_t i = 0; i < w; ++i) a[i] = product ? 1.0 : 0.0;
    for (int64_t step = 0; step < R; ++step) {
      const int64_t r = reverse ? R - 1 - step : step;
      const float* x = inp + (o * R + r) * I + i0;
      float* y = out + (o * R + r) * I + i0;
      for (int64_t i = 0; i < w; ++i) {
        a[i] = product ? a[i] * x[i] : a[i] + x[i];
        y[i] = static_cast<float>(a[i]);
      }
    }
  }
}

void cumprod_backward(float* dinp, const float* dout, const float* inp, int64_t O, int64_t R, int64_t I) {
  const int64_t chunks = (I + kColumns - 1) / kColumns, tasks = O * chunks;
  // s (R, kColumns) per thread, in double
  const int64_t per_thread = R * kColumns;
  std::vector<double> scratch(static_cast<size_t>(std::min(tasks, int64_t{omp_get_max_threads()}) * per_thread));
#pragma omp parallel for if (worth_parallel(O * R * I) && tasks > 1)
  for (int64_t task = 0; task < tasks; ++task) {
    const int64_t o = task / chunks, i0 = (task % chunks) * kColumns, w = std::min(kColumns, I - i0);
    double* s = scratch.data() + (omp_in_parallel() ? omp_get_thread_num() : 0) * per_thread;
    const float* x = inp + o * R * I + i0;
    const float* g = dout + o * R * I + i0;
    float* dx = dinp + o * R * I + i0;
    // s from the end, then dx[k] = s[k] * prod(x[:k]) from the front
    for (int64_t r = R - 1; r >= 0; --r)
      for (int64_t i = 0; i < w; ++i)
        s[r * kColumns + i] =
            g[r * I + i] + (r + 1 < R ? static_cast<double>(x[(r + 1) * I + i]) * s[(r + 1) * kColumns + i] : 0.0);
    double prefix[kColumns];
    for (int64_t i = 0; i < w; ++i) prefix[i] = 1.0;
    for (int64_t r = 0; r < R; ++r)
      for (int64_t i = 0; i < w; ++i) {
        dx[r * I + i] = static_cast<float>(s[r * kColumns + i] * prefix[i]);
        prefix[i] *= x[r * I + i];
      }
  }
}

}  // namespace md::cpu
