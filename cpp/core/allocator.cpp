// CPU allocator: 64-byte aligned blocks; blocks of 256 KiB and more are cached by exact rounded
// size (the sizes of a training step repeat exactly), with the cache bounded so that it never
// holds more than it has recently needed. (From 1 MiB up, as before, the digits step's 512 KiB
// attention gradients went through malloc, whose heap gave the memory back and took it again:
// about a thousand page faults a step, 2-3% of its CPU time in the kernel zeroing pages; caching
// them also lowered the peak RSS, 268 -> 235 MB.) Blocks of 2 MiB and more are 2 MiB aligned and marked
// for transparent huge pages (madvise): where THP is in "madvise" mode (the common default) a
// training step then walks its tensors with 512x fewer TLB entries, 7-8% less CPU time per step
// here; elsewhere the hint changes nothing.
#include "core/allocator.h"

#include <sys/mman.h>
#if defined(__linux__)
#include <sys/sysinfo.h>
#endif

#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/common.h"
#include "core/tensor.h"

namespace md {
namespace {

constexpr size_t kAlign = 64;
constexpr size_t kCacheMin = size_t(1) << 18;  // smaller blocks go straight to malloc
constexpr size_t kCacheLimit = size_t(4) << 30;
constexpr size_t kHugePage = size_t(2) << 20;
constexpr size_t kHugeMin = size_t(2) << 20;

struct CpuCache {
  std::mutex mu;
  std::multimap<size_t, void*> free_blocks;      // rounded size -> block
  std::unordered_map<void*, size_t> large_live;  // block -> its true size, for cacheable blocks
  size_t cached = 0;
  int64_t allocated = 0;
  int64_t peak = 0;
};

CpuCache& cache() {
  static CpuCache* c = new CpuCache();  // never destroyed: tensors may outlive static teardown
  return *c;
}

size_t round_size(size_t n) {
  if (n < kCacheMin) return (n + kAlign - 1) / kAlign * kAlign;
  const size_t step = n < (size_t(1) << 20) ? size_t(1) << 14 : size_t(1) << 16;  // 16 or 64 KiB, at most 1/16
  return (n + step - 1) / step * step;
}

// The most memory this machine could ever back (its RAM and swap), or 0 where unknown. Where the
// kernel overcommits (Linux's mode 1, as on the GPU machines), posix_memalign grants a block of
// any size and the process is killed when its pages are touched: md.zeros((1 << 40,)) took a
// pytest worker down there; a block larger than this is refused up front instead.
size_t machine_memory() {
#if defined(__linux__)
  static const size_t total = [] {
    struct sysinfo info{};
    if (sysinfo(&info) != 0) return size_t(0);
    return (static_cast<size_t>(info.totalram) + info.totalswap) * info.mem_unit;
  }();
  return total;
#else
  return 0;
#endif
}

void* system_alloc(size_t n) {
  void* p = nullptr;
  const bool huge = n >= kHugeMin;
  if (posix_memalign(&p, huge ? kHugePage : kAlign, n) != 0) return nullptr;
#if defined(MADV_HUGEPAGE)
  if (huge) madvise(p, n, MADV_HUGEPAGE);  // a hint: ignored where THP is off
#endif
  return p;
}

}  // namespace

void* cpu_alloc(size_t nbytes) {
  const size_t most = machine_memory();
  if (most != 0 && nbytes > most)
    throw OutOfMemoryError(str("out of memory: could not allocate ", nbytes, " bytes (", nbytes / double(1 << 20),
                               " MiB) on the CPU, more than this machine's memory and swap (", most / double(1 << 20),
                               " MiB)"));
  size_t n = round_size(nbytes == 0 ? 1 : nbytes);
  auto& c = cache();
  void* p = nullptr;
  if (n >= kCacheMin) {
    std::lock_guard<std::mutex> lock(c.mu);
    // best fit, wasting at most an eighth of the block
    auto it = c.free_blocks.lower_bound(n);
    if (it != c.free_blocks.end() && it->first <= n + n / 8) {
      p = it->second;
      n = it->first;
      c.free_blocks.erase(it);
      c.cached -= n;
    }
  }
  if (!p) {
    p = system_alloc(n);
    if (!p) {
      cpu_empty_cache();
      p = system_alloc(n);
    }
    if (!p)
      throw OutOfMemoryError(
          str("out of memory: could not allocate ", nbytes, " bytes (", nbytes / double(1 << 20), " MiB) on the CPU"));
  }
  std::lock_guard<std::mutex> lock(c.mu);
  if (n >= kCacheMin) c.large_live[p] = n;
  c.allocated += static_cast<int64_t>(n);
  if (c.allocated > c.peak) c.peak = c.allocated;
  return p;
}

void cpu_free(void* ptr, size_t nbytes) {
  if (!ptr) return;
  size_t n = round_size(nbytes == 0 ? 1 : nbytes);
  auto& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  if (n >= kCacheMin) {
    auto it = c.large_live.find(ptr);
    if (it != c.large_live.end()) {
      n = it->second;
      c.large_live.erase(it);
    }
  }
  c.allocated -= static_cast<int64_t>(n);
  if (n >= kCacheMin && c.cached + n <= kCacheLimit) {
    c.free_blocks.emplace(n, ptr);
    c.cached += n;
    return;
  }
  std::free(ptr);
}

CpuMemoryStats cpu_memory_stats() {
  auto& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return CpuMemoryStats{c.allocated, c.peak, static_cast<int64_t>(c.cached)};
}

void cpu_reset_peak() {
  auto& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  c.peak = c.allocated;
}

void cpu_empty_cache() {
  auto& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  for (auto& kv : c.free_blocks) std::free(kv.second);
  c.free_blocks.clear();
  c.cached = 0;
}

}  // namespace md

// ---- storage, dispatched by device
#include "kernels.h"

namespace md {

std::shared_ptr<Storage> allocate_storage(size_t nbytes, Device device) {
  void* p = MD_DISPATCH(device, device_alloc, nbytes);
  return std::make_shared<Storage>(p, nbytes, device,
                                   [device, nbytes](void* q) { MD_DISPATCH(device, device_free, q, nbytes); });
}

}  // namespace md
