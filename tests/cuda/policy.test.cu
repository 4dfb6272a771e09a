#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "cuda/device_data.cuh"
#include "pollard/cuda.cuh"

using namespace pollard;
namespace gpu = pollard::cuda;

TEST_CASE("a failed CUDA runtime call throws cuda_error naming the call and its status") {
  CHECK_THROWS_AS(gpu::device_buffer<float>(std::size_t{1} << 50), gpu::cuda_error);
  try {
    gpu::device_buffer<float> too_big(std::size_t{1} << 50);
    FAIL("no exception");
  } catch (const gpu::cuda_error& e) {
    const std::string message = e.what();
    CHECK(message.find("cudaMalloc") != std::string::npos);
    CHECK(message.find("cudaErrorMemoryAllocation") != std::string::npos);
  }
}

TEST_CASE("failed cuBLAS and cuSOLVER calls throw cuda_error naming the call and its status") {
  auto& resources = gpu::par.resources();
  const float one = 1.0f;
  try {
    POLLARD_CUDA_CHECK(cublasSsyrk(resources.cublas(), CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N, -1, 1,
                                   &one, nullptr, 1, &one, nullptr, 1));
    FAIL("no exception");
  } catch (const gpu::cuda_error& e) {
    const std::string message = e.what();
    CHECK(message.find("cublasSsyrk") != std::string::npos);
    CHECK(message.find("CUBLAS_STATUS_INVALID_VALUE") != std::string::npos);
  }
  gpu::device_buffer<int> info(1);
  try {
    // A negative order.
    POLLARD_CUDA_CHECK(cusolverDnSpotrf(resources.cusolver(), CUBLAS_FILL_MODE_LOWER, -1, nullptr,
                                        1, nullptr, 0, info.data()));
    FAIL("no exception");
  } catch (const gpu::cuda_error& e) {
    const std::string message = e.what();
    CHECK(message.find("cusolverDnSpotrf") != std::string::npos);
    CHECK(message.find("CUSOLVER_STATUS_INVALID_VALUE") != std::string::npos);
  }
  // A failed call leaves nothing behind for the next launch check.
  gpu::device_mask empty(1, 1);
  CHECK_NOTHROW(gpu::apply_mask(gpu::par, empty, gpu::device_buffer<float>(1).view(1, 1)));
}

TEST_CASE("par.on(stream) runs on that stream, and copies of the policy share its handles") {
  cudaStream_t stream{};
  REQUIRE(cudaStreamCreate(&stream) == cudaSuccess);
  {
    const auto policy = gpu::par.on(stream);
    const auto copy = policy;
    static_assert(execution_policy<gpu::stream_policy>);
    CHECK(policy.stream() == stream);
    CHECK(&policy.resources() == &copy.resources());
    cudaStream_t bound{};
    REQUIRE(cublasGetStream(policy.resources().cublas(), &bound) == CUBLAS_STATUS_SUCCESS);
    CHECK(bound == stream);
    REQUIRE(cusolverDnGetStream(copy.resources().cusolver(), &bound) == CUSOLVER_STATUS_SUCCESS);
    CHECK(bound == stream);
    CHECK(policy.resources().cublas() == copy.resources().cublas());
    CHECK(&gpu::par.on(stream).resources() != &policy.resources());

    // The workspace grows to the largest request and is reused below it.
    void* const first = policy.resources().workspace(1000);
    CHECK(policy.resources().workspace(10) == first);
    void* const grown = policy.resources().workspace(std::size_t{1} << 24);
    REQUIRE(grown != nullptr);
    CHECK(cudaMemsetAsync(grown, 0, std::size_t{1} << 24, stream) == cudaSuccess);
    policy.resources().synchronize();
  }
  CHECK(cudaStreamDestroy(stream) == cudaSuccess);
}

TEST_CASE("device buffers and masks round-trip through the host") {
  const auto host = test::random_normal<float>(5, 7, 11);
  const test::device_matrix<float> device(host);
  CHECK(device.to_host().values == host.values);
  CHECK_THROWS_AS(device.buffer.view(6, 7), shape_error);

  mask m(5, 7);
  m.prune(0, 0);
  m.prune(4, 6);
  m.prune(2, 3);
  CHECK(gpu::device_mask(m).to_host() == m);
}

TEST_CASE("apply_mask on the device zeroes exactly the pruned weights") {
  const auto host = test::random_normal<float>(33, 70, 12);
  mask m(33, 70);
  for (index_t i = 0; i < 33; ++i)
    for (index_t j = (i % 3); j < 70; j += 3) m.prune(i, j);
  const test::device_matrix<float> w(host);
  gpu::apply_mask(gpu::par, gpu::device_mask(m), w.view());
  const auto out = w.to_host();
  for (index_t i = 0; i < 33; ++i)
    for (index_t j = 0; j < 70; ++j) CHECK(out(i, j) == (m.pruned(i, j) ? 0.0f : host(i, j)));
  CHECK_THROWS_AS(gpu::apply_mask(gpu::par, gpu::device_mask(3, 70), w.view()), shape_error);
}

TEST_CASE("a device view check names the first non-finite entry as the host check does") {
  auto host = test::random_normal<float>(40, 50, 13);
  host(17, 3) = std::numeric_limits<float>::infinity();
  host(21, 0) = std::nanf("");
  const test::device_matrix<float> device(host);
  std::string host_message, device_message;
  try {
    require_finite(host.view(), "check", "x");
  } catch (const non_finite_error& e) {
    host_message = e.what();
  }
  try {
    gpu::detail::require_finite(gpu::par, device_view<const float>(device.view()), "check", "x");
  } catch (const non_finite_error& e) {
    device_message = e.what();
  }
  CHECK(!host_message.empty());
  CHECK(device_message == host_message);
}
