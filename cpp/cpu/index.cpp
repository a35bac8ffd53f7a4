// CPU selection (where), gather and its scatter-add adjoint, and the cumulative scans.
#include "cpu/common.h"
#include "kernels.h"

namespace md::cpu {

void where_forward(float* out, const float* cond, const float* a, const float* b, int64_t n) {
#pragma omp parallel for simd if (worth_parallel(n))
  for (int64_t i = 0; i < n; ++i) out[i] = cond[i] != 0.0f ? a[i] : b[i];
}

void gather_forward(float* out, const float* inp, const int64_t* idx, int64_t O, int64_t R, int64_t Ri, int64_t I) {
#pragma omp parallel for if (worth_parallel(O * Ri * I))
  for (int64_t o = 0; o < O; ++o)
    for (int64_t r = 0; r < Ri; ++r) {
      const int64_t* ix = idx + (o * Ri + r) * I;
      float* dst = out + (o * Ri + r) * I;
      const float* src = inp + o * R * I;
      for (int64_t i = 0; i < I; ++i) dst[i] = src[ix[i] * I + i];
    }
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

void cumulative(float* out, const float* inp, int64_t O, int64_t R, int64_t I, bool product, bool reverse) {
#pragma omp parallel for if (worth_parallel(O * R * I) && O > 1)
  for (int64_t o = 0; o < O; ++o) {
    const float* x = inp + o * R * I;
    float* y = out + o * R * I;
    for (int64_t step = 0; step < R; ++step) {
      const int64_t r = reverse ? R - 1 - step : step;
      float* row = y + r * I;
      const float* xr = x + r * I;
      if (step == 0) {
        for (int64_t i = 0; i < I; ++i) row[i] = xr[i];
        continue;
      }
      const float* prev = y + (reverse ? r + 1 : r - 1) * I;
      if (product)
        for (int64_t i = 0; i < I; ++i) row[i] = prev[i] * xr[i];
      else
        for (int64_t i = 0; i < I; ++i) row[i] = prev[i] + xr[i];
    }
  }
}

void cumprod_backward(float* dinp, const float* dout, const float* inp, int64_t O, int64_t R, int64_t I) {
#pragma omp parallel for if (worth_parallel(O * R * I) && O > 1)
  for (int64_t o = 0; o < O; ++o) {
    const float* x = inp + o * R * I;
    const float* g = dout + o * R * I;
    float* dx = dinp + o * R * I;
    // s, from the end, is kept in dx; then dx[k] = s[k] * prod(x[:k]) from the front
    for (int64_t r = R - 1; r >= 0; --r)
      for (int64_t i = 0; i < I; ++i)
        dx[r * I + i] = g[r * I + i] + (r + 1 < R ? x[(r + 1) * I + i] * dx[(r + 1) * I + i] : 0.0f);
    for (int64_t i = 0; i < I; ++i) {
      float prefix = 1.0f;
      for (int64_t r = 0; r < R; ++r) {
        dx[r * I + i] *= prefix;
        prefix *= x[r * I + i];
      }
    }
  }
}

}  // namespace md::cpu
