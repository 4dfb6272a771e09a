// The KV cache's bookkeeping: shapes per layer, advancing, clearing, capacity errors.
#include <doctest/doctest.h>

#include "pollard/llm/kv_cache.hpp"

using namespace pollard;
using namespace pollard::llm;

namespace {
llama_config small() {
  llama_config c;
  c.dim = 12;
  c.hidden_dim = 8;
  c.n_layers = 3;
  c.n_heads = 6;
  c.n_kv_heads = 3;
  c.vocab_size = 5;
  c.seq_len = 10;
  return c;
}
}  // namespace

TEST_CASE("a kv_cache holds capacity x kv_dim keys and values per layer and counts positions") {
  kv_cache cache(small(), 7);
  CHECK(cache.n_layers() == 3);
  CHECK(cache.keys(2).rows() == 7);
  CHECK(cache.values(0).cols() == 6);  // 3 kv heads of size 2
  CHECK(cache.length() == 0);
  cache.advance(4);
  cache.advance(3);
  CHECK(cache.length() == 7);
  CHECK_THROWS_WITH_AS(cache.advance(1), "kv_cache: 7 + 1 positions exceed the capacity 7",
                       option_error);
  cache.clear();
  CHECK(cache.length() == 0);
  CHECK_THROWS_WITH_AS(kv_cache(small(), 0), "kv_cache: capacity must be positive, got 0",
                       option_error);
}
