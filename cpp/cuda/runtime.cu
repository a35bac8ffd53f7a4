// CUDA runtime queries behind md.cuda.* and the backend-wide state: error reporting, the cuBLAS
// handle and the TF32 switch. Nothing here may fail on a machine without a GPU or driver: a build
// with the CUDA backend must still import and run on the CPU there.
#include <atomic>
#include <cstdlib>
#include <mutex>

#include "cuda/common.cuh"

namespace md::cuda {

namespace {
std::atomic<bool> g_allow_tf32{true};

bool debug_sync() {
  static const bool on = [] {
    const char* v = std::getenv("MINIDIFF_CUDA_SYNC");
    return v && v[0] && v[0] != '0';
  }();
  return on;
}
}  // namespace

void throw_cuda_error(const char* what, cudaError_t err, const char* file, int line) {
  const std::string msg =
      str("CUDA error in ", what, ": ", cudaGetErrorName(err), " (", cudaGetErrorString(err), ") at ", file, ":", line);
  if (err == cudaErrorMemoryAllocation) throw OutOfMemoryError(msg);
  throw RuntimeError(msg);
}

void throw_cublas_error(const char* what, cublasStatus_t status, const char* file, int line) {
  throw RuntimeError(str("cuBLAS error in ", what, ": ", cublasGetStatusName(status), " (",
                         cublasGetStatusString(status), ") at ", file, ":", line));
}

void check_launch(const char* kernel, const char* file, int line) {
  cudaError_t err = cudaGetLastError();
  if (err == cudaSuccess && debug_sync()) err = cudaStreamSynchronize(stream());
  if (err != cudaSuccess) throw_cuda_error(str("kernel ", kernel).c_str(), err, file, line);
}

cublasHandle_t cublas_handle() {
  // Created once and never destroyed: tensors may be freed during interpreter shutdown, after
  // static destructors ran, and a destroyed handle must not be reachable then.
  static std::mutex mu;
  static cublasHandle_t handle = nullptr;
  std::lock_guard<std::mutex> lock(mu);
  if (!handle) {
    cublasHandle_t h = nullptr;
    MD_CUBLAS_CHECK(cublasCreate(&h));
    MD_CUBLAS_CHECK(cublasSetStream(h, stream()));
    handle = h;
  }
  return handle;
}

bool tf32_allowed() { return g_allow_tf32.load(std::memory_order_relaxed); }

int runtime_device_count() {
  // Asked once: the answer does not change while the process runs, and asking a machine without
  // a driver repeatedly costs a failed driver load each time.
  static const int count = [] {
    int n = 0;
    const cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess) {
      (void)cudaGetLastError();  // clear it: "no driver" must not poison later calls
      return 0;
    }
    return n;
  }();
  return count;
}

std::string runtime_device_name(int index) {
  const int n = runtime_device_count();
  MD_CHECK(index >= 0 && index < n, ValueError, "cuda.get_device_name: device index ", index, " is out of range (", n,
           " CUDA device", n == 1 ? "" : "s", " visible)");
  cudaDeviceProp prop{};
  MD_CUDA_CHECK(cudaGetDeviceProperties(&prop, index));
  return prop.name;
}

CudaMemoryStats runtime_memory_stats() { return allocator_stats(); }
void runtime_empty_cache() { allocator_empty_cache(); }
void runtime_reset_peak() { allocator_reset_peak(); }
// Only records the choice: this is called at import, when there may be no GPU at all.
void runtime_set_allow_tf32(bool on) { g_allow_tf32.store(on, std::memory_order_relaxed); }

}  // namespace md::cuda
