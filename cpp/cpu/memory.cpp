// CPU memory kernels: allocation, strided copies, fills, casts and index range checks.
#include <cstdint>
#include <cstring>

#include "core/allocator.h"
#include "core/elem_size.h"
#include "cpu/bf16.h"
#include "cpu/common.h"
#include "cpu/transpose.h"
#include "kernels.h"

namespace md::cpu {

void* device_alloc(size_t nbytes) { return cpu_alloc(nbytes); }
void device_free(void* ptr, size_t nbytes) { cpu_free(ptr, nbytes); }
void synchronize() {}

namespace {
// A copy whose last two dims are swapped between source and destination (a transpose, as in
// contiguous() of transpose(x, -2, -1): attention's (B, C, L) <-> (B, L, C)) walks 2-D blocks
// with cpu/transpose.h; element by element it was 4% of the digits step. False if the copy is
// not of that form.
bool copy_transposed(float* dst, const float* src, const StridedCopy& p) {
  const int n = p.ndim;
  if (n < 2) return false;
  const int64_t R = p.shape[n - 2], Cn = p.shape[n - 1];
  const int64_t ld = p.dst_strides[n - 2], ls = p.src_strides[n - 1];
  if (p.dst_strides[n - 1] != 1 || p.src_strides[n - 2] != 1 || ls == 1 || R < 16 || Cn < 16) return false;
  int64_t outer = 1;
  for (int d = 0; d < n - 2; ++d) outer *= p.shape[d];
  // dst block (R, Cn), rows ld apart = src block (Cn, R), rows ls apart, transposed
  auto block = [&](int64_t o) {
    int64_t od = 0, os = 0, rem = o;
    for (int d = n - 3; d >= 0; --d) {
      const int64_t i = rem % p.shape[d];
      rem /= p.shape[d];
      od += i * p.dst_strides[d];
      os += i * p.src_strides[d];
    }
    transpose(dst + od, ld, src + os, ls, Cn, R);
  };
#pragma omp parallel for if (outer > 1 && worth_parallel(outer * R * Cn)) schedule(static)
  for (int64_t o = 0; o < outer; ++o) block(o);
  return true;
}

template <typename T>
void copy_typed(T* dst, const T* src, const StridedCopy& p) {
  if (p.ndim == 0) {
    dst[0] = src[0];
    return;
  }
  if constexpr (sizeof(T) == sizeof(float)) {
    if (copy_transposed(reinterpret_cast<float*>(dst), reinterpret_cast<const float*>(src), p)) return;
  }
  const int64_t inner = p.shape[p.ndim - 1];
  const int64_t sd = p.dst_strides[p.ndim - 1], ss = p.src_strides[p.ndim - 1];
  int64_t rows = 1;
  for (int d = 0; d < p.ndim - 1; ++d) rows *= p.shape[d];
  if (rows == 0 || inner == 0) return;  // for_each_row would divide by the zero extent
  if (p.ndim >= 2 && sd == 1 && ss == 1 && inner <= 16) {
    // short contiguous rows (attention's heads of 8-16 floats, (B, L, h, d) <-> (B, h, L, d)):
    // walk the outer dims once per block of the last two, not once per row
    const int64_t mid = p.shape[p.ndim - 2], dm = p.dst_strides[p.ndim - 2], sm = p.src_strides[p.ndim - 2];
    const int64_t blocks = rows / mid;
    auto block = [&](int64_t, int64_t od, int64_t os) {
      for (int64_t j = 0; j < mid; ++j) {
        T* o = dst + od + j * dm;
        const T* s = src + os + j * sm;
#pragma omp simd
        for (int64_t i = 0; i < inner; ++i) o[i] = s[i];
      }
    };
    for_each_row_split(worth_parallel(rows * inner), p.ndim - 1, p.shape, p.dst_strides, p.src_strides, blocks, block);
    return;
  }
  auto body = [&](int64_t, int64_t od, int64_t os) {
    T* o = dst + od;
    const T* s = src + os;
    if (sd == 1 && ss == 1) {
      if (inner <= 64) {  // short rows: a call to memcpy each costs more
#pragma omp simd
        for (int64_t i = 0; i < inner; ++i) o[i] = s[i];
      } else {
        std::memcpy(o, s, inner * sizeof(T));
      }
    } else if (sd == 1 && ss == 0) {
      const T v = s[0];
      for (int64_t i = 0; i < inner; ++i) o[i] = v;
    } else {
      for (int64_t i = 0; i < inner; ++i) o[i * sd] = s[i * ss];
    }
  };
  for_each_row_split(worth_parallel(rows * inner), p.ndim, p.shape, p.dst_strides, p.src_strides, rows, body);
}
}  // namespace

void copy_strided(void* dst, const void* src, size_t elem_size, const StridedCopy& plan) {
  switch (elem_size) {
    case 1:
      copy_typed(static_cast<uint8_t*>(dst), static_cast<const uint8_t*>(src), plan);
      break;
    case 2:
      copy_typed(static_cast<uint16_t*>(dst), static_cast<const uint16_t*>(src), plan);
      break;
    case 4:
      copy_typed(static_cast<uint32_t*>(dst), static_cast<const uint32_t*>(src), plan);
      break;
    case 8:
      copy_typed(static_cast<uint64_t*>(dst), static_cast<const uint64_t*>(src), plan);
      break;
    default:
      throw RuntimeError(str("copy_strided: unsupported element size ", elem_size));
  }
}

void fill_f32(float* out, float value, int64_t n) {
#pragma omp parallel for if (worth_parallel(n)) schedule(static)
  for (int64_t i = 0; i < n; ++i) out[i] = value;
}

void fill_i64(int64_t* out, int64_t value, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = value;
}

namespace {
// Elementwise d[i] = f(s[i]) from S to D.
template <typename D, typename S, typename F>
void convert(void* dst, const void* src, int64_t n, F f) {
  const S* s = static_cast<const S*>(src);
  D* d = static_cast<D*>(dst);
#pragma omp parallel for if (worth_parallel(n))
  for (int64_t i = 0; i < n; ++i) d[i] = f(s[i]);
}
}  // namespace

void cast(void* dst, DType dt, const void* src, DType st, int64_t n) {
  if (dt == st) {
    std::memcpy(dst, src, n * dtype_size(dt));
    return;
  }
  using F = DType;
  // bool is one byte, 0 or 1; a number becomes true where it is nonzero (NaN included), as torch's
  const auto is = [&](DType a, DType b) { return st == a && dt == b; };
  // between integers: two's-complement wrapping to the narrower type, as torch's; bool: nonzero
  if ((is_integer(st) || st == F::Bool) && (is_integer(dt) || dt == F::Bool) &&
      (is_narrow_int(st) || is_narrow_int(dt))) {
    with_int_type(st, [&](auto s0) {
      with_int_type(dt, [&](auto d0) {
        using S = decltype(s0);
        using D = decltype(d0);
        if (st == F::Bool)
          convert<D, uint8_t>(dst, src, n, [](uint8_t v) { return static_cast<D>(v != 0); });
        else if (dt == F::Bool)
          convert<uint8_t, S>(dst, src, n, [](S v) { return static_cast<uint8_t>(v != 0); });
        else
          convert<D, S>(dst, src, n, [](S v) { return static_cast<D>(v); });
      });
    });
    return;
  }
  if (is(F::Float32, F::Int64)) {  // NaN, inf and out-of-range values give INT64_MIN (as torch's CPU)
    convert<int64_t, float>(dst, src, n, [](float v) {
      return v == v && v < 0x1p63f && v >= -0x1p63f ? static_cast<int64_t>(v) : INT64_MIN;
    });
  } else if (is(F::Int64, F::Float32)) {
    convert<float, int64_t>(dst, src, n, [](int64_t v) { return static_cast<float>(v); });
  } else if (is(F::Float32, F::BFloat16)) {
    convert<uint16_t, float>(dst, src, n, [](float v) { return f32_to_bf16(v); });
  } else if (is(F::BFloat16, F::Float32)) {
    convert<float, uint16_t>(dst, src, n, [](uint16_t v) { return bf16_to_f32(v); });
  } else if (is(F::Float32, F::Float16)) {
    convert<uint16_t, float>(dst, src, n, [](float v) { return f32_to_f16(v); });
  } else if (is(F::Float16, F::Float32)) {
    convert<float, uint16_t>(dst, src, n, [](uint16_t v) { return f16_to_f32(v); });
  } else if (is(F::Float32, F::Bool)) {
    convert<uint8_t, float>(dst, src, n, [](float v) { return static_cast<uint8_t>(v != 0.0f); });
  } else if (is(F::Int64, F::Bool)) {
    convert<uint8_t, int64_t>(dst, src, n, [](int64_t v) { return static_cast<uint8_t>(v != 0); });
  } else if (is(F::BFloat16, F::Bool) || is(F::Float16, F::Bool)) {  // any bit but the sign's set: nonzero
    convert<uint8_t, uint16_t>(dst, src, n, [](uint16_t v) { return static_cast<uint8_t>((v & 0x7fff) != 0); });
  } else if (is(F::Bool, F::Float32)) {
    convert<float, uint8_t>(dst, src, n, [](uint8_t v) { return v ? 1.0f : 0.0f; });
  } else if (is(F::Bool, F::Int64)) {
    convert<int64_t, uint8_t>(dst, src, n, [](uint8_t v) { return static_cast<int64_t>(v != 0); });
  } else if (is(F::Bool, F::BFloat16)) {  // 0x3f80 is bfloat16's 1.0
    convert<uint16_t, uint8_t>(dst, src, n, [](uint8_t v) { return static_cast<uint16_t>(v ? 0x3f80 : 0); });
  } else if (is(F::Bool, F::Float16)) {  // 0x3c00 is float16's 1.0
    convert<uint16_t, uint8_t>(dst, src, n, [](uint8_t v) { return static_cast<uint16_t>(v ? 0x3c00 : 0); });
  } else {
    throw TypeError(str("cast: unsupported conversion from ", dtype_name(st), " to ", dtype_name(dt)));
  }
}

void copy_to_host(void* host_dst, const void* src, size_t nbytes) { std::memcpy(host_dst, src, nbytes); }
void copy_from_host(void* dst, const void* host_src, size_t nbytes) { std::memcpy(dst, host_src, nbytes); }

void index_range(int64_t* mm, const int64_t* idx, int64_t n) {
  int64_t lo = idx[0], hi = idx[0];
  for (int64_t i = 1; i < n; ++i) {
    lo = std::min(lo, idx[i]);
    hi = std::max(hi, idx[i]);
  }
  mm[0] = lo;
  mm[1] = hi;
}

}  // namespace md::cpu
