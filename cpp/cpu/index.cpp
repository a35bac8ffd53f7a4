// CPU selection (where), gather and index_select with their scatter-add adjoints, and the
// cumulative scans. The selection kernels move raw elements (uint16/32/64) of any dtype.
#include <vector>

#include "cpu/common.h"
#include "kernels.h"

namespace md::cpu {

namespace {

// Calls body(T{}) with T the unsigned integer type of elem_size bytes.
template <typename Body>
void by_elem_size(size_t elem_size, const char* kernel, Body body) {
  switch (elem_size) {
    case 2:
      return body(uint16_t{});
    case 4:
      return body(uint32_t{});
    case 8:
      return body(uint64_t{});
    default:
      throw ValueError(str(kernel, ": unsupported element size ", elem_size));
  }
}

}  // namespace

void where_forward(void* out, const float* cond, const void* a, const void* b, int64_t n, size_t elem_size) {
  by_elem_size(elem_size, "where", [&](auto tag) {
    using T = decltype(tag);
    T* y = static_cast<T*>(out);
    const T* x0 = static_cast<const T*>(a);
    const T* x1 = static_cast<const T*>(b);
#pragma omp parallel for simd if (worth_parallel(n))
    for (int64_t i = 0; i < n; ++i) y[i] = cond[i] != 0.0f ? x0[i] : x1[i];
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

void cumulative(float* out, const float* inp, int64_t O, int64_t R, int64_t I, bool product, bool reverse) {
#pragma omp parallel for if (worth_parallel(O * R * I) && O > 1)
  for (int64_t o = 0; o < O; ++o) {
    const float* x = inp + o * R * I;
    float* y = out + o * R * I;
    std::vector<double> acc(static_cast<size_t>(I), product ? 1.0 : 0.0);
    for (int64_t step = 0; step < R; ++step) {
      const int64_t r = reverse ? R - 1 - step : step;
      for (int64_t i = 0; i < I; ++i) {
        acc[i] = product ? acc[i] * x[r * I + i] : acc[i] + x[r * I + i];
        y[r * I + i] = static_cast<float>(acc[i]);
      }
    }
  }
}

void cumprod_backward(float* dinp, const float* dout, const float* inp, int64_t O, int64_t R, int64_t I) {
#pragma omp parallel for if (worth_parallel(O * R * I) && O > 1)
  for (int64_t o = 0; o < O; ++o) {
    const float* x = inp + o * R * I;
    const float* g = dout + o * R * I;
    float* dx = dinp + o * R * I;
    std::vector<double> s(static_cast<size_t>(R));
    for (int64_t i = 0; i < I; ++i) {
      // s from the end, then dx[k] = s[k] * prod(x[:k]) from the front
      for (int64_t r = R - 1; r >= 0; --r)
        s[r] = g[r * I + i] + (r + 1 < R ? static_cast<double>(x[(r + 1) * I + i]) * s[r + 1] : 0.0);
      double prefix = 1.0;
      for (int64_t r = 0; r < R; ++r) {
        dx[r * I + i] = static_cast<float>(s[r] * prefix);
        prefix *= x[r * I + i];
      }
    }
  }
}

}  // namespace md::cpu
