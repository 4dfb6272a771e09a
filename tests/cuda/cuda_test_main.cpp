// The CUDA tests' main: runs doctest when a CUDA device is usable, otherwise says why and exits
// with 77, which CTest reports as a skip.
#define DOCTEST_CONFIG_IMPLEMENT
#include <cuda_runtime_api.h>
#include <doctest/doctest.h>

#include <cstdio>

int main(int argc, char** argv) {
  int devices = 0;
  const cudaError_t status = cudaGetDeviceCount(&devices);
  if (status != cudaSuccess || devices == 0) {
    std::printf("SKIPPED: no usable CUDA device (cudaGetDeviceCount: %s, %d devices)\n",
                status == cudaSuccess ? "success" : cudaGetErrorName(status), devices);
    return 77;
  }
  doctest::Context context(argc, argv);
  return context.run();
}
