# Every third-party dependency is found here, once; see ../shared/notes/build-stack.md.
find_package(Threads REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
find_package(absl CONFIG REQUIRED)

# Debian's OpenBLAS config gives only variables: wrap them in a target with its own include dir.
find_package(OpenBLAS CONFIG REQUIRED)
add_library(mlaserve_openblas INTERFACE)
target_include_directories(mlaserve_openblas SYSTEM INTERFACE ${OpenBLAS_INCLUDE_DIRS})
target_link_libraries(mlaserve_openblas INTERFACE ${OpenBLAS_LIBRARIES})

find_package(Gloo CONFIG REQUIRED)
find_package(Protobuf REQUIRED)
find_package(gRPC CONFIG REQUIRED)
# libcrypto (gRPC's own TLS library): checks --tls-cert/--tls-key before serving (rpc/tls_files).
find_package(OpenSSL REQUIRED)

if(MLASERVE_BUILD_TESTS)
  find_package(GTest REQUIRED)
  include(GoogleTest)
endif()
if(MLASERVE_BUILD_BENCHMARKS)
  find_package(benchmark REQUIRED)
endif()
