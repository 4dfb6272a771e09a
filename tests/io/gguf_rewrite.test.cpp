// rewrite_gguf on a small synthetic GGUF with stories260K's shapes (dim 64, 8 heads of which 4
// KV, vocabulary 512) and tensors of every type pollard writes, plus one it does not (Q6_K).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "pollard/io/gguf/rewrite.hpp"
#include "support/files.hpp"

using namespace pollard::io;

namespace {

namespace fs = std::filesystem;

struct raw_tensor {
  std::string name;
  std::vector<std::uint64_t> dims;
  ggml_type type;
  std::vector<std::byte> bytes;
};

// GGUF's little-endian fields, written without the library's writer.
class gguf_bytes {
 public:
  template <class T>
  void put(T v) {
    const auto* p = reinterpret_cast<const std::byte*>(&v);
    out.insert(out.end(), p, p + sizeof v);
  }
  void put_string(const std::string& s) {
    put(static_cast<std::uint64_t>(s.size()));
    for (const char c : s) out.push_back(static_cast<std::byte>(c));
  }
  // The value types the metadata below uses: STRING (8), UINT32 (4), FLOAT32 (6), and ARRAY (9)
  // of STRING or FLOAT32.
  void put_value(const gguf_value& v) {
    if (v.holds<std::string>()) {
      put(std::uint32_t{8});
      put_string(v.get<std::string>());
    } else if (v.holds<std::uint32_t>()) {
      put(std::uint32_t{4});
      put(v.get<std::uint32_t>());
    } else if (v.holds<float>()) {
      put(std::uint32_t{6});
      put(v.get<float>());
    } else if (v.get<gguf_array>().element_type() == gguf_value_type::string) {
      const auto& items = v.get<gguf_array>().get<std::string>();
      put(std::uint32_t{9});
      put(std::uint32_t{8});
      put(static_cast<std::uint64_t>(items.size()));
      for (const auto& item : items) put_string(item);
    } else {
      const auto& items = v.get<gguf_array>().get<float>();
      put(std::uint32_t{9});
      put(std::uint32_t{6});
      put(static_cast<std::uint64_t>(items.size()));
      for (const auto item : items) put(item);
    }
  }
  void pad(std::size_t alignment) {
    out.resize((out.size() + alignment - 1) / alignment * alignment);
  }

  std::vector<std::byte> out;
};

// A GGUF laid out as the specification describes it: header, key/values, tensor infos, padding
// to the alignment, then each tensor's data padded to the alignment.
std::vector<std::byte> build_gguf(std::uint32_t version, const gguf_metadata& metadata,
                                  const std::vector<raw_tensor>& tensors, std::size_t alignment) {
  gguf_bytes g;
  g.put(std::uint32_t{0x46554747});  // "GGUF"
  g.put(version);
  g.put(static_cast<std::uint64_t>(tensors.size()));
  g.put(static_cast<std::uint64_t>(metadata.size()));
  for (const auto& [key, value] : metadata) {
    g.put_string(key);
    g.put_value(value);
  }
  std::uint64_t offset = 0;
  for (const auto& t : tensors) {
    g.put_string(t.name);
    g.put(static_cast<std::uint32_t>(t.dims.size()));
    for (const auto d : t.dims) g.put(d);
    g.put(static_cast<std::uint32_t>(t.type));
    g.put(offset);
    offset += (t.bytes.size() + alignment - 1) / alignment * alignment;
  }
  g.pad(alignment);
  for (const auto& t : tensors) {
    g.out.insert(g.out.end(), t.bytes.begin(), t.bytes.end());
    g.pad(alignment);
  }
  return g.out;
}

std::vector<float> gaussian(std::size_t n, unsigned seed, float sigma = 0.05f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, sigma);
  std::vector<float> x(n);
  for (auto& v : x) v = normal(rng);
  return x;
}

std::vector<std::byte> random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<std::byte> b(n);
  for (auto& v : b) v = static_cast<std::byte>(rng() & 0xffu);
  return b;
}

raw_tensor make_tensor(std::string name, std::vector<std::uint64_t> dims, ggml_type type,
                       unsigned seed) {
  std::size_t n = 1;
  for (const auto d : dims) n *= d;
  auto bytes = quantize(type, gaussian(n, seed), dims[0], name);
  return {std::move(name), std::move(dims), type, std::move(bytes)};
}

gguf_metadata stories_metadata(std::uint32_t alignment) {
  gguf_metadata m;
  m.set("general.architecture", "llama");
  m.set("general.name", "stories260K-like");
  m.set("llama.embedding_length", std::uint32_t{64});
  m.set("llama.block_count", std::uint32_t{1});
  m.set("llama.attention.head_count", std::uint32_t{8});
  m.set("llama.attention.head_count_kv", std::uint32_t{4});
  m.set("llama.rope.freq_base", 10000.0f);
  m.set("tokenizer.ggml.tokens", gguf_array(std::vector<std::string>{"<unk>", "<s>", "</s>"}));
  m.set("tokenizer.ggml.scores", gguf_array(std::vector<float>{0.0f, -1.5f, 2.25f}));
  m.set("general.file_type", std::uint32_t{3});
  if (alignment != gguf_default_alignment) m.set("general.alignment", alignment);
  return m;
}

std::vector<raw_tensor> stories_tensors() {
  std::vector<raw_tensor> t;
  t.push_back(make_tensor("token_embd.weight", {64, 512}, ggml_type::q8_0, 1));
  t.push_back(make_tensor("blk.0.attn_norm.weight", {64}, ggml_type::f32, 2));
  t.push_back(make_tensor("blk.0.attn_q.weight", {64, 64}, ggml_type::q4_1, 3));
  t.push_back(make_tensor("blk.0.attn_k.weight", {64, 32}, ggml_type::q4_0, 4));
  t.push_back(make_tensor("blk.0.attn_v.weight", {64, 32}, ggml_type::f16, 5));
  t.push_back(make_tensor("blk.0.attn_output.weight", {64, 64}, ggml_type::bf16, 6));
  // Q6_K: blocks of 256, bytes that pollard neither reads nor writes, only copies.
  t.push_back({"blk.0.ffn_gate.weight", {256, 2}, ggml_type::q6_k, random_bytes(2 * 210, 7)});
  t.push_back(make_tensor("blk.0.ffn_up.weight", {64, 192}, ggml_type::q4_1, 8));
  t.push_back(make_tensor("blk.0.ffn_down.weight", {192, 64}, ggml_type::q4_1, 9));
  t.push_back(make_tensor("output_norm.weight", {64}, ggml_type::f32, 10));
  return t;
}

using pollard::test::read_file_bytes;

void write_file(const fs::path& path, const std::vector<std::byte>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out);
}

struct temp_dir {
  fs::path path = fs::temp_directory_path() /
                  ("pollard-gguf-rewrite-" + std::to_string(std::random_device{}()));
  temp_dir() { fs::create_directories(path); }
  ~temp_dir() { fs::remove_all(path); }
  std::size_t files() const {
    return static_cast<std::size_t>(std::distance(fs::directory_iterator(path), {}));
  }
};

std::vector<float> dequantized(const gguf_file& f, const std::string& name) {
  return f.read(name).values;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const pollard::error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("rewrite without replacements reproduces the file byte for byte (v2, v3, alignment 64)") {
  temp_dir dir;
  for (const auto& [version, alignment] :
       {std::pair<std::uint32_t, std::uint32_t>{3, 32}, {2, 32}, {3, 64}}) {
    CAPTURE(version);
    CAPTURE(alignment);
    const auto bytes =
        build_gguf(version, stories_metadata(alignment), stories_tensors(), alignment);
    const auto f = gguf_file::from_bytes(bytes);
    rewrite_gguf(f, dir.path / "out.gguf", std::span<const std::string>{}, nullptr);
    CHECK(read_file_bytes(dir.path / "out.gguf") == bytes);
  }
}

TEST_CASE(
    "every tensor replaced by its own dequantised values, stored `same`, gives the same bytes") {
  temp_dir dir;
  const auto bytes = build_gguf(3, stories_metadata(32), stories_tensors(), 32);
  const auto f = gguf_file::from_bytes(bytes);
  std::vector<std::string> names;
  for (const auto& t : f.tensors())
    if (ggml_type_is_readable(t.type)) names.push_back(t.name);
  REQUIRE(names.size() == 9);
  std::vector<std::string> calls;
  rewrite_gguf(f, dir.path / "out.gguf", names,
               [&](const gguf_tensor_info& original, std::span<float> values) {
                 calls.push_back(original.name);
                 f.read_into(original, values);
               });
  CHECK(calls == names);  // one call per replaced tensor, in file order
  CHECK(read_file_bytes(dir.path / "out.gguf") == bytes);
}

TEST_CASE("a pruned tensor stored `same` is quantize(pruned); every other byte is unchanged") {
  temp_dir dir;
  auto tensors = stories_tensors();
  const auto bytes = build_gguf(3, stories_metadata(32), tensors, 32);
  const auto f = gguf_file::from_bytes(bytes);
  std::map<std::string, gguf_tensor, std::less<>> replacements;
  for (const std::string name :
       {"blk.0.attn_q.weight", "blk.0.attn_k.weight", "token_embd.weight", "blk.0.attn_v.weight"}) {
    auto t = f.read(name);
    for (std::size_t i = 0; i < t.values.size(); i += 2) t.values[i] = 0.0f;  // 50 %, 1:2
    replacements.emplace(name, t);
  }
  rewrite_gguf(f, dir.path / "out.gguf", replacements);
  for (auto& t : tensors)
    if (const auto it = replacements.find(t.name); it != replacements.end())
      t.bytes = quantize(t.type, it->second.values, t.dims[0], t.name);
  CHECK(read_file_bytes(dir.path / "out.gguf") == build_gguf(3, stories_metadata(32), tensors, 32));

  const gguf_file back(dir.path / "out.gguf");
  const auto q = back.read("blk.0.attn_k.weight").values;  // Q4_0: the pruned zeros stay zero
  for (std::size_t i = 0; i < q.size(); i += 2) REQUIRE(q[i] == 0.0f);
}

TEST_CASE(
    "replaced tensors stored as f32, f16 or bf16 change type and size, general.file_type follows; "
    "the rest is copied") {
  temp_dir dir;
  const auto bytes = build_gguf(3, stories_metadata(64), stories_tensors(), 64);
  const auto f = gguf_file::from_bytes(bytes);
  const std::vector<std::string> names{"token_embd.weight", "blk.0.attn_q.weight",
                                       "blk.0.ffn_gate.weight"};  // Q8_0, Q4_1, Q6_K
  for (const auto type : {gguf_output_type::f32, gguf_output_type::f16, gguf_output_type::bf16}) {
    const auto stored = gguf_stored_type(type, ggml_type::q4_1);
    CAPTURE(ggml_type_name(stored));
    const auto values_of = [&](const gguf_tensor_info& t) {
      // The Q6_K tensor cannot be read; it is replaced by values of its own.
      return ggml_type_is_readable(t.type) ? dequantized(f, t.name)
                                           : gaussian(t.elements(), 99, 1.0f);
    };
    rewrite_gguf(
        f, dir.path / "out.gguf", names,
        [&](const gguf_tensor_info& t, std::span<float> values) {
          const auto v = values_of(t);
          std::copy(v.begin(), v.end(), values.begin());
        },
        type);
    const gguf_file back(dir.path / "out.gguf");
    // general.file_type follows the types written, as llama.cpp's loader infers it (the type most
    // tensors have): counted by hand, 5 of the 10 tensors are then F32; 4 are F16; 4 are BF16.
    gguf_metadata expected_metadata = f.metadata();
    expected_metadata.set("general.file_type",
                          std::uint32_t{type == gguf_output_type::f32   ? 0u
                                        : type == gguf_output_type::f16 ? 1u
                                                                        : 32u});
    CHECK(back.metadata() == expected_metadata);
    CHECK(back.alignment() == 64);
    REQUIRE(back.tensors().size() == f.tensors().size());
    for (std::size_t i = 0; i < f.tensors().size(); ++i) {
      const auto& a = f.tensors()[i];
      const auto& b = back.tensors()[i];
      CAPTURE(a.name);
      CHECK(b.name == a.name);
      CHECK(b.dims == a.dims);
      CHECK(b.offset % 64 == 0);
      const bool replaced = std::find(names.begin(), names.end(), a.name) != names.end();
      if (!replaced) {
        CHECK(b.type == a.type);
        const auto x = f.tensor_data(a);
        const auto y = back.tensor_data(b);
        CHECK(std::equal(x.begin(), x.end(), y.begin(), y.end()));
        continue;
      }
      CHECK(b.type == stored);
      const auto expected = values_of(a);
      const auto got = back.read(b).values;
      for (std::size_t j = 0; j < got.size(); ++j) {
        // Each value rounded once to the stored type: relative error 2^-11 (f16) / 2^-8 (bf16).
        const double tolerance = stored == ggml_type::f32   ? 0.0
                                 : stored == ggml_type::f16 ? std::ldexp(1.0, -11)
                                                            : std::ldexp(1.0, -8);
        REQUIRE(std::fabs(got[j] - expected[j]) <=
                std::fabs(expected[j]) * tolerance + (stored == ggml_type::f16 ? 6e-8 : 0.0));
      }
    }
  }
}

TEST_CASE("rewrite refuses bad requests by name, before or without touching the output") {
  temp_dir dir;
  const auto bytes = build_gguf(3, stories_metadata(32), stories_tensors(), 32);
  const auto f = gguf_file::from_bytes(bytes);
  const auto out = dir.path / "out.gguf";
  const std::vector<std::byte> previous{std::byte{1}, std::byte{2}, std::byte{3}};
  write_file(out, previous);
  const auto fill_with = [&](float value) {
    return [value](const gguf_tensor_info&, std::span<float> values) {
      std::fill(values.begin(), values.end(), value);
    };
  };
  const auto rewrite = [&](std::vector<std::string> names, gguf_tensor_source source,
                           gguf_output_type type = gguf_output_type::same) {
    return error_of([&] { rewrite_gguf(f, out, names, source, type); });
  };

  CHECK(rewrite({"blk.0.attn_x.weight"}, fill_with(0.0f)) ==
        "rewrite_gguf " + out.string() + ": GGUF buffer has no tensor named blk.0.attn_x.weight");
  CHECK(rewrite({"blk.0.attn_q.weight", "blk.0.attn_q.weight"}, fill_with(0.0f))
            .find("tensor blk.0.attn_q.weight is replaced twice") != std::string::npos);
  CHECK(rewrite({"blk.0.ffn_gate.weight"}, fill_with(0.0f))
            .find("tensor blk.0.ffn_gate.weight is stored as Q6_K, which pollard does not write") !=
        std::string::npos);
  // A value the stored type cannot hold: named with its tensor, position and value.
  CHECK(
      rewrite({"blk.0.attn_v.weight"}, fill_with(1e5f))
          .find("tensor blk.0.attn_v.weight: element 0 (row 0, column 0) = 100000 overflows F16") !=
      std::string::npos);
  CHECK(rewrite({"blk.0.attn_q.weight"}, fill_with(1.0f), gguf_output_type::bf16) == "no error");
  write_file(out, previous);
  // A source that leaves values unset: they arrive as NaN and are refused.
  CHECK(rewrite({"blk.0.attn_q.weight"},
                [](const gguf_tensor_info&, std::span<float> values) { values[70] = 1.0f; })
            .find("tensor blk.0.attn_q.weight: element 0 (row 0, column 0) is nan") !=
        std::string::npos);
  // A source that throws.
  CHECK(rewrite({"blk.0.attn_q.weight"}, [](const gguf_tensor_info&, std::span<float>) {
          throw pollard::option_error("source failed");
        }) == "source failed");

  std::map<std::string, gguf_tensor, std::less<>> wrong;
  wrong.emplace("blk.0.attn_k.weight", gguf_tensor{std::vector<float>(64 * 32), {32, 64}});
  CHECK(error_of([&] { rewrite_gguf(f, out, wrong); })
            .find("the replacement of tensor blk.0.attn_k.weight has dims [32, 64] and 2048 "
                  "values; the file's tensor has dims [64, 32]") != std::string::npos);
  wrong.clear();
  wrong.emplace("output.weight", gguf_tensor{std::vector<float>(64), {64}});
  CHECK(error_of([&] { rewrite_gguf(f, out, wrong); }).find("no tensor named output.weight") !=
        std::string::npos);

  CHECK(read_file_bytes(out) == previous);  // every failure left the output as it was
  CHECK(dir.files() == 1);                  // and no temporary behind

  write_file(dir.path / "in.gguf", bytes);
  const gguf_file on_disk(dir.path / "in.gguf");
  CHECK(error_of([&] {
          rewrite_gguf(on_disk, dir.path / "." / "in.gguf", std::span<const std::string>{},
                       nullptr);
        }).find("the output is the input file") != std::string::npos);
}

TEST_CASE("gguf_rewriter takes replacements in any order, holding only those ahead of the file") {
  temp_dir dir;
  auto tensors = stories_tensors();
  const auto bytes = build_gguf(3, stories_metadata(32), tensors, 32);
  const auto f = gguf_file::from_bytes(bytes);
  // File order: token_embd (Q8_0, 1088 bytes each 34 per 32) ... ffn_up, ffn_down (Q4_1).
  const std::vector<std::string> names{"token_embd.weight", "blk.0.attn_q.weight",
                                       "blk.0.ffn_up.weight", "blk.0.ffn_down.weight"};
  std::map<std::string, std::vector<float>> pruned;
  for (const auto& name : names) {
    auto v = dequantized(f, name);
    for (std::size_t i = 1; i < v.size(); i += 3) v[i] = 0.0f;
    pruned[name] = v;
  }
  gguf_rewriter writer(f, dir.path / "out.gguf", names);
  CHECK(writer.missing() == names);
  writer.replace("blk.0.ffn_down.weight", pruned["blk.0.ffn_down.weight"]);
  CHECK(writer.held_bytes() == ggml_type_bytes(ggml_type::q4_1, 192 * 64));
  writer.replace("blk.0.ffn_up.weight", pruned["blk.0.ffn_up.weight"]);
  writer.replace("blk.0.attn_q.weight", pruned["blk.0.attn_q.weight"]);
  CHECK(writer.held_bytes() == ggml_type_bytes(ggml_type::q4_1, 64 * 64 + 2 * 192 * 64));
  CHECK(writer.missing() == std::vector<std::string>{"token_embd.weight"});
  CHECK_THROWS_WITH_AS(writer.commit(),
                       doctest::Contains("no replacement was supplied for token_embd.weight"),
                       pollard::option_error);
  CHECK_THROWS_WITH_AS(writer.replace("blk.0.attn_q.weight", pruned["blk.0.attn_q.weight"]),
                       doctest::Contains("tensor blk.0.attn_q.weight was already supplied"),
                       pollard::option_error);
  CHECK_THROWS_WITH_AS(writer.replace("blk.0.attn_k.weight", std::vector<float>(64 * 32)),
                       doctest::Contains("tensor blk.0.attn_k.weight is not one to be replaced"),
                       pollard::option_error);
  CHECK_THROWS_WITH_AS(writer.replace("token_embd.weight", std::vector<float>(64)),
                       doctest::Contains("tensor token_embd.weight has 32768 elements, not 64"),
                       pollard::shape_error);
  writer.replace("token_embd.weight", pruned["token_embd.weight"]);
  CHECK(writer.held_bytes() == 0);  // the front tensor arrived: everything was written
  writer.commit();

  for (auto& t : tensors)
    if (const auto it = pruned.find(t.name); it != pruned.end())
      t.bytes = quantize(t.type, it->second, t.dims[0], t.name);
  CHECK(read_file_bytes(dir.path / "out.gguf") == build_gguf(3, stories_metadata(32), tensors, 32));
}

TEST_CASE("a gguf_rewriter destroyed before commit leaves no file behind") {
  temp_dir dir;
  const auto bytes = build_gguf(3, stories_metadata(32), stories_tensors(), 32);
  const auto f = gguf_file::from_bytes(bytes);
  {
    gguf_rewriter writer(f, dir.path / "out.gguf", std::vector<std::string>{"blk.0.attn_q.weight"});
    writer.replace("blk.0.attn_q.weight", dequantized(f, "blk.0.attn_q.weight"));
  }
  CHECK(dir.files() == 0);
}
