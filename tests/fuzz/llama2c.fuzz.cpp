// Fuzz harness for llama2.c checkpoints and tokenizer files. The first byte selects the reader:
// even -> the rest is a checkpoint; odd -> bytes 1-2 hold vocab_size - 1 (little-endian uint16)
// and the rest is a tokenizer.bin. Whatever parses must re-serialise to the same bytes
// (checkpoints, outside the recomputed freq_cis tables), run a forward step, or encode/decode.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

#include "pollard/llm/llama2c_model.hpp"
#include "pollard/llm/llama2c_tokenizer.hpp"
#include "pollard/llm/llama_forward.hpp"

namespace {

// A broken invariant is a bug the fuzzer must report (as a crash).
void require(bool condition) {
  if (!condition) std::abort();
}

void checkpoint(std::span<const std::byte> bytes) {
  const auto w = pollard::llm::read_llama2c(bytes, "fuzz.bin");
  const auto& c = w.config;
  const auto again = pollard::llm::llama2c_bytes(w);
  require(again.size() == bytes.size());
  const std::size_t freq =
      static_cast<std::size_t>(2 * c.seq_len * (c.head_size() / 2)) * sizeof(float);
  const std::size_t wcls =
      c.tied_classifier ? 0 : static_cast<std::size_t>(c.vocab_size * c.dim) * sizeof(float);
  const std::size_t freq_start = bytes.size() - wcls - freq;
  require(std::memcmp(again.data(), bytes.data(), freq_start) == 0);
  require(std::memcmp(again.data() + freq_start + freq, bytes.data() + freq_start + freq, wcls) ==
          0);
  pollard::llm::llama_forward model(w);
  const std::vector<pollard::llm::token_id> tokens = {
      0, static_cast<pollard::llm::token_id>(c.vocab_size - 1)};
  const auto logits = model.prefill(tokens, {1, 2});
  require(logits.rows() == 2 && logits.cols() == c.vocab_size);
  pollard::llm::kv_cache cache(c, 2);
  require(model.decode_step(cache, tokens[1]).size() == c.vocab_size);
}

void tokenizer(std::span<const std::byte> bytes) {
  if (bytes.size() < 2) return;
  std::uint16_t n;
  std::memcpy(&n, bytes.data(), 2);
  const auto rest = bytes.subspan(2);
  const auto t = pollard::llm::llama2c_tokenizer::parse(rest, std::int64_t{n} + 1, "fuzz.tok");
  require(t.vocab_size() == std::int64_t{n} + 1);
  // Text taken from the input itself, so the fuzzer steers encode() too.
  const std::string_view text(reinterpret_cast<const char*>(rest.data()),
                              std::min<std::size_t>(rest.size(), 48));
  for (std::string_view s : {text, std::string_view("Once upon a time \xf0\x9f\x98\x80")}) {
    try {
      const auto ids = t.encode(s, true, true);
      for (auto id : ids) require(id >= 0 && id < t.vocab_size());
      (void)t.decode(ids);
    } catch (const pollard::format_error&) {
      // a vocabulary too small for byte fallback
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data) + 1, size - 1);
  try {
    if (data[0] % 2 == 0)
      checkpoint(bytes);
    else
      tokenizer(bytes);
  } catch (const pollard::error&) {
  }
  return 0;
}
