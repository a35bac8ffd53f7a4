// Kernels that move elements without arithmetic (where, gather, index_select) handle every dtype
// as raw unsigned integers of its size; this picks the type for a size, on the CPU and for CUDA
// launchers alike.
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

}  // namespace md
