// The implementation side of the dispatch point: what the build knows about CUDA, and the device
// queries that the Python layer exposes as md.cuda.*.
#include "kernels.h"
#include "runtime.h"

namespace md {

#ifdef MINIDIFF_CUDA
bool cuda_built() { return true; }
int cuda_device_count() { return cuda::runtime_device_count(); }
std::string cuda_device_name(int index) { return cuda::runtime_device_name(index); }
CudaMemoryStats cuda_memory_stats() { return cuda::runtime_memory_stats(); }
void cuda_empty_cache() { cuda::runtime_empty_cache(); }
void cuda_reset_peak() { cuda::runtime_reset_peak(); }
void cuda_set_allow_tf32(bool on) { cuda::runtime_set_allow_tf32(on); }
#else
bool cuda_built() { return false; }
int cuda_device_count() { return 0; }
std::string cuda_device_name(int) { throw_no_cuda("device_name"); }
CudaMemoryStats cuda_memory_stats() { return CudaMemoryStats{}; }
void cuda_empty_cache() {}
void cuda_reset_peak() {}
void cuda_set_allow_tf32(bool) {}
[[noreturn]] void throw_no_cuda(const char* kernel) {
  throw RuntimeError(str("CUDA is not available: minidiff was built without the CUDA backend (needed by '", kernel,
                         "'); rebuild on a machine with nvcc and cuBLAS, or use device='cpu'"));
}
#endif

}  // namespace md
