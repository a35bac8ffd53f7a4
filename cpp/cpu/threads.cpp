// The CPU thread count. OpenMP keeps it per calling thread (omp_set_num_threads sets the caller's
// own setting, and a thread started later begins at the default), but md.set_num_threads is one
// process-wide setting, as torch's is: every CPU dispatch applies the latest setting to its thread
// first, which costs a thread-local compare once it has.
#include <omp.h>

#include <atomic>
#include <cstdint>

#include "kernels.h"

namespace md::cpu {

namespace {
std::atomic<int> g_threads{0};          // the setting (0 until set: OpenMP's default)
std::atomic<uint64_t> g_generation{0};  // bumped by each set
thread_local uint64_t t_applied = 0;    // the generation this thread applied
}  // namespace

void set_num_threads(int n) {
  g_threads.store(n, std::memory_order_relaxed);
  g_generation.fetch_add(1, std::memory_order_release);
  apply_num_threads();
}

void apply_num_threads() {
  const uint64_t generation = g_generation.load(std::memory_order_acquire);
  if (t_applied == generation) return;
  t_applied = generation;
  omp_set_num_threads(g_threads.load(std::memory_order_relaxed));
}

int get_num_threads() {
  apply_num_threads();
  return omp_get_max_threads();
}

}  // namespace md::cpu
