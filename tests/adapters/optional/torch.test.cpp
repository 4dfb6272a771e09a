#include "pollard/adapters/torch.hpp"

#include <ATen/ATen.h>
#include <doctest/doctest.h>

#include <type_traits>

#include "pollard/core/element_types.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/view.hpp"

using pollard::index_t;

namespace {

static_assert(!pollard::viewable<at::Tensor>);  // runtime-typed: the element type must be named
static_assert(pollard::viewable_as<at::Tensor, float>);
static_assert(pollard::viewable_as<const at::Tensor, const double>);
static_assert(pollard::viewable_as<at::Tensor, pollard::half>);
static_assert(pollard::viewable_as<at::Tensor, pollard::bfloat16, pollard::device_space>);
static_assert(!pollard::viewable_as<at::Tensor, int>);
// A temporary tensor may hold the last reference to its storage: viewing one does not compile.
static_assert(!std::is_invocable_v<decltype(pollard::view_as<float>), at::Tensor>);

// Reference: torch's own element access, one element at a time.
template <class V>
void check_same_elements(const V& v, const at::Tensor& t) {
  const bool matrix = t.dim() == 2;
  REQUIRE(v.rows() == (matrix ? t.size(0) : 1));
  REQUIRE(v.cols() == t.size(matrix ? 1 : 0));
  for (index_t i = 0; i < v.rows(); ++i)
    for (index_t j = 0; j < v.cols(); ++j) {
      const double expected = (matrix ? t[i][j] : t[j]).item<double>();
      CHECK(static_cast<double>(static_cast<float>(v(i, j))) == expected);
    }
}

at::Tensor counting(std::int64_t rows, std::int64_t cols, at::ScalarType type) {
  return at::arange(rows * cols, at::TensorOptions().dtype(type)).reshape({rows, cols});
}

}  // namespace

TEST_CASE("a contiguous CPU tensor is viewed row-major and writes reach the tensor") {
  for (auto [rows, cols] : {std::pair<std::int64_t, std::int64_t>{3, 5}, {1, 4}, {6, 1}}) {
    auto t = counting(rows, cols, at::kFloat);
    auto v = pollard::view_as<float>(t);
    CHECK(v.data() == t.data_ptr());
    CHECK(v.is_row_major_contiguous());
    check_same_elements(v, t);
  }
  auto t = counting(2, 3, at::kDouble);
  pollard::view_as<double>(t)(1, 2) = -4.0;
  CHECK(t[1][2].item<double>() == -4.0);
}

TEST_CASE("transposed, sliced and strided tensors are addressed by their strides and offset") {
  auto base = counting(6, 8, at::kFloat);
  auto transposed = base.t();
  check_same_elements(pollard::view_as<float>(transposed), transposed);
  auto sliced = base.slice(0, 1, 5).slice(1, 2, 7);  // storage offset 10
  check_same_elements(pollard::view_as<float>(sliced), sliced);
  auto stepped = base.slice(0, 0, 6, 2).slice(1, 1, 8, 3);
  check_same_elements(pollard::view_as<const float>(stepped), stepped);
  auto column = base.select(1, 3);  // 1-D, stride 8: a 1 x 6 row
  check_same_elements(pollard::view_as<float>(column), column);
  auto broadcast = at::arange(4, at::kFloat).expand({3, 4});  // row stride 0
  check_same_elements(pollard::view_as<float>(broadcast), broadcast);
}

TEST_CASE("float64, float16 and bfloat16 tensors give double, half and bfloat16 views") {
  auto d = counting(3, 4, at::kDouble);
  check_same_elements(pollard::view_as<double>(d), d);
  auto h = counting(3, 4, at::kHalf);
  check_same_elements(pollard::view_as<pollard::half>(h), h);
  auto b = counting(3, 4, at::kBFloat16);
  check_same_elements(pollard::view_as<pollard::bfloat16>(b), b);
}

TEST_CASE("a tensor of the wrong dtype is rejected with both dtypes named") {
  auto d = counting(2, 2, at::kDouble);
  CHECK_THROWS_WITH_AS(pollard::view_as<float>(d),
                       "torch::Tensor: expected dtype Float, got Double", pollard::adapter_error);
  auto f = counting(2, 2, at::kFloat);
  CHECK_THROWS_WITH_AS(pollard::view_as<pollard::half>(f),
                       "torch::Tensor: expected dtype Half, got Float", pollard::adapter_error);
  auto i = counting(2, 2, at::kInt);
  CHECK_THROWS_WITH_AS(pollard::view_as<pollard::bfloat16>(i),
                       "torch::Tensor: expected dtype BFloat16, got Int", pollard::adapter_error);
}

TEST_CASE("a CPU tensor is refused for a device view") {
  auto f = counting(2, 2, at::kFloat);
  CHECK_THROWS_WITH_AS((pollard::view_as<float, pollard::device_space>(f)),
                       "torch::Tensor: expected device cuda for a device view, got cpu",
                       pollard::adapter_error);
}

TEST_CASE("tensors of dim 0 or 3 are rejected") {
  auto cube = at::zeros({2, 3, 4}, at::kFloat);
  CHECK_THROWS_WITH_AS(pollard::view_as<float>(cube),
                       "torch::Tensor: expected dim 2 (or 1, viewed as a 1 x n row), got 3",
                       pollard::adapter_error);
  auto scalar = at::scalar_tensor(1.0, at::kFloat);
  CHECK_THROWS_WITH_AS(pollard::view_as<float>(scalar),
                       "torch::Tensor: expected dim 2 (or 1, viewed as a 1 x n row), got 0",
                       pollard::adapter_error);
}

TEST_CASE("sparse and undefined tensors are rejected") {
  auto sparse = at::eye(3, at::kFloat).to_sparse();
  CHECK_THROWS_WITH_AS(pollard::view_as<float>(sparse),
                       "torch::Tensor: expected layout Strided, got Sparse",
                       pollard::adapter_error);
  at::Tensor undefined;
  CHECK_THROWS_WITH_AS(pollard::view_as<float>(undefined),
                       "torch::Tensor: expected a defined tensor, got undefined",
                       pollard::adapter_error);
}
