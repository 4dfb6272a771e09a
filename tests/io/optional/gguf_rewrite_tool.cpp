// gguf-rewrite-tool — drives rewrite_gguf from gguf_rewrite_check.py.
//   gguf-rewrite-tool IN OUT TYPE [--prune] NAME...
// replaces each NAME by its own dequantised values (with --prune, every element at an even
// position, ne[0] fastest, set to zero) and stores it as TYPE (same, f32, f16 or bf16).
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "pollard/io/gguf/rewrite.hpp"

int main(int argc, char** argv) {
  try {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.size() < 3) {
      std::fprintf(stderr, "usage: gguf-rewrite-tool IN OUT same|f32|f16|bf16 [--prune] NAME...\n");
      return 2;
    }
    const pollard::io::gguf_file in(args[0]);
    const auto type = pollard::io::parse_gguf_output_type(args[2]);
    const bool prune = args.size() > 3 && args[3] == "--prune";
    const std::vector<std::string> names(args.begin() + (prune ? 4 : 3), args.end());
    pollard::io::rewrite_gguf(
        in, args[1], names,
        [&](const pollard::io::gguf_tensor_info& t, std::span<float> values) {
          in.read_into(t, values);
          if (prune)
            for (std::size_t i = 0; i < values.size(); i += 2) values[i] = 0.0f;
        },
        type);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gguf-rewrite-tool: %s\n", e.what());
    return 1;
  }
}
