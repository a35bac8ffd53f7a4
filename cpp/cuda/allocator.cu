// The CUDA caching allocator. cudaMalloc/cudaFree synchronise the device and cost tens of
// microseconds, while a training step frees and re-requests the same activation sizes every
// iteration; so freed blocks go to size-keyed free lists and are handed out again. All work runs
// on one stream, so a block freed on the host may be reused by the next kernel at once: that
// kernel is queued after every kernel that used the block before.
#include <map>
#include <mutex>
#include <unordered_map>

#include "cuda/common.cuh"

namespace md::cuda {

namespace {

constexpr size_t kSmallAlign = 512;             // granularity below kLargeFrom
constexpr size_t kLargeFrom = size_t(1) << 20;  // from 1 MiB on, blocks are rounded to 2 MiB
constexpr size_t kLargeAlign = size_t(2) << 20;

struct Cache {
  std::mutex mu;
  std::multimap<size_t, void*> free_blocks;  // block size -> block, not in use
  std::unordered_map<void*, size_t> live;    // block in use -> its size
  int64_t allocated = 0;                     // bytes of blocks in use
  int64_t peak = 0;
  int64_t reserved = 0;  // bytes obtained from cudaMalloc: in use or cached
};

Cache& cache() {
  static Cache* c = new Cache();  // never destroyed: tensors can outlive static teardown
  return *c;
}

size_t round_size(size_t n) {
  if (n == 0) return kSmallAlign;
  if (n < kLargeFrom) return (n + kSmallAlign - 1) / kSmallAlign * kSmallAlign;
  return (n + kLargeAlign - 1) / kLargeAlign * kLargeAlign;
}

// Returns every cached block to the driver. Caller holds the lock.
void release_cached(Cache& c) {
  for (auto& kv : c.free_blocks) {
    (void)cudaFree(kv.second);  // synchronises with queued work that may still use the block
    c.reserved -= static_cast<int64_t>(kv.first);
  }
  c.free_blocks.clear();
  (void)cudaGetLastError();
}

[[noreturn]] void throw_oom(Cache& c, size_t nbytes) {
  size_t free_b = 0, total_b = 0;
  std::string device_info;
  if (cudaMemGetInfo(&free_b, &total_b) == cudaSuccess)
    device_info = str(free_b, " bytes free of ", total_b, " total on the device");
  else
    device_info = "free device memory unknown";
  (void)cudaGetLastError();
  throw OutOfMemoryError(str("CUDA out of memory: tried to allocate ", nbytes, " bytes (",
                             static_cast<double>(nbytes) / double(1 << 30), " GiB); ", device_info, "; ", c.allocated,
                             " bytes held by minidiff tensors, ", c.reserved - c.allocated,
                             " bytes cached (freed by md.cuda.empty_cache())"));
}

}  // namespace

void* device_alloc(size_t nbytes) {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  if (nbytes > (size_t(1) << 62)) throw_oom(c, nbytes);
  size_t size = round_size(nbytes);
  void* p = nullptr;
  // Best fit, wasting at most a quarter of the block.
  auto it = c.free_blocks.lower_bound(size);
  if (it != c.free_blocks.end() && it->first <= size + size / 4) {
    size = it->first;
    p = it->second;
    c.free_blocks.erase(it);
  } else {
    cudaError_t err = cudaMalloc(&p, size);
    if (err == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      release_cached(c);
      err = cudaMalloc(&p, size);
    }
    if (err == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      throw_oom(c, nbytes);
    }
    if (err != cudaSuccess) {
      (void)cudaGetLastError();
      throw RuntimeError(str("CUDA error in cudaMalloc of ", nbytes, " bytes: ", cudaGetErrorName(err), " (",
                             cudaGetErrorString(err), "); is a CUDA device visible (md.cuda.is_available())?"));
    }
    c.reserved += static_cast<int64_t>(size);
  }
  c.live.emplace(p, size);
  c.allocated += static_cast<int64_t>(size);
  if (c.allocated > c.peak) c.peak = c.allocated;
  return p;
}

// Called from Storage's destructor: must not throw, and must not call into CUDA (it can run
// during interpreter shutdown, after the CUDA runtime was torn down).
void device_free(void* ptr, size_t nbytes) {
  (void)nbytes;  // the block's own size is recorded; a reused block may be larger than asked for
  if (!ptr) return;
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  auto it = c.live.find(ptr);
  if (it == c.live.end()) return;
  const size_t size = it->second;
  c.live.erase(it);
  c.allocated -= static_cast<int64_t>(size);
  c.free_blocks.emplace(size, ptr);
}

CudaMemoryStats allocator_stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return CudaMemoryStats{c.allocated, c.peak, c.reserved};
}

void allocator_empty_cache() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  release_cached(c);
}

void allocator_reset_peak() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  c.peak = c.allocated;
}

}  // namespace md::cuda
