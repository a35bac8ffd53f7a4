// Per-op wall-time totals for `md.profiler`: forward ops open an OpScope, backward closures are
// timed by the engine's observer. Off by default; when off an OpScope costs one relaxed load.
#pragma once

#include <atomic>
#include <map>
#include <string>

namespace md::profiler {

struct OpStats {
  int64_t calls = 0;
  double seconds = 0.0;
};

extern std::atomic<bool> g_enabled;
// Ops nest (a backward closure, or an op built from other ops): only the outermost scope records,
// so the totals add up to the time of the step.
extern thread_local int t_depth;
void enable(bool on, bool synchronize_cuda);
bool enabled();
// name -> totals, forward ops under their own name, backward closures under "<name>_backward".
std::map<std::string, OpStats> snapshot();
void reset();
void add(const std::string& name, double seconds);
double now_seconds();
void sync_if_needed();

class OpScope {
 public:
  explicit OpScope(const char* name) : name_(name), active_(t_depth == 0 && g_enabled.load(std::memory_order_relaxed)) {
    ++t_depth;
    if (active_) {
      sync_if_needed();
      t0_ = now_seconds();
    }
  }
  ~OpScope() {
    --t_depth;
    if (active_) {
      sync_if_needed();
      add(name_, now_seconds() - t0_);
    }
  }
  OpScope(const OpScope&) = delete;
  OpScope& operator=(const OpScope&) = delete;

 private:
  const char* name_;
  bool active_;
  double t0_ = 0.0;
};

}  // namespace md::profiler

#define MD_PROFILE_CONCAT2(a, b) a##b
#define MD_PROFILE_CONCAT(a, b) MD_PROFILE_CONCAT2(a, b)
#define MD_PROFILE(name) ::md::profiler::OpScope MD_PROFILE_CONCAT(md_profile_scope_, __LINE__)(name)
