// CUDA reductions over an (O, R, I) view. As on the CPU, sums accumulate in double (cheap next
// to the memory traffic) so that results do not depend on the order the threads add in. Full
// reductions (sum of squares) go through per-block partials and a one-block finish: no atomics,
// so they are deterministic.
#include <cmath>

#include "cuda/common.cuh"

namespace md::cuda {

// ---- kernels

namespace {

// I == 1, many rows: one warp per row o of inp (O, R).
__global__ void sum_rows_warp_kernel(float* out, const float* inp, int64_t O, int64_t R) {
  const int64_t warps_per_block = blockDim.x / 32;
  const int lane = threadIdx.x & 31;
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * warps_per_block + threadIdx.x / 32; o < O;
       o += static_cast<int64_t>(gridDim.x) * warps_per_block) {
    const float* x = inp + o * R;
    double acc = 0.0;
    for (int64_t r = lane; r < R; r += 32) acc += x[r];
    acc = warp_sum(acc);
    if (lane == 0) out[o] = static_cast<float>(acc);
  }
}

// I == 1, few long rows: one block per row.
__global__ void sum_rows_block_kernel(float* out, const float* inp, int64_t R) {
  const float* x = inp + static_cast<int64_t>(blockIdx.x) * R;
  double acc = 0.0;
  for (int64_t r = threadIdx.x; r < R; r += blockDim.x) acc += x[r];
  acc = block_sum(acc);
  if (threadIdx.x == 0) out[blockIdx.x] = static_cast<float>(acc);
}

// I > 1: block (32, 16) covers 32 consecutive i of one o; the 16 rows of threads split R.
constexpr int kColsX = 32, kColsY = 16;
__global__ void sum_cols_kernel(float* out, const float* inp, int64_t R, int64_t I) {
  __shared__ double part[kColsY][kColsX];
  const int64_t o = blockIdx.y;
  const int64_t i = static_cast<int64_t>(blockIdx.x) * kColsX + threadIdx.x;
  double acc = 0.0;
  if (i < I)
    for (int64_t r = threadIdx.y; r < R; r += kColsY) acc += inp[(o * R + r) * I + i];
  part[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && i < I) {
    double s = 0.0;
    for (int y = 0; y < kColsY; ++y) s += part[y][threadIdx.x];
    out[o * I + i] = static_cast<float>(s);
  }
}

// The CPU twin's rule, as a pair combine: NaN wins (the first NaN), else the larger value, and
// between equal values (or two NaNs) the smaller index.
__device__ __forceinline__ void max_combine(float& best, int64_t& at, float v, int64_t r) {
  const bool bn = isnan(best), vn = isnan(v);
  bool take;
  if (bn || vn)
    take = vn && (!bn || r < at);
  else
    take = v > best || (v == best && r < at);
  if (take) {
    best = v;
    at = r;
  }
}

// I == 1: one block per row o of inp (O, R).
__global__ void max_rows_kernel(float* out, int64_t* argmax, const float* inp, int64_t R) {
  __shared__ float best_s[kThreads];
  __shared__ int64_t at_s[kThreads];
  const float* x = inp + static_cast<int64_t>(blockIdx.x) * R;
  float best = x[0];
  int64_t at = 0;
  for (int64_t r = threadIdx.x; r < R; r += blockDim.x) max_combine(best, at, x[r], r);
  best_s[threadIdx.x] = best;
  at_s[threadIdx.x] = at;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) {
      float b = best_s[threadIdx.x];
      int64_t a = at_s[threadIdx.x];
      max_combine(b, a, best_s[threadIdx.x + s], at_s[threadIdx.x + s]);
      best_s[threadIdx.x] = b;
      at_s[threadIdx.x] = a;
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    out[blockIdx.x] = best_s[0];
    argmax[blockIdx.x] = at_s[0];
  }
}

// I > 1: one thread per (o, i), scanning R in order exactly as the CPU does.
__global__ void max_cols_kernel(float* out, int64_t* argmax, const float* inp, int64_t O, int64_t R, int64_t I) {
  MD_GRID_STRIDE(oi, O * I) {
    const int64_t o = oi / I, i = oi % I;
    const float* x = inp + o * R * I + i;
    float best = x[0];
    int64_t at = 0;
    for (int64_t r = 1; r < R; ++r) {
      const float v = x[r * I];
      if (v > best || (isnan(v) && !isnan(best))) {
        best = v;
        at = r;
      }
    }
    out[oi] = best;
    argmax[oi] = at;
  }
}

__global__ void max_scatter_kernel(float* dinp, const float* dout, const int64_t* argmax, int64_t O, int64_t R,
                                   int64_t I) {
  MD_GRID_STRIDE(oi, O * I) {
    const int64_t o = oi / I, i = oi % I;
    dinp[(o * R + argmax[oi]) * I + i] = dout[oi];
  }
}

// ---- int64 (exact; uint64_t arithmetic wraps around as torch's). One block per (o, i): its
// threads split R, then combine in shared memory (index tensors are small, this keeps it simple).
__global__ void reduce_i64_kernel(int64_t* out, int64_t* argmax, const int64_t* inp, int64_t R, int64_t I, bool max) {
  __shared__ uint64_t val_s[kThreads];
  __shared__ int64_t at_s[kThreads];
  const int64_t oi = blockIdx.x, o = oi / I, i = oi % I;
  const int64_t* x = inp + o * R * I + i;
  uint64_t acc = max ? static_cast<uint64_t>(x[0]) : 0;
  int64_t at = 0;
  for (int64_t r = threadIdx.x; r < R; r += blockDim.x) {
    const int64_t v = x[r * I];
    if (!max)
      acc += static_cast<uint64_t>(v);
    else if (v > static_cast<int64_t>(acc) || (v == static_cast<int64_t>(acc) && r < at)) {
      acc = static_cast<uint64_t>(v);
      at = r;
    }
  }
  val_s[threadIdx.x] = acc;
  at_s[threadIdx.x] = at;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) {
      const uint64_t b = val_s[threadIdx.x + s];
      if (!max) {
        val_s[threadIdx.x] += b;
      } else {
        const int64_t bv = static_cast<int64_t>(b), av = static_cast<int64_t>(val_s[threadIdx.x]);
        const int64_t bat = at_s[threadIdx.x + s];
        if (bv > av || (bv == av && bat < at_s[threadIdx.x])) {
          val_s[threadIdx.x] = b;
          at_s[threadIdx.x] = bat;
        }
      }
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    out[oi] = static_cast<int64_t>(val_s[0]);
    if (argmax) argmax[oi] = at_s[0];
  }
}

// One thread per (o, i), in order along R (as the float scan's long-row case).
__global__ void cumulative_i64_kernel(int64_t* out, const int64_t* inp, int64_t O, int64_t R, int64_t I, bool product) {
  MD_GRID_STRIDE(oi, O * I) {
    const int64_t o = oi / I, i = oi % I;
    uint64_t acc = product ? 1 : 0;
    for (int64_t r = 0; r < R; ++r) {
      const uint64_t v = static_cast<uint64_t>(inp[(o * R + r) * I + i]);
      acc = product ? acc * v : acc + v;
      out[(o * R + r) * I + i] = static_cast<int64_t>(acc);
    }
  }
}

__global__ void sum_squares_partial_kernel(double* partial, const float* x, int64_t n) {
  double acc = 0.0;
  MD_GRID_STRIDE(i, n) acc += static_cast<double>(x[i]) * x[i];
  acc = block_sum(acc);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

__global__ void sum_squares_finish_kernel(float* out, const double* partial, int nblocks, bool accumulate) {
  double acc = 0.0;
  for (int b = threadIdx.x; b < nblocks; b += blockDim.x) acc += partial[b];
  acc = block_sum(acc);
  if (threadIdx.x == 0) out[0] = static_cast<float>(accumulate ? out[0] + acc : acc);
}

}  // namespace

// ---- launchers

void reduce_sum(float* out, const float* inp, int64_t O, int64_t R, int64_t I) {
  if (O <= 0 || I <= 0) return;
  if (R <= 0) return fill_f32(out, 0.0f, O * I);
  if (I == 1) {
    if (O < 1024 && R >= 4096) {
      sum_rows_block_kernel<<<static_cast<unsigned>(O), kThreads, 0, stream()>>>(out, inp, R);
    } else {
      const int warps = kThreads / 32;
      sum_rows_warp_kernel<<<grid_for(O, warps), kThreads, 0, stream()>>>(out, inp, O, R);
    }
  } else {
    // grid.y indexes o and is limited to 65535, hence the slabs
    const int64_t kMaxY = 65535;
    for (int64_t o0 = 0; o0 < O; o0 += kMaxY) {
      const dim3 block(kColsX, kColsY);
      const dim3 grid(static_cast<unsigned>((I + kColsX - 1) / kColsX), static_cast<unsigned>(std::min(kMaxY, O - o0)));
      sum_cols_kernel<<<grid, block, 0, stream()>>>(out + o0 * I, inp + o0 * R * I, R, I);
      MD_CUDA_LAUNCHED("reduce_sum");
    }
    return;
  }
  MD_CUDA_LAUNCHED("reduce_sum");
}

void reduce_max(float* out, int64_t* argmax, const float* inp, int64_t O, int64_t R, int64_t I) {
  if (O <= 0 || I <= 0 || R <= 0) return;
  if (I == 1 && O < (int64_t(1) << 31))
    max_rows_kernel<<<static_cast<unsigned>(O), kThreads, 0, stream()>>>(out, argmax, inp, R);
  else
    max_cols_kernel<<<grid_for(O * I), kThreads, 0, stream()>>>(out, argmax, inp, O, R, I);
  MD_CUDA_LAUNCHED("reduce_max");
}

void reduce_max_backward(float* dinp, const float* dout, const int64_t* argmax, int64_t O, int64_t R, int64_t I) {
  fill_f32(dinp, 0.0f, O * R * I);
  if (O * I <= 0 || R <= 0) return;
  max_scatter_kernel<<<grid_for(O * I), kThreads, 0, stream()>>>(dinp, dout, argmax, O, R, I);
  MD_CUDA_LAUNCHED("reduce_max_backward");
}

void reduce_sum_i64(int64_t* out, const int64_t* inp, int64_t O, int64_t R, int64_t I) {
  if (O * I <= 0) return;
  MD_CHECK(O * I < (int64_t(1) << 31), ValueError, "sum: ", O * I, " int64 results exceed one launch");
  reduce_i64_kernel<<<static_cast<unsigned>(O * I), kThreads, 0, stream()>>>(out, nullptr, inp, R, I, false);
  MD_CUDA_LAUNCHED("reduce_sum_i64");
}

void reduce_max_i64(int64_t* out, int64_t* argmax, const int64_t* inp, int64_t O, int64_t R, int64_t I) {
  if (O * I <= 0 || R <= 0) return;
  MD_CHECK(O * I < (int64_t(1) << 31), ValueError, "max: ", O * I, " int64 results exceed one launch");
  reduce_i64_kernel<<<static_cast<unsigned>(O * I), kThreads, 0, stream()>>>(out, argmax, inp, R, I, true);
  MD_CUDA_LAUNCHED("reduce_max_i64");
}

void cumulative_i64(int64_t* out, const int64_t* inp, int64_t O, int64_t R, int64_t I, bool product) {
  if (O * I <= 0 || R <= 0) return;
  cumulative_i64_kernel<<<grid_for(O * I), kThreads, 0, stream()>>>(out, inp, O, R, I, product);
  MD_CUDA_LAUNCHED("cumulative_i64");
}

void sum_squares(float* out, const float* x, int64_t n, bool accumulate) {
  const int nblocks = n > 0 ? static_cast<int>(std::min<int64_t>(grid_for(n), 1024)) : 0;
  DeviceBuffer partial(sizeof(double) * std::max(nblocks, 1));
  if (nblocks > 0) {
    sum_squares_partial_kernel<<<nblocks, kThreads, 0, stream()>>>(partial.as<double>(), x, n);
    MD_CUDA_LAUNCHED("sum_squares");
  }
  sum_squares_finish_kernel<<<1, kThreads, 0, stream()>>>(out, partial.as<double>(), nblocks, accumulate);
  MD_CUDA_LAUNCHED("sum_squares_finish");
}

}  // namespace md::cuda
