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
// The scratch bytes one CUDA conv2d/attention call may hold before it splits its batch into chunks
// (256 MiB); returns the previous budget. For tests, which shrink it to make every call chunk. A
// build without CUDA keeps the value and uses it nowhere.
int64_t cuda_set_workspace_budget(int64_t bytes);

#ifdef MINIDIFF_CUDA
namespace cuda {
int runtime_device_count();
std::string runtime_device_name(int index);
CudaMemoryStats runtime_memory_stats();
void runtime_empty_cache();
void runtime_reset_peak();
void runtime_set_allow_tf32(bool on);
int64_t runtime_set_workspace_budget(int64_t bytes);
}  // namespace cuda
#endif

}  // namespace md
