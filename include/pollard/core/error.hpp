// pollard — error types. Every bad input raises one of these before any output is written.
#pragma once

#include <stdexcept>
#include <string>

namespace pollard {

/// Base of every exception pollard throws.
class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Operands whose shapes do not fit together (rows/cols/lengths).
class shape_error : public error {
 public:
  using error::error;
};

/// A NaN or an infinity where finite numbers are required.
class non_finite_error : public error {
 public:
  using error::error;
};

/// An option outside its domain: sparsity outside [0, 1), N >= M, M not dividing d_in, ...
class option_error : public error {
 public:
  using error::error;
};

/// A Hessian that cannot be factored even after the bounded damping retries.
class factorisation_error : public error {
 public:
  using error::error;
};

/// Statistics asked for before any sample was accumulated.
class empty_statistics_error : public error {
 public:
  using error::error;
};

/// A runtime-typed tensor (DLPack, LibTorch) with the wrong dtype, device, rank or strides.
class adapter_error : public error {
 public:
  using error::error;
};

/// A file that is truncated, malformed or hostile (bad magic, sizes or offsets out of bounds).
class format_error : public error {
 public:
  using error::error;
};

/// An I/O failure (cannot open, read or write a file).
class io_error : public error {
 public:
  using error::error;
};

}  // namespace pollard
