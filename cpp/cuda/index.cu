// CUDA selection (where), gather and index_select with their scatter-add adjoints (atomicAdd:
// indices may repeat), and the cumulative scans: one thread per (o, i) column walking R, so
// neighbouring threads read neighbouring addresses (a long scan of few columns is slow: fine for
// schedules, not meant for big tensors). The selection kernels move raw elements
// (uint16/32/64) of any dtype.
#include "core/elem_size.h"
#include "cuda/common.cuh"

namespace md::cuda {

namespace {

// ---- kernels

template <typename T>
__global__ void where_kernel(T* out, const uint8_t* cond, const T* a, const T* b, int64_t n) {
  MD_GRID_STRIDE(i, n) out[i] = cond[i] ? a[i] : b[i];
}

// t runs over (O, Ri, I)
template <typename T>
__global__ void gather_forward_kernel(T* out, const T* inp, const int64_t* idx, int64_t R, int64_t Ri, int64_t I,
                                      int64_t n) {
  MD_GRID_STRIDE(t, n) {
    const int64_t i = t % I, o = t / (Ri * I);
    out[t] = inp[(o * R + idx[t]) * I + i];
  }
}

__global__ void gather_backward_kernel(float* dinp, const float* dout, const int64_t* idx, int64_t R, int64_t Ri,
                                       int64_t I, int64_t n) {
  MD_GRID_STRIDE(t, n) {
    const int64_t i = t % I, o = t / (Ri * I);
    atomicAdd(dinp + (o * R + idx[t]) * I + i, dout[t]);
  }
}

// t runs over (O, n, I); idx (n), negative entries counting from the end
template <typename T>
__global__ void index_select_forward_kernel(T* out, const T* inp, const int64_t* idx, int64_t R, int64_t n, int64_t I,
                                            int64_t total) {
  MD_GRID_STRIDE(t, total) {
    const int64_t i = t % I, j = (t / I) % n, o = t / (n * I);
    const int64_t r = idx[j] < 0 ? idx[j] + R : idx[j];
    out[t] = inp[(o * R + r) * I + i];
  }
}

__global__ void index_select_backward_kernel(float* dinp, const float* dout, const int64_t* idx, int64_t R, int64_t n,
                                             int64_t I, int64_t total) {
  MD_GRID_STRIDE(t, total) {
    const int64_t i = t % I, j = (t / I) % n, o = t / (n * I);
    const int64_t r = idx[j] < 0 ? idx[j] + R : idx[j];
    atomicAdd(dinp + (o * R + r) * I + i, dout[t]);
  }
}

// t runs over the O * I columns; accumulates in double, as the CPU kernel
__global__ void cumulative_kernel(float* out, const float* inp, int64_t R, int64_t I, int64_t n, bool product,
                                  bool reverse) {
  MD_GRID_STRIDE(t, n) {
    const int64_t o = t / I, i = t % I;
    const float* x = inp + o * R * I + i;
    float* y = out + o * R * I + i;
    double acc = product ? 1.0 : 0.0;
    for (int64_t step = 0; step < R; ++step) {
      const int64_t r = reverse ? R - 1 - step : step;
      acc = product ? acc * x[r * I] : acc + x[r * I];
      y[r * I] = static_cast<float>(acc);
    }
  }
}

// s (O, R, I) lives in double scratch between the two passes, as on the CPU
__global__ void cumprod_backward_kernel(float* dinp, double* s_all, const float* dout, const float* inp, int64_t R,
                                        int64_t I, int64_t n) {
  MD_GRID_STRIDE(t, n) {
    const int64_t o = t / I, i = t % I;
    const float* x = inp + o * R * I + i;
    const float* g = dout + o * R * I + i;
    float* dx = dinp + o * R * I + i;
    double* s = s_all + o * R * I + i;
    for (int64_t r = R - 1; r >= 0; --r)
      s[r * I] = g[r * I] + (r + 1 < R ? static_cast<double>(x[(r + 1) * I]) * s[(r + 1) * I] : 0.0);
    double prefix = 1.0;
    for (int64_t r = 0; r < R; ++r) {
      dx[r * I] = static_cast<float>(s[r * I] * prefix);
      prefix *= x[r * I];
    }
  }
}

}  // namespace

// ---- launchers

void where_forward(void* out, const uint8_t* cond, const void* a, const void* b, int64_t n, size_t elem_size) {
  if (n <= 0) return;
  by_elem_size(elem_size, "where", [&](auto tag) {
    using T = decltype(tag);
    where_kernel<T><<<grid_for(n), kThreads, 0, stream()>>>(static_cast<T*>(out), cond, static_cast<const T*>(a),
                                                            static_cast<const T*>(b), n);
  });
  MD_CUDA_LAUNCHED("where_forward");
}

void gather_forward(void* out, const void* inp, const int64_t* idx, int64_t O, int64_t R, int64_t Ri, int64_t I,
                    size_t elem_size) {
  const int64_t n = O * Ri * I;
  if (n <= 0) return;
  by_elem_size(elem_size, "gather", [&](auto tag) {
    using T = decltype(tag);
    gather_forward_kernel<T>
        <<<grid_for(n), kThreads, 0, stream()>>>(static_cast<T*>(out), static_cast<const T*>(inp), idx, R, Ri, I, n);
  });
  MD_CUDA_LAUNCHED("gather_forward");
}

void gather_backward(float* dinp, const float* dout, const int64_t* idx, int64_t O, int64_t R, int64_t Ri, int64_t I) {
  fill_f32(dinp, 0.0f, O * R * I);
  const int64_t n = O * Ri * I;
  if (n <= 0) return;
  gather_backward_kernel<<<grid_for(n), kThreads, 0, stream()>>>(dinp, dout, idx, R, Ri, I, n);
  MD_CUDA_LAUNCHED("gather_backward");
}

void index_select_forward(void* out, const void* inp, const int64_t* idx, int64_t O, int64_t R, int64_t n, int64_t I,
                          size_t elem_size) {
  const int64_t total = O * n * I;
  if (total <= 0) return;
  by_elem_size(elem_size, "index_select", [&](auto tag) {
    using T = decltype(tag);
    index_select_forward_kernel<T><<<grid_for(total), kThreads, 0, stream()>>>(
        static_cast<T*>(out), static_cast<const T*>(inp), idx, R, n, I, total);
  });
  MD_CUDA_LAUNCHED("index_select_forward");
}

void index_select_backward(float* dinp, const float* dout, const int64_t* idx, int64_t O, int64_t R, int64_t n,
                           int64_t I) {
  fill_f32(dinp, 0.0f, O * R * I);
  const int64_t total = O * n * I;
  if (total <= 0) return;
  index_select_backward_kernel<<<grid_for(total), kThreads, 0, stream()>>>(dinp, dout, idx, R, n, I, total);
  MD_CUDA_LAUNCHED("index_select_backward");
}

void cumulative(float* out, const float* inp, int64_t O, int64_t R, int64_t I, bool product, bool reverse) {
  const int64_t n = O * I;
  if (n <= 0 || R <= 0) return;
  cumulative_kernel<<<grid_for(n), kThreads, 0, stream()>>>(out, inp, R, I, n, product, reverse);
  MD_CUDA_LAUNCHED("cumulative");
}

void cumprod_backward(float* dinp, const float* dout, const float* inp, int64_t O, int64_t R, int64_t I) {
  const int64_t n = O * I;
  if (n <= 0 || R <= 0) return;
  // stream-ordered: the allocator hands the block out again only to work queued after this kernel
  const size_t bytes = static_cast<size_t>(O * R * I) * sizeof(double);
  double* s = static_cast<double*>(device_alloc(bytes));
  cumprod_backward_kernel<<<grid_for(n), kThreads, 0, stream()>>>(dinp, s, dout, inp, R, I, n);
  device_free(s, bytes);
  MD_CUDA_LAUNCHED("cumprod_backward");
}

}  // namespace md::cuda
