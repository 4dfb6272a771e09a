// Fuzz harness for the safetensors reader (and the JSON reader under it): parse arbitrary bytes;
// every tensor accepted must lie inside the input and convert to float when its dtype allows.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "pollard/io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  try {
    const pollard::io::safetensors_file f(bytes, "fuzz.safetensors");
    for (const auto& t : f.tensors()) {
      if (t.data.data() < bytes.data() || t.data.data() + t.data.size() > bytes.data() + size)
        std::abort();
      try {
        const auto values = pollard::io::safetensors_file::to_float(t, "fuzz");
        if (values.size() != t.elements()) std::abort();
      } catch (const pollard::format_error&) {
        // integer dtypes are not readable as float
      }
    }
  } catch (const pollard::error&) {
  }
  return 0;
}
