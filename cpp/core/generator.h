// Seeded, counter-based generator. Its whole state is (seed, offset): each draw of n numbers uses
// counters offset .. offset + ceil(n/4) - 1 and advances offset past them, so the numbers depend
// only on the seed and the sequence of draws, never on the device that computes them.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "core/common.h"

namespace md {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0, Device device = {}) : seed_(seed), device_(device) {}

  void manual_seed(uint64_t seed) {
    seed_ = seed;
    offset_ = 0;
  }
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset) {
    seed_ = seed;
    offset_ = offset;
  }
  Device device() const { return device_; }

  // Reserves counters for n numbers; returns the first counter.
  uint64_t take(int64_t n) {
    const uint64_t start = offset_;
    offset_ += static_cast<uint64_t>((n + 3) / 4);
    return start;
  }

 private:
  uint64_t seed_;
  uint64_t offset_ = 0;
  Device device_;
};

// The default generator used when none is passed (md.manual_seed seeds it): the process's one,
// or this thread's own while set_thread_default_generator gave it one.
Generator& default_generator();
// Gives the calling thread its own default generator seeded with seed (nullopt: back to the
// process's). md.data's prefetch thread seeds one per batch, so that random transforms in a
// dataset are repeatable and do not draw from the training loop's stream.
void set_thread_default_generator(std::optional<uint64_t> seed);

}  // namespace md
