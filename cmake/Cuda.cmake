# MLASERVE_CUDA=AUTO builds the CUDA backend when nvcc, the toolkit and NCCL are all found; ON
# requires them; OFF skips it. The language is enabled only once everything is found, so AUTO on a
# half-installed machine falls back to a CPU-only build instead of failing half-way.
set(MLASERVE_HAVE_CUDA OFF)

# AUTO: explain why CUDA is off and stop; ON: fail the configure.
macro(mlaserve_cuda_missing what)
  if(MLASERVE_CUDA STREQUAL "ON")
    message(FATAL_ERROR "MLASERVE_CUDA=ON but ${what}")
  endif()
  message(STATUS "mlaserve: CUDA backend OFF: ${what} (MLASERVE_CUDA=AUTO)")
  return()
endmacro()

if(MLASERVE_CUDA STREQUAL "OFF")
  message(STATUS "mlaserve: CUDA backend OFF (MLASERVE_CUDA=OFF)")
  return()
endif()

if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
  set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
endif()
include(CheckLanguage)
check_language(CUDA)
if(NOT CMAKE_CUDA_COMPILER)
  mlaserve_cuda_missing("no CUDA compiler (nvcc) was found")
endif()

# FindCUDAToolkit locates the toolkit from the nvcc just found.
find_package(CUDAToolkit)
if(NOT CUDAToolkit_FOUND)
  mlaserve_cuda_missing("the CUDA toolkit (cudart, cuBLAS) was not found next to ${CMAKE_CUDA_COMPILER}")
endif()

# NCCL ships no CMake config. Pip-style toolkits put it beside cudart; distro packages in /usr.
find_path(MLASERVE_NCCL_INCLUDE_DIR nccl.h
  HINTS ${NCCL_ROOT} $ENV{NCCL_ROOT} ${CUDAToolkit_INCLUDE_DIRS} ${CUDAToolkit_LIBRARY_ROOT}
  PATH_SUFFIXES include
  PATHS /usr/include)
find_library(MLASERVE_NCCL_LIBRARY nccl
  HINTS ${NCCL_ROOT} $ENV{NCCL_ROOT} ${CUDAToolkit_LIBRARY_DIR} ${CUDAToolkit_LIBRARY_ROOT}
  PATH_SUFFIXES lib lib64
  PATHS /usr/lib/x86_64-linux-gnu)
if(NOT MLASERVE_NCCL_INCLUDE_DIR OR NOT MLASERVE_NCCL_LIBRARY)
  mlaserve_cuda_missing("NCCL was not found (nccl.h: ${MLASERVE_NCCL_INCLUDE_DIR}, libnccl: \
${MLASERVE_NCCL_LIBRARY}); set NCCL_ROOT")
endif()
add_library(mlaserve::nccl UNKNOWN IMPORTED)
set_target_properties(mlaserve::nccl PROPERTIES
  IMPORTED_LOCATION "${MLASERVE_NCCL_LIBRARY}"
  INTERFACE_INCLUDE_DIRECTORIES "${MLASERVE_NCCL_INCLUDE_DIR}")

# Ampere and Hopper: the GPUs we serve on. Two archs keep nvcc time small in CI; override with
# -DCMAKE_CUDA_ARCHITECTURES=... or CUDAARCHS. Must be set before enable_language.
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES AND NOT DEFINED ENV{CUDAARCHS})
  set(CMAKE_CUDA_ARCHITECTURES "80;90" CACHE STRING "CUDA architectures to compile for")
endif()
# Host code in .cu files must see the same compiler as the C++ targets.
if(NOT CMAKE_CUDA_HOST_COMPILER)
  set(CMAKE_CUDA_HOST_COMPILER "${CMAKE_CXX_COMPILER}")
endif()
enable_language(CUDA)

# CMake 3.25 does not know nvcc's C++20 flag (nvcc >= 12 accepts it); tell it.
if(CMAKE_VERSION VERSION_LESS 3.26)
  set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
  set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
endif()
set(CMAKE_CUDA_STANDARD 20)
set(CMAKE_CUDA_STANDARD_REQUIRED ON)
set(CMAKE_CUDA_EXTENSIONS OFF)

set(MLASERVE_HAVE_CUDA ON)
message(STATUS "mlaserve: CUDA backend ON (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, archs "
               "${CMAKE_CUDA_ARCHITECTURES}, NCCL ${MLASERVE_NCCL_LIBRARY})")
