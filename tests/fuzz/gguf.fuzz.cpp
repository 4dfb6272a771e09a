// Fuzz target for the GGUF reader: parse bytes, walk all metadata, dequantize every tensor.
// Any pollard::error is an accepted outcome; crashes, sanitizer reports and other exceptions are
// not.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "pollard/core/error.hpp"
#include "pollard/io/gguf.hpp"

namespace {

std::size_t walk(const pollard::io::gguf_array& a) {
  std::size_t n = a.size();
  if (const auto* nested = std::get_if<std::vector<pollard::io::gguf_array>>(&a.items()))
    for (const auto& inner : *nested) n += walk(inner);
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto bytes = std::as_bytes(std::span<const std::uint8_t>(data, size));
    const auto file = pollard::io::gguf_file::from_bytes(bytes, "fuzz input");
    std::size_t values = 0;
    for (const auto& [key, value] : file.metadata()) {
      values += key.size();
      if (const auto* array = std::get_if<pollard::io::gguf_array>(&value.data()))
        values += walk(*array);
    }
    std::vector<float> buffer;
    for (const auto& t : file.tensors()) {
      try {
        const auto tensor = file.read(t);
        values += tensor.values.size();
      } catch (const pollard::error&) {
        // an unsupported tensor type: the other tensors are still read
      }
    }
    return values == SIZE_MAX ? 1 : 0;
  } catch (const pollard::error&) {
    return 0;
  }
}
