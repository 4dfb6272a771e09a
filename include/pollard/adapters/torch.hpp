// pollard — LibTorch adapter: pollard::view_as<T, Space>(tensor) for a torch::Tensor (at::Tensor),
// checked at run time.
//
// Rules: the layout must be strided (not sparse or mkldnn); dim 2 is a rows x cols matrix and
// dim 1 of length n a 1 x n row (as in the DLPack adapter); a host_space view needs a CPU tensor,
// a device_space view a CUDA one; dtype float32, float64, float16, bfloat16 give float, double,
// pollard::half, pollard::bfloat16; strides (in elements) must be non-negative. The view starts
// at data_ptr(), so the storage offset of a sliced tensor is included. It does not keep the
// tensor alive: hold the tensor as long as the view is used.
#pragma once

#include <ATen/core/Tensor.h>

#include <sstream>
#include <string>
#include <type_traits>

#include "pollard/core/config.hpp"
#include "pollard/core/element_types.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/core/memory_space.hpp"
#include "pollard/core/view.hpp"

namespace pollard {

namespace detail {

template <class T>
constexpr c10::ScalarType torch_scalar_type_of() noexcept {
  if constexpr (std::is_same_v<T, float>) {
    return c10::ScalarType::Float;
  } else if constexpr (std::is_same_v<T, double>) {
    return c10::ScalarType::Double;
  } else if constexpr (std::is_same_v<T, half>) {
    return c10::ScalarType::Half;
  } else {
    static_assert(std::is_same_v<T, bfloat16>, "LibTorch adapter: T must be a storage_type");
    return c10::ScalarType::BFloat16;
  }
}

template <class T, class Space>
matrix_view<T, Space> view_torch_tensor(const at::Tensor& t) {
  using value = std::remove_const_t<T>;
  if (!t.defined()) throw adapter_error("torch::Tensor: expected a defined tensor, got undefined");
  if (t.layout() != c10::kStrided) {
    std::ostringstream found;
    found << t.layout();
    throw adapter_error("torch::Tensor: expected layout Strided, got " + found.str());
  }
  constexpr bool host = std::is_same_v<Space, host_space>;
  const bool device_ok = host ? t.device().is_cpu() : t.device().is_cuda();
  if (!device_ok)
    throw adapter_error(std::string("torch::Tensor: expected device ") +
                        (host ? "cpu for a host view" : "cuda for a device view") + ", got " +
                        t.device().str());
  constexpr c10::ScalarType wanted = torch_scalar_type_of<value>();
  if (t.scalar_type() != wanted)
    throw adapter_error(std::string("torch::Tensor: expected dtype ") + c10::toString(wanted) +
                        ", got " + c10::toString(t.scalar_type()));
  const auto dim = t.dim();
  if (dim != 1 && dim != 2)
    throw adapter_error("torch::Tensor: expected dim 2 (or 1, viewed as a 1 x n row), got " +
                        std::to_string(dim));
  const bool matrix = dim == 2;
  const index_t rows = matrix ? static_cast<index_t>(t.size(0)) : 1;
  const index_t cols = static_cast<index_t>(t.size(matrix ? 1 : 0));
  const index_t col_stride = static_cast<index_t>(t.stride(matrix ? 1 : 0));
  const index_t row_stride = matrix ? static_cast<index_t>(t.stride(0)) : cols * col_stride;
  if (row_stride < 0 || col_stride < 0)
    throw adapter_error("torch::Tensor: expected non-negative strides, got strides (" +
                        std::to_string(row_stride) + ", " + std::to_string(col_stride) + ")");
  return matrix_view<T, Space>(static_cast<T*>(t.data_ptr()), rows, cols, row_stride, col_stride);
}

}  // namespace detail

/// torch::Tensor is runtime-typed: use pollard::view_as<T>(t) (CPU) or view_as<T, device_space>(t).
template <>
struct view_traits<at::Tensor> {
  template <class T, class Space>
  requires storage_type<std::remove_const_t<T>>
  static matrix_view<T, Space> make(const at::Tensor& t, view_tag<T, Space>) {
    return detail::view_torch_tensor<T, Space>(t);
  }
};

}  // namespace pollard
