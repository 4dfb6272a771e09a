// Fuzz harness for the .npy reader: parse arbitrary bytes; whatever parses must survive a
// write/read round trip unchanged.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "pollard/io/npy.hpp"

namespace {

// A broken invariant is a bug the fuzzer must report (as a crash).
void require(bool condition) {
  if (!condition) std::abort();
}

template <class T>
bool same_value(T a, T b) {
  return (std::isnan(a) && std::isnan(b)) || a == b;
}

template <class T>
void parse_and_round_trip(std::span<const std::byte> bytes) {
  const auto m = pollard::io::parse_npy<T>(bytes, "fuzz.npy");
  const auto& h = m.header;
  require(h.shape.size() == 1 || h.shape.size() == 2);
  require(m.values.size() == static_cast<std::size_t>(m.rows() * m.cols()));
  require(h.data_offset + h.data_bytes == bytes.size());

  const auto again = pollard::io::parse_npy<T>(
      pollard::io::encode_npy(m.view(), {h.dtype, h.fortran_order, h.shape.size() == 1}),
      "round-trip.npy");
  require(again.header.dtype == h.dtype);
  require(again.header.fortran_order == h.fortran_order);
  require(again.header.shape == h.shape);
  require(again.values.size() == m.values.size());
  for (std::size_t k = 0; k < m.values.size(); ++k)
    require(same_value(again.values[k], m.values[k]));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  try {
    parse_and_round_trip<float>(bytes);
  } catch (const pollard::error&) {
  }
  try {
    parse_and_round_trip<double>(bytes);
  } catch (const pollard::error&) {
  }
  return 0;
}
