// CUDA selection (where), gather and its scatter-add adjoint (atomicAdd: indices may repeat), and
// the cumulative scans: one thread per (o, i) column walking R, so neighbouring threads read
// neighbouring addresses.
#include "cuda/common.cuh"

namespace md::cuda {

namespace {

// ---- kernels

__global__ void where_kernel(float* out, const float* cond, const float* a, const float* b, int64_t n) {
  MD_GRID_STRIDE(i, n) out[i] = cond[i] != 0.0f ? a[i] : b[i];
}

// t runs over (O, Ri, I)
__global__ void gather_forward_kernel(float* out, const float* inp, const int64_t* idx, int64_t R, int64_t Ri,
                                      int64_t I, int64_t n) {
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

// t runs over the O * I columns
__global__ void cumulative_kernel(float* out, const float* inp, int64_t R, int64_t I, int64_t n, bool product,
                                  bool reverse) {
  MD_GRID_STRIDE(t, n) {
    const int64_t o = t / I, i = t % I;
    const float* x = inp + o * R * I + i;
    float* y = out + o * R * I + i;
    float acc = product ? 1.0f : 0.0f;
    for (int64_t step = 0; step < R; ++step) {
      const int64_t r = reverse ? R - 1 - step : step;
      acc = product ? acc * x[r * I] : acc + x[r * I];
      y[r * I] = acc;
    }
  }
}

__global__ void cumprod_backward_kernel(float* dinp, const float* dout, const float* inp, int64_t R, int64_t I,
                                        int64_t n) {
  MD_GRID_STRIDE(t, n) {
    const int64_t o = t / I, i = t % I;
    const float* x = inp + o * R * I + i;
    const float* g = dout + o * R * I + i;
    float* dx = dinp + o * R * I + i;
    float s = 0.0f;
    for (int64_t r = R - 1; r >= 0; --r) {
      s = g[r * I] + (r + 1 < R ? x[(r + 1) * I] * s : 0.0f);
      dx[r * I] = s;
    }
    float prefix = 1.0f;
    for (int64_t r = 0; r < R; ++r) {
      dx[r * I] *= prefix;
      prefix *= x[r * I];
    }
  }
}

}  // namespace

// ---- launchers

void where_forward(float* out, const float* cond, const float* a, const float* b, int64_t n) {
  if (n <= 0) return;
  where_kernel<<<grid_for(n), kThreads, 0, stream()>>>(out, cond, a, b, n);
  MD_CUDA_LAUNCHED("where_forward");
}

void gather_forward(float* out, const float* inp, const int64_t* idx, int64_t O, int64_t R, int64_t Ri, int64_t I) {
  const int64_t n = O * Ri * I;
  if (n <= 0) return;
  gather_forward_kernel<<<grid_for(n), kThreads, 0, stream()>>>(out, inp, idx, R, Ri, I, n);
  MD_CUDA_LAUNCHED("gather_forward");
}

void gather_backward(float* dinp, const float* dout, const int64_t* idx, int64_t O, int64_t R, int64_t Ri, int64_t I) {
  fill_f32(dinp, 0.0f, O * R * I);
  const int64_t n = O * Ri * I;
  if (n <= 0) return;
  gather_backward_kernel<<<grid_for(n), kThreads, 0, stream()>>>(dinp, dout, idx, R, Ri, I, n);
  MD_CUDA_LAUNCHED("gather_backward");
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
  cumprod_backward_kernel<<<grid_for(n), kThreads, 0, stream()>>>(dinp, dout, inp, R, I, n);
  MD_CUDA_LAUNCHED("cumprod_backward");
}

}  // namespace md::cuda
