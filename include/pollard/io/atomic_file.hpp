// pollard — writes a file through a temporary beside it, renamed into place only on success.
#pragma once

#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <system_error>

#include <unistd.h>

#include "pollard/core/error.hpp"

namespace pollard::io {

/// Collects bytes into `<path>.tmp-<pid>`; commit() flushes and renames it over `path`.
/// Destroyed without commit() (an exception on the way), it removes the temporary, so a reader
/// never sees a half-written file.
class atomic_file {
 public:
  explicit atomic_file(std::filesystem::path path)
      : path_(std::move(path)),
        temporary_(path_.string() + ".tmp-" + std::to_string(static_cast<long>(::getpid()))) {
    out_.open(temporary_, std::ios::binary | std::ios::trunc);
    if (!out_) throw io_error("cannot create " + temporary_.string());
  }
  atomic_file(const atomic_file&) = delete;
  atomic_file& operator=(const atomic_file&) = delete;
  ~atomic_file() {
    if (!committed_) {
      out_.close();
      std::error_code ignored;
      std::filesystem::remove(temporary_, ignored);
    }
  }

  void write(std::span<const std::byte> bytes) {
    out_.write(reinterpret_cast<const char*>(bytes.data()),
               static_cast<std::streamsize>(bytes.size()));
    if (!out_) throw io_error("cannot write " + temporary_.string());
  }
  void write(const void* data, std::size_t n) {
    write(std::span<const std::byte>(static_cast<const std::byte*>(data), n));
  }
  /// Bytes written so far.
  std::size_t position() { return static_cast<std::size_t>(out_.tellp()); }

  void commit() {
    out_.flush();
    out_.close();
    if (!out_) throw io_error("cannot finish writing " + temporary_.string());
    std::error_code ec;
    std::filesystem::rename(temporary_, path_, ec);
    if (ec)
      throw io_error("cannot rename " + temporary_.string() + " to " + path_.string() + ": " +
                     ec.message());
    committed_ = true;
  }

 private:
  std::filesystem::path path_;
  std::filesystem::path temporary_;
  std::ofstream out_;
  bool committed_ = false;
};

}  // namespace pollard::io
