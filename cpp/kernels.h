// The one dispatch point between ops and kernels. Ops call MD_DISPATCH(device, kernel, args...),
// which picks the CPU or CUDA twin by the tensors' device at run time; this file and CMake are the
// only places that know whether the CUDA backend was built.
#pragma once

#include <cstddef>

#include "core/common.h"
#include "kernel_types.h"

namespace md::cpu {
#include "kernel_list.inc"

// CPU threads, one process-wide setting (cpu/threads.cpp). apply_num_threads brings the calling
// thread to it: MD_DISPATCH calls it before every CPU kernel.
void set_num_threads(int n);
int get_num_threads();
void apply_num_threads();
}  // namespace md::cpu

#ifdef MINIDIFF_CUDA
namespace md::cuda {
#include "kernel_list.inc"
}  // namespace md::cuda
#define MD_DISPATCH(device, kernel, ...)                \
  ((device).is_cuda() ? ::md::cuda::kernel(__VA_ARGS__) \
                      : (::md::cpu::apply_num_threads(), ::md::cpu::kernel(__VA_ARGS__)))
#else
namespace md {
[[noreturn]] void throw_no_cuda(const char* kernel);
}
// (the CUDA branch throws before it would reach the CPU call that gives the expression its type)
#define MD_DISPATCH(device, kernel, ...)                                               \
  ((device).is_cuda() ? (::md::throw_no_cuda(#kernel), ::md::cpu::kernel(__VA_ARGS__)) \
                      : (::md::cpu::apply_num_threads(), ::md::cpu::kernel(__VA_ARGS__)))
#endif

namespace md {
// Whether this build has the CUDA backend compiled in.
bool cuda_built();
}  // namespace md
