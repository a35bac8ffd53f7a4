// A minimal test harness: TEST(name) registers a function, CHECK* record failures with file and
// line, and main() runs every test and returns non-zero when any check failed.
#pragma once

#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace check {

struct Registry {
  std::vector<std::pair<std::string, std::function<void()>>> tests;
  int failures = 0;
  static Registry& get() {
    static Registry r;
    return r;
  }
};

struct Register {
  Register(const char* name, std::function<void()> fn) { Registry::get().tests.emplace_back(name, std::move(fn)); }
};

inline void fail(const char* file, int line, const std::string& what) {
  std::fprintf(stderr, "%s:%d: FAILED: %s\n", file, line, what.c_str());
  ++Registry::get().failures;
}

}  // namespace check

#define TEST(name)                                       \
  static void name();                                    \
  static check::Register name##_registered(#name, name); \
  static void name()

#define CHECK(cond)                                      \
  do {                                                   \
    if (!(cond)) check::fail(__FILE__, __LINE__, #cond); \
  } while (0)

#define CHECK_NEAR(a, b, tol)                                                                        \
  do {                                                                                               \
    const double va = (a), vb = (b);                                                                 \
    if (!(std::fabs(va - vb) <= (tol)))                                                              \
      check::fail(__FILE__, __LINE__,                                                                \
                  std::string(#a " ~ " #b ": ") + std::to_string(va) + " vs " + std::to_string(vb)); \
  } while (0)

#define CHECK_THROWS(expr, Exc)                                                 \
  do {                                                                          \
    bool thrown = false;                                                        \
    try {                                                                       \
      (void)(expr);                                                             \
    } catch (const Exc&) {                                                      \
      thrown = true;                                                            \
    }                                                                           \
    if (!thrown) check::fail(__FILE__, __LINE__, #expr " did not throw " #Exc); \
  } while (0)

int main() {
  for (auto& [name, fn] : check::Registry::get().tests) {
    const int before = check::Registry::get().failures;
    try {
      fn();
    } catch (const std::exception& e) {
      check::fail(__FILE__, __LINE__, name + " threw: " + e.what());
    }
    std::printf("%s %s\n", check::Registry::get().failures == before ? "ok  " : "FAIL", name.c_str());
  }
  return check::Registry::get().failures == 0 ? 0 : 1;
}
