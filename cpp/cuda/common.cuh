// Internal helpers shared by the CUDA kernels: error checks that throw md exceptions naming the
// failing call or kernel, the one stream all work is queued on, the cuBLAS handle, block-wide
// reductions, and a workspace buffer drawn from the caching allocator.
#pragma once

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "core/common.h"
#include "kernels.h"
#include "runtime.h"

namespace md::cuda {

[[noreturn]] void throw_cuda_error(const char* what, cudaError_t err, const char* file, int line);
[[noreturn]] void throw_cublas_error(const char* what, cublasStatus_t status, const char* file, int line);
// After a kernel launch: turns a launch failure into an exception naming the kernel. With the
// environment variable MINIDIFF_CUDA_SYNC=1 it also waits for the kernel, so that a fault inside
// it is reported here rather than at some later call.
void check_launch(const char* kernel, const char* file, int line);

#define MD_CUDA_CHECK(call)                                                                       \
  do {                                                                                            \
    const cudaError_t md_err_ = (call);                                                           \
    if (md_err_ != cudaSuccess) ::md::cuda::throw_cuda_error(#call, md_err_, __FILE__, __LINE__); \
  } while (0)

#define MD_CUBLAS_CHECK(call)                                                                               \
  do {                                                                                                      \
    const cublasStatus_t md_st_ = (call);                                                                   \
    if (md_st_ != CUBLAS_STATUS_SUCCESS) ::md::cuda::throw_cublas_error(#call, md_st_, __FILE__, __LINE__); \
  } while (0)

#define MD_CUDA_LAUNCHED(kernel) ::md::cuda::check_launch(kernel, __FILE__, __LINE__)

// Every kernel, copy and cuBLAS call goes to this stream. It is the (legacy) default stream, so the
// synchronous cudaMemcpy of copy_to_host/copy_from_host is ordered after all queued kernels, and
// a block freed to the caching allocator can be handed out again at once (stream order).
inline cudaStream_t stream() { return nullptr; }

// The process-wide cuBLAS handle, created on first use and bound to stream().
cublasHandle_t cublas_handle();
// md.backends.allow_tf32: TF32 tensor-core math for float32 GEMMs (matmul, conv2d, attention).
bool tf32_allowed();

// ---- allocator internals (allocator.cu), behind runtime_memory_stats and friends
CudaMemoryStats allocator_stats();
void allocator_empty_cache();
void allocator_reset_peak();

// ---- launch geometry
constexpr int kThreads = 256;

// Blocks for a grid-stride loop over n elements; n must be positive.
inline unsigned grid_for(int64_t n, int threads = kThreads) {
  const int64_t blocks = (n + threads - 1) / threads;
  return static_cast<unsigned>(blocks < (int64_t(1) << 16) ? blocks : (int64_t(1) << 16));
}

// Kernels that split flat indices with Divmod (cuda/divmod.h) take them as 32-bit: a launch covers
// at most kMaxLaunch elements. Items (images, planes) of per_item elements each that one launch
// may cover; an item too large for one launch is a ValueError naming op.
constexpr int64_t kMaxLaunch = 0xffffffffLL;
inline int64_t items_per_launch(int64_t per_item, const char* op) {
  MD_CHECK(per_item <= kMaxLaunch, ValueError, op, ": ", per_item,
           " elements in one image or plane exceed the CUDA kernels' 32-bit indices");
  return per_item > 0 ? kMaxLaunch / per_item : kMaxLaunch;
}

#define MD_GRID_STRIDE(i, n)                                                             \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

// ---- block reductions (blockDim.x a multiple of 32, at most 1024)
template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// The sum of v over the block, returned to every thread.
template <typename T>
__device__ T block_sum(T v) {
  __shared__ T partial[32];
  __shared__ T total;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // a previous call may still be reading partial/total
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  if (warp == 0) {
    const int nwarps = (blockDim.x + 31) >> 5;
    T w = lane < nwarps ? partial[lane] : T(0);
    w = warp_sum(w);
    if (lane == 0) total = w;
  }
  __syncthreads();
  return total;
}

// The largest v over the block (NaNs ignored, as std::max(acc, v) does on the CPU when acc
// starts at -inf), returned to every thread.
__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

__device__ inline float block_max(float v) {
  __shared__ float partial[32];
  __shared__ float total;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  if (warp == 0) {
    const int nwarps = (blockDim.x + 31) >> 5;
    float w = lane < nwarps ? partial[lane] : -INFINITY;
    w = warp_max(w);
    if (lane == 0) total = w;
  }
  __syncthreads();
  return total;
}

// Threads per block for a block-per-row kernel over rows of length n: a multiple of 32, at most
// kThreads, no more than the row needs.
inline int row_threads(int64_t n) {
  int t = 32;
  while (t < kThreads && t < n) t *= 2;
  return t;
}

// ---- workspace: scratch device memory from the caching allocator, returned on scope exit.
// Stream order makes the early return safe: later kernels that reuse the block run after ours.
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t nbytes) : nbytes_(nbytes), ptr_(nbytes ? device_alloc(nbytes) : nullptr) {}
  ~DeviceBuffer() {
    if (ptr_) device_free(ptr_, nbytes_);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  size_t nbytes_;
  void* ptr_;
};

// Bytes of scratch a single conv2d/attention call may hold at once (md::cuda_workspace_budget(),
// core/common.h); larger problems are chunked.
inline size_t workspace_budget() { return static_cast<size_t>(cuda_workspace_budget()); }

// ---- the bf16 matmul mode's building blocks (cuda/gemm.cu), for kernels that make their GEMM
// operands in bf16 directly (conv2d's im2col) instead of having gemm() round float32 copies.
// dst[i] = src[i] rounded to the nearest bf16, ties to even (the CPU's rounding).
void round_to_bf16(__nv_bfloat16* dst, const float* src, int64_t n);
// C = alpha op(A) op(B) + beta C as gemm_batched (row-major, batch strides sa/sb/sc; batch 1: one
// product) with bf16 operands, float32 accumulation and a float32 C.
void gemm_bf16_operands(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const __nv_bfloat16* A,
                        int64_t lda, int64_t sa, const __nv_bfloat16* B, int64_t ldb, int64_t sb, float beta, float* C,
                        int64_t ldc, int64_t sc, int64_t batch);

// A bf16 copy of the float32 elements [src, src + n), rounded to nearest even, in scratch memory.
class Bf16Copy {
 public:
  Bf16Copy(const float* src, int64_t n) : buf_(sizeof(__nv_bfloat16) * n) {
    round_to_bf16(buf_.as<__nv_bfloat16>(), src, n);
  }
  const __nv_bfloat16* get() const { return buf_.as<__nv_bfloat16>(); }

 private:
  DeviceBuffer buf_;
};

}  // namespace md::cuda
