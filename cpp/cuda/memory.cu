// CUDA memory kernels: strided copies, fills, casts, host transfers and the index range check.
// (device_alloc/device_free live in allocator.cu.)
#include <climits>

#include <cuda_fp16.h>

#include "core/elem_size.h"
#include "cuda/common.cuh"
#include "cuda/divmod.h"

namespace md::cuda {

// ---- kernels

namespace {

// Fewer than 2^32 elements: the index split with Divmod.
template <typename T>
__global__ void copy_strided_kernel(T* dst, const T* src, FlatIndex2 ix, int64_t n) {
  MD_GRID_STRIDE(i, n) {
    int64_t od, os;
    ix.offsets(static_cast<uint32_t>(i), od, os);
    dst[od] = src[os];
  }
}

// Any size: 64-bit division.
template <typename T>
__global__ void copy_strided_kernel64(T* dst, const T* src, StridedCopy p, int64_t n) {
  MD_GRID_STRIDE(i, n) {
    int64_t rest = i, od = 0, os = 0;
    for (int d = p.ndim - 1; d >= 0; --d) {
      const int64_t idx = rest % p.shape[d];
      rest /= p.shape[d];
      od += idx * p.dst_strides[d];
      os += idx * p.src_strides[d];
    }
    dst[od] = src[os];
  }
}

template <typename T>
__global__ void fill_kernel(T* out, T value, int64_t n) {
  MD_GRID_STRIDE(i, n) out[i] = value;
}

__device__ __forceinline__ float bf16_to_f32(uint16_t h) { return __uint_as_float(static_cast<uint32_t>(h) << 16); }

__device__ __forceinline__ uint16_t f32_to_bf16(float f) {  // round to nearest even; NaN stays NaN
  uint32_t u = __float_as_uint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

__global__ void cast_f32_i64_kernel(int64_t* d, const float* s, int64_t n) {
  // NaN, inf and out-of-range values give INT64_MIN, as the CPU kernel (and torch's CPU)
  MD_GRID_STRIDE(i, n) {
    const float v = s[i];
    d[i] = v == v && v < 0x1p63f && v >= -0x1p63f ? static_cast<int64_t>(v) : INT64_MIN;
  }
}
__global__ void cast_i64_f32_kernel(float* d, const int64_t* s, int64_t n) {
  MD_GRID_STRIDE(i, n) d[i] = static_cast<float>(s[i]);
}
__global__ void cast_f32_bf16_kernel(uint16_t* d, const float* s, int64_t n) {
  MD_GRID_STRIDE(i, n) d[i] = f32_to_bf16(s[i]);
}
__global__ void cast_bf16_f32_kernel(float* d, const uint16_t* s, int64_t n) {
  MD_GRID_STRIDE(i, n) d[i] = bf16_to_f32(s[i]);
}
// float16: the hardware conversions, IEEE round to nearest even (subnormals, overflow to inf), as
// the CPU's f32_to_f16 (a NaN's payload may differ)
__global__ void cast_f32_f16_kernel(uint16_t* d, const float* s, int64_t n) {
  MD_GRID_STRIDE(i, n) d[i] = __half_as_ushort(__float2half_rn(s[i]));
}
__global__ void cast_f16_f32_kernel(float* d, const uint16_t* s, int64_t n) {
  MD_GRID_STRIDE(i, n) d[i] = __half2float(__ushort_as_half(s[i]));
}
// bool is one byte, 0 or 1; a number becomes true where it is nonzero (NaN included), as torch's
template <typename S>
__global__ void cast_to_bool_kernel(uint8_t* d, const S* s, int64_t n) {
  MD_GRID_STRIDE(i, n) d[i] = static_cast<uint8_t>(s[i] != S(0));
}
__global__ void cast_bf16_bool_kernel(uint8_t* d, const uint16_t* s, int64_t n) {
  MD_GRID_STRIDE(i, n) d[i] = static_cast<uint8_t>((s[i] & 0x7fff) != 0);  // any bit but the sign's
}
template <typename D>
__global__ void cast_from_bool_kernel(D* d, const uint8_t* s, int64_t n, D one) {
  MD_GRID_STRIDE(i, n) d[i] = s[i] ? one : D(0);
}

// One block; mm (2) = (min, max) of idx (n).
__global__ void index_range_kernel(int64_t* mm, const int64_t* idx, int64_t n) {
  __shared__ int64_t lo_s[kThreads], hi_s[kThreads];
  int64_t lo = idx[0], hi = idx[0];
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    lo = min(lo, idx[i]);
    hi = max(hi, idx[i]);
  }
  lo_s[threadIdx.x] = lo;
  hi_s[threadIdx.x] = hi;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) {
      lo_s[threadIdx.x] = min(lo_s[threadIdx.x], lo_s[threadIdx.x + s]);
      hi_s[threadIdx.x] = max(hi_s[threadIdx.x], hi_s[threadIdx.x + s]);
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    mm[0] = lo_s[0];
    mm[1] = hi_s[0];
  }
}

template <typename T>
void copy_typed(void* dst, const void* src, const StridedCopy& plan) {
  int64_t n = 1;
  for (int d = 0; d < plan.ndim; ++d) n *= plan.shape[d];
  if (n == 0) return;
  T* d = static_cast<T*>(dst);
  const T* s = static_cast<const T*>(src);
  if (n <= UINT32_MAX) {
    const FlatIndex2 ix(plan.ndim, plan.shape, plan.dst_strides, plan.src_strides);
    copy_strided_kernel<T><<<grid_for(n), kThreads, 0, stream()>>>(d, s, ix, n);
  } else {
    copy_strided_kernel64<T><<<grid_for(n), kThreads, 0, stream()>>>(d, s, plan, n);
  }
  MD_CUDA_LAUNCHED("copy_strided");
}

}  // namespace

// ---- launchers

void synchronize() {
  // A no-op without a device, so that a CUDA build can profile CPU-only runs.
  if (runtime_device_count() == 0) return;
  MD_CUDA_CHECK(cudaDeviceSynchronize());
}

void copy_strided(void* dst, const void* src, size_t elem_size, const StridedCopy& plan) {
  switch (elem_size) {
    case 1:
      return copy_typed<uint8_t>(dst, src, plan);
    case 2:
      return copy_typed<uint16_t>(dst, src, plan);
    case 4:
      return copy_typed<uint32_t>(dst, src, plan);
    case 8:
      return copy_typed<uint64_t>(dst, src, plan);
    default:
      throw RuntimeError(str("copy_strided: unsupported element size ", elem_size));
  }
}

void fill_f32(float* out, float value, int64_t n) {
  if (n <= 0) return;
  fill_kernel<float><<<grid_for(n), kThreads, 0, stream()>>>(out, value, n);
  MD_CUDA_LAUNCHED("fill_f32");
}

void fill_i64(int64_t* out, int64_t value, int64_t n) {
  if (n <= 0) return;
  fill_kernel<int64_t><<<grid_for(n), kThreads, 0, stream()>>>(out, value, n);
  MD_CUDA_LAUNCHED("fill_i64");
}

namespace {
// Between integers (int64 and the narrow ones) and bool: two's-complement wrapping to the narrower
// type, as torch's; to bool: nonzero; from bool: 0 or 1.
template <typename D, typename S>
__global__ void cast_int_kernel(D* out, const S* in, int64_t n, bool booleans) {
  MD_GRID_STRIDE(i, n) out[i] = booleans ? static_cast<D>(in[i] != 0) : static_cast<D>(in[i]);
}

}  // namespace

void cast(void* dst, DType dt, const void* src, DType st, int64_t n) {
  if (n <= 0) return;
  if ((is_integer(st) || st == DType::Bool) && (is_integer(dt) || dt == DType::Bool) &&
      (is_narrow_int(st) || is_narrow_int(dt))) {
    with_int_type(st, [&](auto s0) {
      with_int_type(dt, [&](auto d0) {
        using S = decltype(s0);
        using D = decltype(d0);
        cast_int_kernel<D, S><<<grid_for(n), kThreads, 0, stream()>>>(static_cast<D*>(dst), static_cast<const S*>(src),
                                                                      n, dt == DType::Bool || st == DType::Bool);
      });
    });
    MD_CUDA_LAUNCHED("cast");
    return;
  }
  if (dt == st) {
    MD_CUDA_CHECK(cudaMemcpyAsync(dst, src, n * dtype_size(dt), cudaMemcpyDeviceToDevice, stream()));
    return;
  }
  const unsigned grid = grid_for(n);
  if (st == DType::Float32 && dt == DType::Int64) {
    cast_f32_i64_kernel<<<grid, kThreads, 0, stream()>>>(static_cast<int64_t*>(dst), static_cast<const float*>(src), n);
  } else if (st == DType::Int64 && dt == DType::Float32) {
    cast_i64_f32_kernel<<<grid, kThreads, 0, stream()>>>(static_cast<float*>(dst), static_cast<const int64_t*>(src), n);
  } else if (st == DType::Float32 && dt == DType::BFloat16) {
    cast_f32_bf16_kernel<<<grid, kThreads, 0, stream()>>>(static_cast<uint16_t*>(dst), static_cast<const float*>(src),
                                                          n);
  } else if (st == DType::BFloat16 && dt == DType::Float32) {
    cast_bf16_f32_kernel<<<grid, kThreads, 0, stream()>>>(static_cast<float*>(dst), static_cast<const uint16_t*>(src),
                                                          n);
  } else if (st == DType::Float32 && dt == DType::Float16) {
    cast_f32_f16_kernel<<<grid, kThreads, 0, stream()>>>(static_cast<uint16_t*>(dst), static_cast<const float*>(src),
                                                         n);
  } else if (st == DType::Float16 && dt == DType::Float32) {
    cast_f16_f32_kernel<<<grid, kThreads, 0, stream()>>>(static_cast<float*>(dst), static_cast<const uint16_t*>(src),
                                                         n);
  } else if (dt == DType::Bool && st == DType::Float32) {
    cast_to_bool_kernel<float>
        <<<grid, kThreads, 0, stream()>>>(static_cast<uint8_t*>(dst), static_cast<const float*>(src), n);
  } else if (dt == DType::Bool && st == DType::Int64) {
    cast_to_bool_kernel<int64_t>
        <<<grid, kThreads, 0, stream()>>>(static_cast<uint8_t*>(dst), static_cast<const int64_t*>(src), n);
  } else if (dt == DType::Bool && (st == DType::BFloat16 || st == DType::Float16)) {  // (same test: sign bit aside)
    cast_bf16_bool_kernel<<<grid, kThreads, 0, stream()>>>(static_cast<uint8_t*>(dst),
                                                           static_cast<const uint16_t*>(src), n);
  } else if (st == DType::Bool && dt == DType::Float32) {
    cast_from_bool_kernel<float>
        <<<grid, kThreads, 0, stream()>>>(static_cast<float*>(dst), static_cast<const uint8_t*>(src), n, 1.0f);
  } else if (st == DType::Bool && dt == DType::Int64) {
    cast_from_bool_kernel<int64_t>
        <<<grid, kThreads, 0, stream()>>>(static_cast<int64_t*>(dst), static_cast<const uint8_t*>(src), n, 1);
  } else if (st == DType::Bool && dt == DType::Float16) {  // 0x3c00 is float16's 1.0
    cast_from_bool_kernel<uint16_t>
        <<<grid, kThreads, 0, stream()>>>(static_cast<uint16_t*>(dst), static_cast<const uint8_t*>(src), n, 0x3c00);
  } else if (st == DType::Bool && dt == DType::BFloat16) {  // 0x3f80 is bfloat16's 1.0
    cast_from_bool_kernel<uint16_t>
        <<<grid, kThreads, 0, stream()>>>(static_cast<uint16_t*>(dst), static_cast<const uint8_t*>(src), n, 0x3f80);
  } else {
    throw TypeError(str("cast: unsupported conversion from ", dtype_name(st), " to ", dtype_name(dt)));
  }
  MD_CUDA_LAUNCHED("cast");
}

void copy_to_host(void* host_dst, const void* src, size_t nbytes) {
  if (nbytes == 0) return;
  MD_CUDA_CHECK(cudaMemcpy(host_dst, src, nbytes, cudaMemcpyDeviceToHost));
}

void copy_from_host(void* dst, const void* host_src, size_t nbytes) {
  if (nbytes == 0) return;
  MD_CUDA_CHECK(cudaMemcpy(dst, host_src, nbytes, cudaMemcpyHostToDevice));
}

void index_range(int64_t* host_min_max, const int64_t* idx, int64_t n) {
  if (n <= 0) return;
  DeviceBuffer mm(2 * sizeof(int64_t));
  index_range_kernel<<<1, kThreads, 0, stream()>>>(mm.as<int64_t>(), idx, n);
  MD_CUDA_LAUNCHED("index_range");
  copy_to_host(host_min_max, mm.as<int64_t>(), 2 * sizeof(int64_t));
}

}  // namespace md::cuda
