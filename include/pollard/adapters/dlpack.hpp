// pollard — DLPack adapter: pollard::view_as<T, Space>(dl_tensor), checked at run time.
//
// Written against DLPack 0.6 (DLPACK_VERSION 60, Debian libdlpack-dev): DLTensor with
// device/dtype/shape/strides/byte_offset. Rules:
//   - ndim 2 is a rows x cols matrix; ndim 1 of length n is viewed as a 1 x n row (a vector of
//     per-channel values lines up with the columns of a weight matrix); any other ndim is an error;
//   - a host_space view needs device kDLCPU, a device_space view needs kDLCUDA;
//   - dtype float32, float64, float16, bfloat16 (1 lane) give float, double, pollard::half,
//     pollard::bfloat16; T may be const-qualified;
//   - strides == NULL means compact row-major; strides are in elements and must be >= 0;
//   - byte_offset is added to data, and the result must be aligned for T.
// Every mismatch throws adapter_error naming what was expected and what was found.
#pragma once

#include <dlpack/dlpack.h>

#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>

#include "pollard/core/checks.hpp"
#include "pollard/core/config.hpp"
#include "pollard/core/dtype.hpp"
#include "pollard/core/element_types.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/matrix_view.hpp"
#include "pollard/core/memory_space.hpp"
#include "pollard/core/view.hpp"

namespace pollard {

/// The DLPack (code, bits, lanes = 1) of a dtype; nothing for the ones DLPack has no code for
/// (bool and the block-quantised types).
constexpr std::optional<DLDataType> dlpack_dtype(dtype t) noexcept {
  switch (t) {
    case dtype::f64:
      return DLDataType{kDLFloat, 64, 1};
    case dtype::f32:
      return DLDataType{kDLFloat, 32, 1};
    case dtype::f16:
      return DLDataType{kDLFloat, 16, 1};
    case dtype::bf16:
      return DLDataType{kDLBfloat, 16, 1};
    case dtype::i64:
      return DLDataType{kDLInt, 64, 1};
    case dtype::i32:
      return DLDataType{kDLInt, 32, 1};
    case dtype::i16:
      return DLDataType{kDLInt, 16, 1};
    case dtype::i8:
      return DLDataType{kDLInt, 8, 1};
    case dtype::u8:
      return DLDataType{kDLUInt, 8, 1};
    default:
      return std::nullopt;
  }
}

/// The dtype of a DLPack dtype, or nothing when pollard has none for it.
constexpr std::optional<dtype> dtype_from_dlpack(DLDataType t) noexcept {
  for (int k = 0; k <= static_cast<int>(dtype::q4_1); ++k) {
    const auto d = dlpack_dtype(static_cast<dtype>(k));
    if (d && d->code == t.code && d->bits == t.bits && d->lanes == t.lanes)
      return static_cast<dtype>(k);
  }
  return std::nullopt;
}

namespace detail {

/// The DLPack dtype of a pollard storage type.
template <class T>
constexpr DLDataType dlpack_dtype_of() noexcept {
  return *dlpack_dtype(dtype_of<T>());
}

inline std::string dlpack_dtype_name(DLDataType t) {
  std::string base;
  switch (t.code) {
    case kDLInt:
      base = "int";
      break;
    case kDLUInt:
      base = "uint";
      break;
    case kDLFloat:
      base = "float";
      break;
    case kDLBfloat:
      base = "bfloat";
      break;
    case kDLComplex:
      base = "complex";
      break;
    case kDLOpaqueHandle:
      return "opaque handle";
    default:
      return "unknown";
  }
  std::string name = base + std::to_string(t.bits);
  if (t.lanes != 1) name += "x" + std::to_string(t.lanes);
  return name;
}

inline std::string dlpack_dtype_description(DLDataType t) {
  return dlpack_dtype_name(t) + " (code " + std::to_string(t.code) + ", " + std::to_string(t.bits) +
         " bits, " + std::to_string(t.lanes) + (t.lanes == 1 ? " lane)" : " lanes)");
}

inline std::string dlpack_device_name(DLDeviceType d) {
  switch (d) {
    case kDLCPU:
      return "kDLCPU";
    case kDLCUDA:
      return "kDLCUDA";
    case kDLCUDAHost:
      return "kDLCUDAHost";
    case kDLOpenCL:
      return "kDLOpenCL";
    case kDLVulkan:
      return "kDLVulkan";
    case kDLMetal:
      return "kDLMetal";
    case kDLVPI:
      return "kDLVPI";
    case kDLROCM:
      return "kDLROCM";
    case kDLROCMHost:
      return "kDLROCMHost";
    case kDLExtDev:
      return "kDLExtDev";
    case kDLCUDAManaged:
      return "kDLCUDAManaged";
  }
  return "unknown device type " + std::to_string(static_cast<int>(d));
}

template <class T, class Space>
matrix_view<T, Space> view_dltensor(const DLTensor& t) {
  using value = std::remove_const_t<T>;
  constexpr bool host = std::is_same_v<Space, host_space>;
  constexpr DLDeviceType wanted_device = host ? kDLCPU : kDLCUDA;
  if (t.device.device_type != wanted_device)
    throw adapter_error("DLTensor: expected device " + dlpack_device_name(wanted_device) +
                        (host ? " for a host view" : " for a device view") + ", got " +
                        dlpack_device_name(t.device.device_type) + " (device id " +
                        std::to_string(t.device.device_id) + ")");
  constexpr DLDataType wanted = dlpack_dtype_of<value>();
  if (t.dtype.code != wanted.code || t.dtype.bits != wanted.bits || t.dtype.lanes != wanted.lanes)
    throw adapter_error("DLTensor: expected dtype " + dlpack_dtype_name(wanted) + ", got " +
                        dlpack_dtype_description(t.dtype));
  if (t.ndim != 1 && t.ndim != 2)
    throw adapter_error("DLTensor: expected ndim 2 (or 1, viewed as a 1 x n row), got " +
                        std::to_string(t.ndim));
  if (t.shape == nullptr) throw adapter_error("DLTensor: shape is a null pointer");

  const bool matrix = t.ndim == 2;
  const index_t rows = matrix ? static_cast<index_t>(t.shape[0]) : 1;
  const index_t cols = static_cast<index_t>(t.shape[matrix ? 1 : 0]);
  if (rows < 0 || cols < 0)
    throw adapter_error("DLTensor: expected a non-negative shape, got " + shape_text(rows, cols));
  index_t row_stride = cols;
  index_t col_stride = 1;
  if (t.strides != nullptr) {
    col_stride = static_cast<index_t>(t.strides[matrix ? 1 : 0]);
    row_stride = matrix ? static_cast<index_t>(t.strides[0]) : cols * col_stride;
    if (row_stride < 0 || col_stride < 0)
      throw adapter_error("DLTensor: expected non-negative strides, got strides (" +
                          (matrix ? std::to_string(row_stride) + ", " : std::string()) +
                          std::to_string(col_stride) + ")");
  }
  const bool empty = rows == 0 || cols == 0;
  if (t.data == nullptr && !empty)
    throw adapter_error("DLTensor: data is a null pointer for a non-empty " +
                        shape_text(rows, cols) + " tensor");
  // DLPack data may be an opaque handle on some devices; on CPU and CUDA it is an address.
  const auto address = reinterpret_cast<std::uintptr_t>(t.data) + t.byte_offset;
  if (address % alignof(value) != 0)
    throw adapter_error("DLTensor: data + byte_offset " + std::to_string(t.byte_offset) +
                        " is not aligned to " + std::to_string(alignof(value)) + " bytes for " +
                        dlpack_dtype_name(wanted));
  return matrix_view<T, Space>(reinterpret_cast<T*>(address), rows, cols, row_stride, col_stride);
}

}  // namespace detail

/// DLTensor is runtime-typed: use pollard::view_as<T>(t) (host) or view_as<T, device_space>(t).
template <>
struct view_traits<DLTensor> {
  template <class T, class Space>
  requires storage_type<std::remove_const_t<T>>
  static matrix_view<T, Space> make(const DLTensor& t, view_tag<T, Space>) {
    return detail::view_dltensor<T, Space>(t);
  }
};

/// A DLManagedTensor is viewed through its dl_tensor; ownership stays with the producer.
template <>
struct view_traits<DLManagedTensor> {
  template <class T, class Space>
  requires storage_type<std::remove_const_t<T>>
  static matrix_view<T, Space> make(const DLManagedTensor& t, view_tag<T, Space>) {
    return detail::view_dltensor<T, Space>(t.dl_tensor);
  }
};

// A DLTensor is only a descriptor of memory owned elsewhere.
template <>
inline constexpr bool enable_borrowed_view<DLTensor> = true;

}  // namespace pollard
