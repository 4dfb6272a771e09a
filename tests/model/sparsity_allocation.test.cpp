#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <utility>

#include "pollard/model/sparsity_allocation.hpp"

namespace {
std::filesystem::path write_table(const std::string& name, const std::string& content) {
  const auto path = std::filesystem::temp_directory_path() / name;
  std::ofstream(path, std::ios::binary) << content;
  return path;
}
}  // namespace

TEST_CASE(
    "a sparsity table drops a byte-order mark at its start and refuses one elsewhere, "
    "naming the file, line and offset") {
  using pollard::model::sparsity_table;
  const std::string bom = "\xEF\xBB\xBF";
  const auto start = write_table("pollard-table-bom.txt", bom + "# rows\nblk.0.* 0.3\n* 0.5\n");
  const sparsity_table table = sparsity_table::read(start);
  CHECK(table.sparsity_of("blk.0.attn_q") == 0.3);
  CHECK(table.sparsity_of("blk.1.attn_q") == 0.5);
  // Before a comment line (which would otherwise be read as a row) and before a row.
  const std::pair<std::string, int> cases[] = {{"* 0.5\n" + bom + "# rows\n", 2},
                                               {"# rows\n* 0.5\n" + bom + "blk.0.* 0.3\n", 3}};
  for (const auto& [content, line] : cases) {
    CAPTURE(content);
    const auto path = write_table("pollard-table-bom-mid.txt", content);
    CHECK_THROWS_WITH_AS(sparsity_table::read(path),
                         (path.string() + " line " + std::to_string(line) + " (byte offset " +
                          std::to_string(content.find(bom)) +
                          "): a UTF-8 byte-order mark (U+FEFF), which belongs only at the very "
                          "start of a file (were files joined?)")
                             .c_str(),
                         pollard::format_error);
    std::filesystem::remove(path);
  }
  std::filesystem::remove(start);
}
