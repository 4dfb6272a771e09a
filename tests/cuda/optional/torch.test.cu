// LibTorch CUDA tensors through the torch adapter: device views of them are read and written by
// the CUDA backend on the tensor's own stream, and give what the same routines give on the
// tensor's CPU copy. Built only where LibTorch has CUDA (tests/cuda/CMakeLists.txt).
#include "pollard/adapters/torch.hpp"

#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>

#include "pollard/core/error.hpp"
#include "pollard/core/view.hpp"
#include "pollard/cuda.cuh"
#include "support/naive_masks.hpp"
#include "support/random.hpp"

using namespace pollard;
namespace gpu = pollard::cuda;

namespace {

/// The tensor's values, copied to the host, as the tests' dense matrix.
test::dense_matrix<float> host_copy(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kCPU, at::kFloat).contiguous();
  test::dense_matrix<float> m(c.size(0), c.size(1));
  const float* const values = c.data_ptr<float>();
  for (std::size_t k = 0; k < m.values.size(); ++k) m.values[k] = values[k];
  return m;
}

at::Tensor random_cuda(std::int64_t rows, std::int64_t cols, at::ScalarType type) {
  at::manual_seed(7);
  return at::randn({rows, cols}, at::TensorOptions().dtype(type).device(at::kCUDA));
}

}  // namespace

TEST_CASE("magnitude scores and a 50 % mask of a CUDA tensor, on torch's stream") {
  if (!at::hasCUDA()) {
    MESSAGE("LibTorch sees no CUDA device");
    return;
  }
  const at::Tensor w = random_cuda(96, 512, at::kFloat);
  at::Tensor scores = at::empty_like(w);
  const auto policy = gpu::par.on(at::cuda::getCurrentCUDAStream().stream());
  gpu::score(policy, magnitude{}, view_as<const float, device_space>(w), criterion_inputs<float>{},
             view_as<float, device_space>(scores));
  // The scores were written into the torch tensor: torch reads them back as |w|.
  CHECK(at::equal(scores, w.abs()));
  const auto m =
      gpu::select_mask(policy, unstructured{0.5}, view_as<const float, device_space>(scores));
  CHECK(m.to_host() == test::naive_per_row(host_copy(scores).view(), 0.5));
}

TEST_CASE("a transposed and a bfloat16 CUDA tensor keep their strides and values") {
  if (!at::hasCUDA()) return;
  const at::Tensor x = random_cuda(64, 48, at::kFloat);
  const at::Tensor xt = x.t();  // 48 x 64, strides (1, 48)
  const auto v = view_as<const float, device_space>(xt);
  CHECK(v.rows() == 48);
  CHECK(v.cols() == 64);
  CHECK(v.row_stride() == 1);
  CHECK(v.col_stride() == 48);
  const auto moments = gpu::moments_of_columns<double>(gpu::par, v);
  const auto expected_sum = xt.to(at::kDouble).sum(0).cpu();
  const auto expected_sq = xt.to(at::kDouble).pow(2).sum(0).cpu();
  for (std::int64_t j = 0; j < 64; ++j) {
    CHECK(std::abs(moments.sum[j] - expected_sum[j].item<double>()) <= 1e-9);
    CHECK(std::abs(moments.sum_squares[j] - expected_sq[j].item<double>()) <= 1e-9);
  }
  const at::Tensor b = random_cuda(32, 256, at::kBFloat16);
  const auto m =
      gpu::select_mask(gpu::par, n_m::pruned_of(2, 4), view_as<const bfloat16, device_space>(b));
  CHECK(m.to_host() == test::naive_n_m(host_copy(b).view(), 2, 4));
}

TEST_CASE("a CUDA tensor is refused for a host view, with both devices named") {
  if (!at::hasCUDA()) return;
  const at::Tensor w = random_cuda(4, 4, at::kFloat);
  CHECK_THROWS_WITH_AS(view_as<const float>(w),
                       "torch::Tensor: expected device cpu for a host view, got cuda:0",
                       adapter_error);
}
