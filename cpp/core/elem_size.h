// Kernels that move elements without arithmetic (where, gather, index_select) handle every dtype
// as raw unsigned integers of its size; by_elem_size picks the type for a size, with_int_type the
// C++ type of an integer dtype, on the CPU and for CUDA launchers alike.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/common.h"

namespace md {

// Calls body(T{}) with T the unsigned integer type of elem_size bytes (1, 2, 4 or 8).
template <typename Body>
void by_elem_size(size_t elem_size, const char* kernel, Body body) {
  switch (elem_size) {
    case 1:
      return body(uint8_t{});
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

// Calls body(T{}) with T the C++ type of an integer dtype (int64 or a narrow one), or uint8_t for
// bool (one byte, 0 or 1): the integer casts of the CPU and CUDA twins.
template <typename Body>
void with_int_type(DType d, Body body) {
  switch (d) {
    case DType::UInt8:
    case DType::Bool:
      return body(uint8_t{});
    case DType::Int8:
      return body(int8_t{});
    case DType::Int16:
      return body(int16_t{});
    case DType::Int32:
      return body(int32_t{});
    default:
      return body(int64_t{});
  }
}

}  // namespace md
