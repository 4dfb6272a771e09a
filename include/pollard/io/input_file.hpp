// pollard — opening a file to read so that a FIFO, a device or a socket given where a file is
// expected is refused at once instead of blocking the reader (a FIFO without a writer blocks
// open(), /dev/zero never ends).
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

#include "pollard/core/error.hpp"

namespace pollard::io {

/// What a file whose mode is `mode` is, in words ("a FIFO (named pipe)"), for a message that
/// says why it cannot be read as a regular file.
inline const char* file_kind(mode_t mode) noexcept {
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISDIR(mode)) return "a folder";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

/// Opens the regular file at `path` (links followed) for reading and returns its descriptor
/// (close-on-exec, blocking reads). The open itself never blocks: it is made with O_NONBLOCK and
/// the file's type checked with fstat before anything is read. io_error naming the path and the
/// reason ("cannot open x: No such file or directory", "cannot read p: it is a FIFO (named
/// pipe), not a regular file"); `what` says what the file is, before its path ("tokenizer ").
inline int open_regular_file(const std::filesystem::path& path, const std::string& what = {}) {
  const std::string named = what + path.string();
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) throw io_error("cannot open " + named + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    throw io_error("cannot read " + named + ": " + std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw io_error("cannot read " + named + ": it is " + file_kind(st.st_mode) +
                   ", not a regular file");
  }
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
    const int e = errno;
    ::close(fd);
    throw io_error("cannot read " + named + ": " + std::strerror(e));
  }
  return fd;
}

/// Throws open_regular_file()'s io_error unless `path` is a regular file that can be opened for
/// reading: the check before a reader (std::ifstream, gzopen) that would block on a FIFO opens
/// it.
inline void require_regular_file(const std::filesystem::path& path, const std::string& what = {}) {
  ::close(open_regular_file(path, what));
}

}  // namespace pollard::io
