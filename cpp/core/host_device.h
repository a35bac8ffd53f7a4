// MD_HOST_DEVICE: a function the CUDA kernels and the CPU code (or CPU tests) share: host and
// device under nvcc, a plain inline function elsewhere.
#pragma once

#if defined(__CUDACC__)
#define MD_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define MD_HOST_DEVICE inline
#endif
