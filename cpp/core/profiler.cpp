// Profiler state: a mutex-guarded map of totals, filled only while profiling is on.
#include "core/profiler.h"

#include <chrono>
#include <mutex>

#include "core/autograd.h"
#include "kernels.h"

namespace md::profiler {

std::atomic<bool> g_enabled{false};
thread_local int t_depth = 0;

namespace {
std::mutex g_mu;
std::map<std::string, OpStats> g_stats;
bool g_sync_cuda = false;
}  // namespace

void enable(bool on, bool synchronize_cuda) {
  g_sync_cuda = synchronize_cuda && cuda_built();
  g_enabled.store(on);
  if (on)
    set_backward_observer([](const char* name, double s) {
      if (t_depth == 0) add(std::string(name) + "_backward", s);
    });
  else
    set_backward_observer(nullptr);
}

bool enabled() { return g_enabled.load(); }

std::map<std::string, OpStats> snapshot() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_stats;
}

void reset() {
  std::lock_guard<std::mutex> lock(g_mu);
  g_stats.clear();
}

void add(const std::string& name, double seconds) {
  std::lock_guard<std::mutex> lock(g_mu);
  auto& s = g_stats[name];
  s.calls += 1;
  s.seconds += seconds;
}

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void sync_if_needed() {
  if (g_sync_cuda) MD_DISPATCH(kCuda0, synchronize);
}

}  // namespace md::profiler
