#pragma once
// MLA_HOST_DEVICE marks small inline functions shared by CPU code and CUDA kernels (kernels/
// headers included from both .cc and .cu files): __host__ __device__ under nvcc, inline elsewhere.
#ifndef MLA_HOST_DEVICE
#if defined(__CUDACC__)
#define MLA_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define MLA_HOST_DEVICE inline
#endif
#endif
