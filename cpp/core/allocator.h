// Memory for tensor storage. The CPU side keeps a small cache of large blocks so that a training
// step, which frees and re-allocates the same activation sizes every iteration, does not pay the
// kernel's page-zeroing cost each time; the CUDA side is the stream-ordered caching allocator in
// cuda/allocator.cu.
#pragma once

#include <cstddef>
#include <cstdint>

namespace md {

void* cpu_alloc(size_t nbytes);
void cpu_free(void* ptr, size_t nbytes);

struct CpuMemoryStats {
  int64_t allocated = 0;  // bytes in live tensors
  int64_t peak_allocated = 0;
  int64_t cached = 0;  // bytes held for reuse
};
CpuMemoryStats cpu_memory_stats();
void cpu_reset_peak();
// Returns the cached blocks to the system.
void cpu_empty_cache();

}  // namespace md
