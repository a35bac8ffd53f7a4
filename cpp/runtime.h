// Device-runtime queries (md.cuda.*). On a build without CUDA they report no devices.
#pragma once

#include <cstdint>
#include <string>

namespace md {

struct CudaMemoryStats {
  int64_t allocated = 0;
  int64_t peak_allocated = 0;
  int64_t reserved = 0;
};

int cuda_device_count();
std::string cuda_device_name(int index);
CudaMemoryStats cuda_memory_stats();
void cuda_empty_cache();
void cuda_reset_peak();
// TF32 tensor-core math for float32 GEMMs and convolutions on CUDA (md.backends.allow_tf32).
void cuda_set_allow_tf32(bool on);

#ifdef MINIDIFF_CUDA
namespace cuda {
int runtime_device_count();
std::string runtime_device_name(int index);
CudaMemoryStats runtime_memory_stats();
void runtime_empty_cache();
void runtime_reset_peak();
void runtime_set_allow_tf32(bool on);
}  // namespace cuda
#endif

}  // namespace md
