// MD_HOST_DEVICE: a function the CUDA kernels and the CPU code (or CPU tests) share: host and
// device under nvcc, a plain inline function elsewhere. MD_UNROLL: unroll the loop that follows
// (fully, where its trip count is a constant), in either compiler.
#pragma once

#if defined(__CUDACC__)
#define MD_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define MD_HOST_DEVICE inline
#endif

#if defined(__CUDA_ARCH__)
#define MD_UNROLL _Pragma("unroll")
#elif defined(__CUDACC__)  // nvcc's host pass: its front end knows neither pragma there
#define MD_UNROLL
#else
#define MD_UNROLL _Pragma("GCC unroll 16")
#endif
