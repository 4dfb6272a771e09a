#include <dlpack/dlpack.h>
#include <doctest/doctest.h>

#include <cstdint>
#include <span>
#include <vector>

#include "cuda/cpu_reference.hpp"
#include "cuda/device_data.cuh"
#include "pollard/backends/cuda/dlpack_view.cuh"
#include "pollard/cuda.cuh"
#include "support/random.hpp"

using namespace pollard;
namespace gpu = pollard::cuda;

namespace {

/// A DLTensor over device (or host) memory with caller-owned shape and strides.
struct dl_tensor {
  std::vector<std::int64_t> shape, strides;
  DLTensor tensor{};

  dl_tensor(void* data, DLDeviceType device, int device_id, std::vector<std::int64_t> shape_,
            std::vector<std::int64_t> strides_ = {})
      : shape(std::move(shape_)), strides(std::move(strides_)) {
    tensor.data = data;
    tensor.device = DLDevice{device, device_id};
    tensor.ndim = static_cast<int>(shape.size());
    tensor.dtype = DLDataType{kDLFloat, 32, 1};
    tensor.shape = shape.data();
    tensor.strides = strides.empty() ? nullptr : strides.data();
  }
};

int current_device() {
  int device = 0;
  REQUIRE(cudaGetDevice(&device) == cudaSuccess);
  return device;
}

}  // namespace

TEST_CASE("a kDLCUDA DLPack tensor is a device view the CUDA routines take, equal to the CPU") {
  const auto scores = test::random_normal<float>(64, 96, 70);
  const test::device_matrix<float> device(scores);
  const dl_tensor t(device.buffer.data(), kDLCUDA, current_device(), {64, 96});
  const device_view<float> v = gpu::view_dlpack<float>(t.tensor);
  CHECK(v.data() == device.buffer.data());
  CHECK(v.rows() == 64);
  CHECK(v.cols() == 96);
  const auto policy = n_m::pruned_of(2, 4);
  CHECK(gpu::select_mask(gpu::par, policy, v).to_host() ==
        test::cpu::select(policy, scores.view()));

  // A strided one: every other row, columns 8..71 (byte_offset), as PyTorch's slicing gives.
  dl_tensor strided(device.buffer.data(), kDLCUDA, current_device(), {32, 64}, {192, 1});
  strided.tensor.byte_offset = 8 * sizeof(float);
  const auto sv = gpu::view_dlpack<const float>(strided.tensor);
  test::dense_matrix<float> host_part(32, 64);
  for (index_t i = 0; i < 32; ++i)
    for (index_t j = 0; j < 64; ++j) host_part(i, j) = scores(2 * i, 8 + j);
  CHECK(gpu::select_mask(gpu::par, policy, sv).to_host() ==
        test::cpu::select(policy, host_part.view()));

  // The managed-tensor form views the same memory.
  DLManagedTensor managed{};
  managed.dl_tensor = t.tensor;
  CHECK(gpu::view_dlpack<float>(managed).data() == device.buffer.data());
}

TEST_CASE("DLPack tensors on the wrong device are refused with a message naming both") {
  std::vector<float> host(12, 1.0f);
  const dl_tensor on_host(host.data(), kDLCPU, 0, {3, 4});
  CHECK_THROWS_WITH_AS(gpu::view_dlpack<float>(on_host.tensor),
                       "DLTensor: expected device kDLCUDA for a device view, got kDLCPU (device "
                       "id 0)",
                       adapter_error);
  const gpu::device_buffer<float> memory(12);
  const dl_tensor on_device(memory.data(), kDLCUDA, current_device(), {3, 4});
  // A host routine asks for a host view: refused at run time (and at compile time for a device
  // view: the failtest beside this file).
  CHECK_THROWS_WITH_AS(
      view_as<float>(on_device.tensor),
      ("DLTensor: expected device kDLCPU for a host view, got kDLCUDA (device id " +
       std::to_string(current_device()) + ")")
          .c_str(),
      adapter_error);
  const dl_tensor elsewhere(memory.data(), kDLCUDA, current_device() + 1, {3, 4});
  CHECK_THROWS_WITH_AS(gpu::view_dlpack<float>(elsewhere.tensor),
                       ("DLTensor: on CUDA device " + std::to_string(current_device() + 1) +
                        " but the current device is " + std::to_string(current_device()) +
                        " (select it with cudaSetDevice first)")
                           .c_str(),
                       adapter_error);
  dl_tensor wrong_type(memory.data(), kDLCUDA, current_device(), {3, 4});
  wrong_type.tensor.dtype = DLDataType{kDLFloat, 64, 1};
  CHECK_THROWS_AS(gpu::view_dlpack<float>(wrong_type.tensor), adapter_error);
}
