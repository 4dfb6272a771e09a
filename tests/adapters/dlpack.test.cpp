#include "pollard/adapters/dlpack.hpp"

#include <dlpack/dlpack.h>
#include <doctest/doctest.h>

#include <cstdint>
#include <type_traits>
#include <vector>

#include "pollard/core/element_types.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/view.hpp"

using pollard::index_t;
using pollard::matrix_view;

namespace {

static_assert(!pollard::viewable<DLTensor>);  // runtime-typed: the element type must be named
static_assert(pollard::viewable_as<DLTensor, float>);
static_assert(pollard::viewable_as<const DLTensor, const double>);
static_assert(pollard::viewable_as<DLTensor, pollard::half>);
static_assert(pollard::viewable_as<DLTensor, pollard::bfloat16, pollard::device_space>);
static_assert(pollard::viewable_as<DLManagedTensor, float>);
static_assert(!pollard::viewable_as<DLTensor, int>);
static_assert(std::is_invocable_v<decltype(pollard::view_as<float>), DLTensor>);  // borrowed

// A DLTensor over caller-owned shape/stride arrays.
struct dl_fixture {
  std::vector<std::int64_t> shape, strides;
  DLTensor tensor{};

  dl_fixture(void* data, DLDataType dtype, std::vector<std::int64_t> shape_,
             std::vector<std::int64_t> strides_ = {}, DLDeviceType device = kDLCPU)
      : shape(std::move(shape_)), strides(std::move(strides_)) {
    tensor.data = data;
    tensor.device = DLDevice{device, 0};
    tensor.ndim = static_cast<int>(shape.size());
    tensor.dtype = dtype;
    tensor.shape = shape.data();
    tensor.strides = strides.empty() ? nullptr : strides.data();
    tensor.byte_offset = 0;
  }
};

constexpr DLDataType f32{kDLFloat, 32, 1};
constexpr DLDataType f64{kDLFloat, 64, 1};
constexpr DLDataType f16{kDLFloat, 16, 1};
constexpr DLDataType bf16{kDLBfloat, 16, 1};

std::vector<float> iota(std::size_t n) {
  std::vector<float> v(n);
  for (std::size_t k = 0; k < n; ++k) v[k] = static_cast<float>(k);
  return v;
}

}  // namespace

TEST_CASE("a compact DLTensor (null strides) is viewed row-major") {
  auto a = iota(15);
  dl_fixture t(a.data(), f32, {3, 5});
  auto v = pollard::view_as<float>(t.tensor);
  REQUIRE(v.rows() == 3);
  REQUIRE(v.cols() == 5);
  for (index_t i = 0; i < 3; ++i)
    for (index_t j = 0; j < 5; ++j) CHECK(v(i, j) == a[static_cast<std::size_t>(5 * i + j)]);
  v(1, 1) = -1.0f;
  CHECK(a[6] == -1.0f);
}

TEST_CASE("a strided DLTensor (column-major, padded, transposed) is addressed by its strides") {
  auto a = iota(64);
  struct layout {
    std::int64_t rows, cols, rs, cs;
  };
  for (auto l : {layout{3, 4, 1, 3}, layout{3, 4, 9, 2}, layout{5, 2, 1, 7}, layout{2, 6, 0, 1}}) {
    dl_fixture t(a.data(), f32, {l.rows, l.cols}, {l.rs, l.cs});
    auto v = pollard::view_as<const float>(t.tensor);
    REQUIRE(v.rows() == l.rows);
    REQUIRE(v.cols() == l.cols);
    for (index_t i = 0; i < v.rows(); ++i)
      for (index_t j = 0; j < v.cols(); ++j)
        CHECK(v(i, j) == a[static_cast<std::size_t>(i * l.rs + j * l.cs)]);
  }
}

TEST_CASE("a DLTensor's byte_offset moves the first element") {
  auto a = iota(20);
  dl_fixture t(a.data(), f32, {2, 3}, {5, 1});
  t.tensor.byte_offset = 7 * sizeof(float);
  auto v = pollard::view_as<float>(t.tensor);
  CHECK(v(0, 0) == 7.0f);
  CHECK(v(1, 2) == 14.0f);
}

TEST_CASE("a one-dimensional DLTensor of length n is a 1 x n row") {
  auto a = iota(12);
  dl_fixture compact(a.data(), f32, {4});
  auto v = pollard::view_as<float>(compact.tensor);
  CHECK(v.rows() == 1);
  CHECK(v.cols() == 4);
  CHECK(v(0, 3) == 3.0f);
  dl_fixture strided(a.data(), f32, {4}, {3});
  auto s = pollard::view_as<float>(strided.tensor);
  CHECK(s.cols() == 4);
  CHECK(s(0, 3) == 9.0f);
}

TEST_CASE("DLTensor dtypes float64, float16 and bfloat16 map to double, half and bfloat16") {
  std::vector<double> d = {1.5, -2.0, 3.25, 4.0};
  dl_fixture td(d.data(), f64, {2, 2});
  CHECK(pollard::view_as<double>(td.tensor)(1, 0) == 3.25);

  std::vector<pollard::half> h = {pollard::half(0.5f), pollard::half(-1.0f), pollard::half(2.0f)};
  dl_fixture th(h.data(), f16, {1, 3});
  CHECK(static_cast<float>(pollard::view_as<pollard::half>(th.tensor)(0, 2)) == 2.0f);

  std::vector<pollard::bfloat16> b = {pollard::bfloat16(4.0f), pollard::bfloat16(-8.0f)};
  dl_fixture tb(b.data(), bf16, {2});
  CHECK(static_cast<float>(pollard::view_as<pollard::bfloat16>(tb.tensor)(0, 1)) == -8.0f);
}

TEST_CASE("a CUDA DLTensor gives a device view and a CPU one is refused for it") {
  auto a = iota(6);
  dl_fixture t(a.data(), f32, {2, 3}, {}, kDLCUDA);
  auto v = pollard::view_as<float, pollard::device_space>(t.tensor);
  static_assert(std::is_same_v<decltype(v), pollard::device_view<float>>);
  CHECK(v.data() == a.data());
  CHECK(v.row_stride() == 3);
  dl_fixture cpu(a.data(), f32, {2, 3});
  CHECK_THROWS_WITH_AS((pollard::view_as<float, pollard::device_space>(cpu.tensor)),
                       "DLTensor: expected device kDLCUDA for a device view, got kDLCPU "
                       "(device id 0)",
                       pollard::adapter_error);
}

TEST_CASE("a DLManagedTensor is viewed through its dl_tensor") {
  auto a = iota(6);
  dl_fixture t(a.data(), f32, {3, 2});
  DLManagedTensor managed{t.tensor, nullptr, nullptr};
  CHECK(pollard::view_as<float>(managed)(2, 1) == 5.0f);
}

TEST_CASE("a DLTensor on the wrong device is rejected with the device named") {
  auto a = iota(6);
  dl_fixture t(a.data(), f32, {2, 3}, {}, kDLCUDA);
  t.tensor.device.device_id = 1;
  CHECK_THROWS_WITH_AS(pollard::view_as<float>(t.tensor),
                       "DLTensor: expected device kDLCPU for a host view, got kDLCUDA "
                       "(device id 1)",
                       pollard::adapter_error);
}

TEST_CASE("a DLTensor of the wrong dtype is rejected with both dtypes named") {
  auto a = iota(6);
  dl_fixture half_tensor(a.data(), f16, {2, 3});
  CHECK_THROWS_WITH_AS(pollard::view_as<float>(half_tensor.tensor),
                       "DLTensor: expected dtype float32, got float16 (code 2, 16 bits, 1 lane)",
                       pollard::adapter_error);
  dl_fixture int_tensor(a.data(), DLDataType{kDLInt, 32, 1}, {2, 3});
  CHECK_THROWS_WITH_AS(pollard::view_as<double>(int_tensor.tensor),
                       "DLTensor: expected dtype float64, got int32 (code 0, 32 bits, 1 lane)",
                       pollard::adapter_error);
  dl_fixture vector_tensor(a.data(), DLDataType{kDLFloat, 32, 4}, {2, 3});
  CHECK_THROWS_WITH_AS(pollard::view_as<float>(vector_tensor.tensor),
                       "DLTensor: expected dtype float32, got float32x4 (code 2, 32 bits, 4 lanes)",
                       pollard::adapter_error);
  dl_fixture f32_tensor(a.data(), f32, {2, 3});
  CHECK_THROWS_WITH_AS(pollard::view_as<pollard::bfloat16>(f32_tensor.tensor),
                       "DLTensor: expected dtype bfloat16, got float32 (code 2, 32 bits, 1 lane)",
                       pollard::adapter_error);
}

TEST_CASE("a DLTensor with ndim other than 1 or 2 is rejected") {
  auto a = iota(24);
  dl_fixture three(a.data(), f32, {2, 3, 4});
  CHECK_THROWS_WITH_AS(pollard::view_as<float>(three.tensor),
                       "DLTensor: expected ndim 2 (or 1, viewed as a 1 x n row), got 3",
                       pollard::adapter_error);
  dl_fixture scalar(a.data(), f32, {});
  CHECK_THROWS_WITH_AS(pollard::view_as<float>(scalar.tensor),
                       "DLTensor: expected ndim 2 (or 1, viewed as a 1 x n row), got 0",
                       pollard::adapter_error);
}

TEST_CASE("a DLTensor with a negative stride or shape is rejected") {
  auto a = iota(12);
  dl_fixture flipped(a.data() + 11, f32, {3, 4}, {-4, 1});
  CHECK_THROWS_WITH_AS(pollard::view_as<float>(flipped.tensor),
                       "DLTensor: expected non-negative strides, got strides (-4, 1)",
                       pollard::adapter_error);
  dl_fixture flipped_row(a.data() + 3, f32, {4}, {-1});
  CHECK_THROWS_WITH_AS(pollard::view_as<float>(flipped_row.tensor),
                       "DLTensor: expected non-negative strides, got strides (-1)",
                       pollard::adapter_error);
  dl_fixture negative(a.data(), f32, {3, -4});
  CHECK_THROWS_WITH_AS(pollard::view_as<float>(negative.tensor),
                       "DLTensor: expected a non-negative shape, got 3x-4", pollard::adapter_error);
}

TEST_CASE("a DLTensor with null data or a misaligned byte_offset is rejected") {
  dl_fixture null_data(nullptr, f32, {2, 2});
  CHECK_THROWS_WITH_AS(pollard::view_as<float>(null_data.tensor),
                       "DLTensor: data is a null pointer for a non-empty 2x2 tensor",
                       pollard::adapter_error);
  dl_fixture empty(nullptr, f32, {0, 5});
  CHECK(pollard::view_as<float>(empty.tensor).empty());
  auto a = iota(8);
  dl_fixture misaligned(a.data(), f32, {1, 2});
  misaligned.tensor.byte_offset = 2;
  CHECK_THROWS_WITH_AS(pollard::view_as<float>(misaligned.tensor),
                       "DLTensor: data + byte_offset 2 is not aligned to 4 bytes for float32",
                       pollard::adapter_error);
}
