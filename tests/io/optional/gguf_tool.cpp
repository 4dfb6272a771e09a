// gguf-tool — drives pollard's GGUF reader and writer from the python checks in this folder.
//   gguf-tool copy IN OUT [--f32]   read IN, write it back: every metadata key as read;
//   F32/F16/BF16
//                                   tensors keep their type, others (or all, with --f32) become F32
//   gguf-tool dequant IN DIR [NAME...]  write each tensor (default all) as raw float32 DIR/NAME.f32
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "pollard/io/gguf.hpp"

namespace {

int copy_model(const std::filesystem::path& in, const std::filesystem::path& out, bool all_f32) {
  const pollard::io::gguf_file f(in);
  std::vector<std::vector<float>> values;
  values.reserve(f.tensors().size());
  std::vector<pollard::io::gguf_tensor_view> views;
  for (const auto& t : f.tensors()) {
    values.push_back(f.read(t).values);
    const bool keep = !all_f32 && (t.type == pollard::io::ggml_type::f16 ||
                                   t.type == pollard::io::ggml_type::bf16);
    views.push_back({t.name, t.dims, keep ? t.type : pollard::io::ggml_type::f32, values.back()});
  }
  pollard::io::write_gguf(out, f.metadata(), views);
  return 0;
}

int dequant_model(const std::filesystem::path& in, const std::filesystem::path& dir,
                  std::vector<std::string> names) {
  const pollard::io::gguf_file f(in);
  if (names.empty())
    for (const auto& t : f.tensors()) names.push_back(t.name);
  std::filesystem::create_directories(dir);
  for (const auto& name : names) {
    const auto t = f.read(name);
    std::ofstream out(dir / (name + ".f32"), std::ios::binary);
    out.write(reinterpret_cast<const char*>(t.values.data()),
              static_cast<std::streamsize>(t.values.size() * sizeof(float)));
    if (!out) throw pollard::io_error("cannot write " + (dir / (name + ".f32")).string());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::vector<std::string> args(argv + 1, argv + argc);
    if (args.size() >= 3 && args[0] == "copy")
      return copy_model(args[1], args[2], args.size() > 3 && args[3] == "--f32");
    if (args.size() >= 3 && args[0] == "dequant")
      return dequant_model(args[1], args[2],
                           std::vector<std::string>(args.begin() + 3, args.end()));
    std::fprintf(stderr, "usage: gguf-tool copy IN OUT [--f32] | dequant IN DIR [NAME...]\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gguf-tool: %s\n", e.what());
    return 1;
  }
}
