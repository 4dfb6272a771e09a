// pollard tools — the command line that pollard, prune_layer and make_layer_example share: CLI11
// set up so that --help shows every default and --version the project version, value checks
// whose messages name the option, the --threads option, and one way of reporting errors.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <CLI/CLI.hpp>
#include <Eigen/Core>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "pollard/core/config.hpp"
#include "pollard/core/error.hpp"
#include "pollard/core/number_text.hpp"
#include "pollard/io/atomic_file.hpp"
#include "pollard/io/file_identity.hpp"
#include "pollard/io/input_file.hpp"
#include "pollard/io/utf8.hpp"

#ifndef POLLARD_VERSION
#error "POLLARD_VERSION (the CMake project version) must be defined for the pollard tools"
#endif

namespace pollard::cli {

/// A mistake on the command line that CLI11 cannot see (options that exclude each other, a
/// malformed N:M): exit status 2, as CLI11's own parse errors.
class usage_error : public option_error {
 public:
  using option_error::option_error;
};

/// CLI11's help with the usage line first ("usage: ..."), then the description, the positional
/// arguments, the options with their defaults, the subcommands and the footer.
class help_formatter : public CLI::Formatter {
 public:
  help_formatter() {
    label("Usage", "usage");
    column_width(34);
  }
  std::string make_help(const CLI::App* app, std::string name,
                        CLI::AppFormatMode mode) const override {
    if (mode == CLI::AppFormatMode::Sub) return make_expanded(app);
    std::string out = make_usage(app, name);
    if (!app->get_description().empty()) out += "\n" + make_description(app);
    out += make_positionals(app) + make_groups(app, mode) + make_subcommands(app, mode);
    const std::string footer = make_footer(app);
    if (!footer.empty()) out += "\n" + footer;
    return out;
  }
};

/// Sets up a tool's top-level App before its options and subcommands are added (subcommands
/// inherit these settings): the help layout, defaults shown in --help, --version.
inline void configure(CLI::App& app) {
  app.formatter(std::make_shared<help_formatter>());
  app.option_defaults()->always_capture_default();
  app.set_version_flag("--version", app.get_name() + " " + POLLARD_VERSION);
}

// The checks of numeric values (integer_in, unsigned_integer, real_where and those built on
// them) read a value by pollard's one rule for numbers a user writes (read_integer, read_real:
// plain decimal notation, the whole text) and hand CLI11 the value read, written so that CLI11's
// own conversion gives exactly it: CLI11 2.1 reads an integer with strtoll in base 0 ("010" is
// eight, "0x10" sixteen) and a real through long double (off by one ulp for some 17-digit
// texts). Give them with ->transform(), which lets a check rewrite the value; ->check() does not
// (run_tool refuses to run a tool that does: require_number_transforms()).

/// The name of the numeric checks, by which require_number_transforms() finds them.
inline constexpr const char* number_check_name = "pollard number";

/// Throws std::logic_error naming the option when a numeric check of `app` or of one of its
/// subcommands was given with ->check(), which would let CLI11 convert the text by its own rule.
inline void require_number_transforms(CLI::App& app) {
  for (CLI::Option* option : app.get_options()) {
    const CLI::Validator* check = nullptr;
    try {
      check = option->get_validator(number_check_name);
    } catch (const CLI::OptionNotFound&) {
      continue;
    }
    if (!check->get_modifying())
      throw std::logic_error(option->get_name() +
                             ": its numeric check is given with ->check(); give it with "
                             "->transform(), so that CLI11 stores the value the check read");
  }
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; }))
    require_number_transforms(*sub);
}

/// The message for a number written with '-' where no negative number is allowed ("-0").
inline std::string signed_zero_refusal(const std::string& expected, const std::string& text) {
  return "needs " + expected + " without a '-' sign, got '" + text + "'";
}

/// An integer in [low, high]: "needs an integer in [low, high], got 'x'" for a text that is no
/// integer in plain decimal notation, "must be in [low, high], got x" for one outside.
inline CLI::Validator integer_in(long long low, long long high) {
  return CLI::Validator(
      [low, high](std::string& text) -> std::string {
        const std::string range = "[" + std::to_string(low) + ", " + std::to_string(high) + "]";
        const auto x = read_integer<long long>(text);
        if (x.error == std::errc::invalid_argument)
          return "needs an integer in " + range + ", got '" + text + "'";
        if (!x || x.value < low || x.value > high) return "must be in " + range + ", got " + text;
        if (low >= 0 && text.front() == '-')
          return signed_zero_refusal("an integer in " + range, text);
        text = std::to_string(x.value);
        return {};
      },
      "", number_check_name);
}

/// A non-negative integer that fits 64 bits (seeds).
inline CLI::Validator unsigned_integer() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        const auto x = read_integer<std::uint64_t>(text);
        if (x.error == std::errc::invalid_argument)
          return "needs a non-negative integer, got '" + text + "'";
        if (!x) return "must be in [0, 18446744073709551615], got " + text;
        text = std::to_string(x.value);
        return {};
      },
      "", number_check_name);
}

/// A real number for which `allowed_if` holds; `allowed` says which ("> 0", "in [0, 1)"). A '-'
/// is allowed where negative numbers are: "-0" is refused where -5e-324 is.
inline CLI::Validator real_where(std::string allowed, std::function<bool(double)> allowed_if) {
  return CLI::Validator(
      [allowed = std::move(allowed), allowed_if = std::move(allowed_if)](std::string& text) {
        const auto x = read_real(text);
        if (x.error == std::errc::invalid_argument)
          return "needs a decimal number " + allowed + ", got '" + text + "'";
        if (!x)
          return "needs a decimal number within a double's range (magnitude 5e-324 to 1.8e308, "
                 "or 0), got '" +
                 text + "'";
        if (!allowed_if(x.value)) return "must be " + allowed + ", got " + text;
        if (text.front() == '-' && !allowed_if(-std::numeric_limits<double>::denorm_min()))
          return signed_zero_refusal("a decimal number " + allowed, text);
        // Hexadecimal, which CLI11's strtold reads exactly.
        char exact[40];
        std::snprintf(exact, sizeof exact, "%a", x.value);
        text = exact;
        return std::string();
      },
      "", number_check_name);
}

/// --percdamp P: the damping λ = P · mean(diag H) of SparseGPT and fixed-mask reconstruction,
/// P in [0, 1) (AutoGPTQ's accepted range for the same damp_percent; the references' default is
/// 0.01). From 1 on λ would outweigh the mean curvature it damps, and a huge P overflows λ.
inline CLI::Validator percdamp_fraction() {
  return real_where("in [0, 1)", [](double p) { return p >= 0.0 && p < 1.0; });
}

/// A size in bytes as "12.3 GB".
inline std::string format_gigabytes(double bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f GB", bytes / 1e9);
  return text;
}

/// The help of every --n-m option: which count is which.
inline constexpr const char* n_m_option_help =
    "N:M sparsity, N PRUNED of every M consecutive input weights of a row (the\n"
    "SparseGPT/Wanda code's reading). 2:4 prunes 2 of every 4, the pattern NVIDIA's sparse\n"
    "tensor cores call 2:4 (they count kept weights; the readings agree only when N = M/2:\n"
    "1:4 here prunes 1 and keeps 3)";

/// N:M as --n-m gives it: `pruned` zeros in every `group_size` consecutive weights.
struct n_m_counts {
  index_t pruned = 0;
  index_t group_size = 0;
};

/// The largest N or M of an N:M pattern.
inline constexpr index_t n_m_largest = index_t{1} << 20;

/// Reads "N:M" (two integers in [1, 2^20] in plain decimal notation, read_integer, N < M: N:M
/// with N = M would prune every weight); a usage_error naming `option` otherwise. Whether M
/// divides the layer's width is checked where the layer is known.
inline n_m_counts parse_n_m(const std::string& option, const std::string& text) {
  const auto colon = text.find(':');
  const auto number = [&](std::string_view part) -> index_t {
    const auto x = read_integer<index_t>(part);
    if (!x || x.value < 1 || x.value > n_m_largest)
      throw usage_error(option + " needs N:M with integers in [1, " + std::to_string(n_m_largest) +
                        "] (N pruned of every M), got '" + text + "'");
    return x.value;
  };
  if (colon == std::string::npos) number("");
  const n_m_counts counts{number(std::string_view(text).substr(0, colon)),
                          number(std::string_view(text).substr(colon + 1))};
  if (counts.pruned >= counts.group_size)
    throw usage_error(option + " " + text + " prunes " + std::to_string(counts.pruned) +
                      " of every " + std::to_string(counts.group_size) +
                      " weights: N must be smaller than M");
  return counts;
}

/// CLI11's check of an --n-m value (parse_n_m's message, after the option's name).
inline CLI::Validator n_m_text() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        try {
          (void)parse_n_m("", text);
        } catch (const usage_error& e) {
          return std::string(e.what()).substr(1);
        }
        return {};
      },
      "");
}

/// The items of a comma-separated text, empty ones included ("a,,b" -> {a, "", b}). Unicode
/// white space around an item (spaces, tabs, a no-break space U+00A0...; io::trim_white_space)
/// is not part of it ("a,\u00a0b" -> {a, b}).
inline std::vector<std::string> comma_items(const std::string& text) {
  std::vector<std::string> out;
  std::size_t begin = 0;
  while (begin <= text.size()) {
    const std::size_t end = std::min(text.find(',', begin), text.size());
    out.emplace_back(io::trim_white_space(std::string_view(text).substr(begin, end - begin)));
    begin = end + 1;
  }
  return out;
}

/// The items of a comma-separated option value ("a,b" -> {a, b}; "" has none). Values reach it
/// through comma_list_text(), which refuses empty items.
inline std::vector<std::string> comma_list(const std::string& text) {
  std::vector<std::string> out;
  for (auto& item : comma_items(text))
    if (!item.empty()) out.push_back(std::move(item));
  return out;
}

/// Why the comma-separated `text` is refused for its empty items (empty when none is empty):
/// a list of nothing but white space and commas names no item at all; otherwise every empty
/// item is named by its place ("items 1 and 3 of ',a,' are empty").
inline std::string empty_comma_items(const std::string& text) {
  const auto items = comma_items(text);
  std::vector<std::size_t> empty;
  for (std::size_t k = 0; k < items.size(); ++k)
    if (items[k].empty()) empty.push_back(k + 1);
  if (empty.empty()) return {};
  const std::string quoted = "'" + text + "'";
  if (items.size() == 1) return quoted + " names no item: it is only white space";
  if (empty.size() == items.size())
    return quoted + " names no item: it is only commas" +
           (text.find_first_not_of(',') != std::string::npos ? " and white space" : "") +
           ", each of its " + std::to_string(items.size()) + " items empty";
  std::string places;
  for (std::size_t k = 0; k < empty.size(); ++k)
    places += (k == 0 ? "" : k + 1 == empty.size() ? " and " : ", ") + std::to_string(empty[k]);
  const bool one = empty.size() == 1;
  return (one ? "item " : "items ") + places + " of " + quoted + (one ? " is" : " are") +
         " empty: remove the extra comma" + (one ? "" : "s");
}

/// CLI11's check of a comma-separated list: empty items (two commas in a row, a leading or
/// trailing comma, a list of white space) are refused rather than skipped (empty_comma_items),
/// and each item must satisfy `item_allowed` (a message saying why not, or empty). CLI11 puts
/// the option's name before the message.
inline CLI::Validator comma_list_text(
    std::function<std::string(const std::string&)> item_allowed = nullptr) {
  return CLI::Validator(
      [item_allowed = std::move(item_allowed)](std::string& text) -> std::string {
        if (text.empty()) return {};
        if (auto why = empty_comma_items(text); !why.empty()) return why;
        if (item_allowed)
          for (const auto& item : comma_items(text))
            if (auto why = item_allowed(item); !why.empty()) return why;
        return {};
      },
      "");
}

/// --threads N for a command that computes; 0 (the default) uses every hardware thread.
inline CLI::Option* add_threads_option(CLI::App& app, int& threads) {
  return app
      .add_option("--threads", threads,
                  "threads to compute with; 0 = all hardware threads (waiting threads sleep\n"
                  "unless OMP_WAIT_POLICY or GOMP_SPINCOUNT is set)")
      ->type_name("N")
      ->transform(integer_in(0, 4096));
}

/// Makes the parallel parts of the computation use `threads` threads (0: all hardware threads).
inline void use_threads(int threads) {
  const int n =
      threads > 0 ? threads : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  Eigen::setNbThreads(n);
#ifdef _OPENMP
  omp_set_num_threads(n);
#endif
}

/// Refuses, as a command-line mistake naming both, an output that is the same file as an input
/// or as another output (paths compared after following links; empty paths are options not
/// given).
inline void check_distinct_outputs(const std::vector<io::named_path>& inputs,
                                   const std::vector<io::named_path>& outputs) {
  try {
    io::check_distinct_outputs(inputs, outputs);
  } catch (const option_error& e) {
    throw usage_error(e.what());
  }
}

/// What an input of a command must be: a regular file, a folder (a folder of task files), or
/// either (a model: a file, or a Hugging Face folder).
enum class input_kind { file, folder, file_or_folder };

/// An input a command reads, with the name the user gave it and what it must be.
struct input_path {
  std::string name;
  std::filesystem::path path;
  input_kind kind = input_kind::file;
};

/// Refuses, before any work and as a command-line mistake (exit 2) naming the option and the
/// path, an input that is missing or unreadable (with the system's reason), or that is not what
/// the command reads: a FIFO, a device or a socket where a file is expected (reading it would
/// block, or never end), a folder where a file is expected and a file where a folder is. Links
/// are followed; empty paths (options not given) are skipped. The one check every command runs
/// on what the user names as its inputs.
inline void check_inputs(const std::vector<input_path>& inputs) {
  for (const auto& in : inputs) {
    if (in.path.empty()) continue;
    const std::string named = in.name + " " + in.path.string();
    struct stat st {};
    if (::stat(in.path.c_str(), &st) != 0)
      throw usage_error("cannot read " + named + ": " + std::strerror(errno));
    const bool folder = S_ISDIR(st.st_mode);
    if (folder && in.kind == input_kind::file)
      throw usage_error(named + " is a folder: name a file");
    if (!folder && in.kind == input_kind::folder)
      throw usage_error(named + " is not a folder: name a folder");
    if (!folder && !S_ISREG(st.st_mode))
      throw usage_error(named + " is " + io::file_kind(st.st_mode) +
                        ", not a regular file: name a file (a pipe or device would block the "
                        "read, or never end)");
    // Readable? Opened without blocking (it is a regular file or a folder).
    const int fd = ::open(in.path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) throw usage_error("cannot read " + named + ": " + std::strerror(errno));
    ::close(fd);
  }
}

/// io::check_output_location(), its refusals (a missing or unwritable folder, a folder in the
/// way) as command-line mistakes: found before any work, they are the user's to correct.
inline void check_output_location(const std::string& name, const std::filesystem::path& path) {
  try {
    io::check_output_location(name, path);
  } catch (const io_error& e) {
    throw usage_error(e.what());
  }
}

/// Refuses, as a command-line mistake, an output that is the standard input, output or error
/// (`--json /dev/stdout`, a /proc/self/fd/N link, the file or pipe the shell redirected them
/// to): an output is written to a temporary renamed over its path, which would replace the
/// file the earlier lines went to, or fail on a pipe once the work is done.
inline void refuse_standard_stream(const std::string& name, const std::filesystem::path& path) {
  const std::string shown = path.string();
  const auto refuse = [&] {
    throw usage_error(name + " " + shown +
                      " is the standard input, output or error: outputs are written to a file "
                      "(through a temporary renamed into place); name a file, and read it from "
                      "there");
  };
  if (shown == "-") refuse();
  for (const char* prefix : {"/dev/std", "/dev/fd/", "/proc/self/fd/", "/proc/thread-self/fd/"})
    if (shown.rfind(prefix, 0) == 0) refuse();
  struct stat at {};
  if (::stat(path.c_str(), &at) != 0) return;
  for (const int fd : {0, 1, 2}) {
    struct stat stream {};
    if (::fstat(fd, &stream) == 0 && stream.st_dev == at.st_dev && stream.st_ino == at.st_ino)
      refuse();
  }
  // A link into /proc/PID/fd/ (or /dev/fd/) that lands elsewhere is still a stream of some
  // process.
  std::error_code ec;
  std::filesystem::path p = path;
  for (int hop = 0; hop < 40 && std::filesystem::is_symlink(p, ec); ++hop) {
    const std::filesystem::path target = std::filesystem::read_symlink(p, ec);
    if (ec) break;
    p = target.is_absolute() ? target : p.parent_path() / target;
    const std::string t = p.lexically_normal().string();
    if (t.rfind("/dev/fd/", 0) == 0 ||
        (t.rfind("/proc/", 0) == 0 && t.find("/fd/") != std::string::npos))
      refuse();
  }
}

/// Refuses, before any work, an output file that could not be written: one that names an
/// existing folder (through links too), the standard output, a device, a FIFO or a socket, or
/// whose folder is missing or not writable — all command-line mistakes naming the option.
inline void check_output_file(const std::string& name, const std::filesystem::path& path) {
  if (!path.empty()) refuse_standard_stream(name, path);
  std::error_code ec;
  const std::filesystem::path target = path.empty() ? path : io::write_target(path);
  if (!path.empty() && std::filesystem::is_directory(target, ec))
    throw usage_error(name + " " + path.string() + " is a folder: name a file to write");
  if (!path.empty()) {
    try {
      io::require_regular_or_absent(target, name + " " + path.string());
    } catch (const io_error& e) {
      throw usage_error(e.what());
    }
  }
  check_output_location(name, path);
}

/// Refuses, as a command-line mistake naming both, an output of `outputs` placed inside `folder`,
/// an output folder the same command writes as a whole (a Hugging Face model): the folder would
/// then hold a file that is not part of what it is, which the next run refuses to replace.
/// Paths are compared as written (links followed); empty paths are options not given.
inline void check_outside_output_folder(const io::named_path& folder,
                                        const std::vector<io::named_path>& outputs) {
  if (folder.path.empty()) return;
  const std::filesystem::path written_folder = io::written_path(folder.path);
  for (const auto& out : outputs) {
    if (out.path.empty()) continue;
    for (std::filesystem::path p = io::written_path(out.path).parent_path();
         !p.empty() && p != p.parent_path(); p = p.parent_path())
      if (p == written_folder)
        throw usage_error(out.name + " " + out.path.string() + " is inside " + folder.name + " " +
                          folder.path.string() +
                          ", the Hugging Face folder this command writes: write it elsewhere "
                          "(the folder holds the model's files only)");
  }
}

/// The file name extensions that promise a format (in lower case): a file holding another format
/// under one of these names would be read back as that format, and fail (or be misread).
inline constexpr const char* format_extensions[] = {
    ".gguf",     ".safetensors", ".bin", ".npy", ".npz",  ".json", ".jsonl", ".md",
    ".markdown", ".gz",          ".pt",  ".pth", ".ckpt", ".onnx", ".csv"};

/// Refuses, before any work and as a command-line mistake naming the option, the path and the
/// format written, an output `path` whose extension (any case) promises another format than the
/// one it is written in: `written` says that format in words ("JSON"), `own` lists its
/// extensions (lower case, with the dot). A name without a known extension (format_extensions)
/// is left alone; an empty path is an option not given.
inline void check_output_name(const std::string& name, const std::filesystem::path& path,
                              const std::string& written,
                              std::initializer_list<std::string_view> own) {
  std::string extension = path.extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const auto is = [&](std::string_view e) { return extension == e; };
  if (path.empty() ||
      std::none_of(std::begin(format_extensions), std::end(format_extensions), is) ||
      std::any_of(own.begin(), own.end(), is))
    return;
  throw usage_error(name + " " + path.string() + " ends in " + extension +
                    ", but it is written in " + written +
                    "; give a name that does not promise another format");
}

/// Refuses, before any work, an output that could not be written or would destroy something:
/// the same file as an input or as another output (a command-line mistake, naming both), or an
/// output that names a folder (likewise), or whose folder is missing or not writable (io_error
/// naming the option and the path as given). An output that is a symbolic link is written
/// through to its target (io::write_target()), so the target is what is compared.
inline void check_outputs(const std::vector<io::named_path>& inputs,
                          const std::vector<io::named_path>& outputs) {
  check_distinct_outputs(inputs, outputs);
  for (const auto& out : outputs)
    if (!out.path.empty()) check_output_file(out.name, out.path);
}

/// The options given on a command line, by their long names ("--percdamp"), filled when `app`
/// has parsed: what a command uses to refuse an option that would change nothing.
struct given_options {
  std::vector<std::string> names;
  bool has(const std::string& name) const {
    return std::find(names.begin(), names.end(), name) != names.end();
  }
};

/// Fills `given` with the options of `app` that the command line gives, once `app` is parsed.
inline void record_given_options(CLI::App& app, given_options& given) {
  app.parse_complete_callback([&app, &given] {
    given.names.clear();
    for (const CLI::Option* option : app.get_options())
      if (option->count() > 0)
        // CLI11 names an option hidden from --help "": its single name is kept.
        given.names.push_back(option->get_name().empty() ? "--" + option->get_single_name()
                                                         : option->get_name());
  });
}

/// Refuses `option` when it was given but changes nothing, saying why (`reason`, e.g. "applies to
/// sparsegpt and --reconstruct, not to wanda"): a command-line mistake.
inline void refuse_if_given(const given_options& given, const std::string& option,
                            bool changes_nothing, const std::string& reason) {
  if (changes_nothing && given.has(option))
    throw usage_error(option + " would change nothing: it " + reason);
}

/// The first bytes of `path` (up to 48) when they read as text — no NUL, no control character but
/// tab, newline and carriage return — for saying that a binary format was given a text file. A
/// file that begins with a binary format's magic (GGUF's "GGUF", .npy's "\x93NUMPY") is that
/// format cut short or damaged, not text, however few bytes follow.
inline std::optional<std::string> text_beginning(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return std::nullopt;  // a FIFO would block
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  char bytes[48];
  in.read(bytes, sizeof bytes);
  const auto n = static_cast<std::size_t>(in.gcount());
  if (n == 0) return std::nullopt;
  for (const std::string_view magic : {std::string_view("GGUF"), std::string_view("\x93NUMPY")})
    if (std::string_view(bytes, n).substr(0, magic.size()) == magic) return std::nullopt;
  std::string shown;
  for (std::size_t k = 0; k < n; ++k) {
    const auto c = static_cast<unsigned char>(bytes[k]);
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) return std::nullopt;
    shown += c == '\n' || c == '\r' || c == '\t' ? ' ' : static_cast<char>(c);
  }
  return io::valid_utf8(shown) + (n == sizeof bytes ? "..." : "");
}

/// The message on one line (the tools report every error as one line): a newline or carriage
/// return (in a file name the message quotes) is shown as \n or \r, as a C string writes it.
inline std::string one_line(const char* what) {
  std::string s;
  for (const char* c = what; *c != '\0'; ++c)
    s += *c == '\n' ? std::string("\\n") : *c == '\r' ? std::string("\\r") : std::string(1, *c);
  return s;
}

/// `text` safe to print on a terminal: every control character (C0, DEL and the C1 controls
/// U+0080..U+009F, which terminals read as escape sequences) and every byte that is not part of
/// well-formed UTF-8 is written as \xNN; the rest is kept. Every message that
/// names a user's path goes through it, so a file name cannot move the cursor or recolour the
/// terminal.
inline std::string printable(std::string_view text) {
  std::string out;
  const auto escape = [&](unsigned char b) {
    static constexpr char hex[] = "0123456789abcdef";
    out += "\\x";
    out += hex[b >> 4];
    out += hex[b & 15];
  };
  std::size_t k = 0;
  while (k < text.size()) {
    const auto b = static_cast<unsigned char>(text[k]);
    if (b < 0x80) {
      if (b < 0x20 || b == 0x7f)
        escape(b);
      else
        out += static_cast<char>(b);
      ++k;
      continue;
    }
    const std::size_t n = io::utf8_sequence_at(text, k).length;
    if (n == 0) {
      escape(b);
      ++k;
      continue;
    }
    // U+0080..U+009F are encoded C2 80..C2 9F.
    if (n == 2 && b == 0xc2 && static_cast<unsigned char>(text[k + 1]) < 0xa0) {
      escape(b);
      escape(static_cast<unsigned char>(text[k + 1]));
    } else {
      out.append(text.substr(k, n));
    }
    k += n;
  }
  return out;
}

/// A std::filesystem error in the tools' words: what was being done, the path(s) as given and
/// the reason ("cannot list the folder 'd': Too many levels of symbolic links"), instead of the
/// library's "filesystem error: directory iterator cannot open directory: ... [d]".
inline std::string filesystem_error_message(const std::filesystem::filesystem_error& e) {
  std::string operation = e.what();
  // libstdc++: "filesystem error: OPERATION: REASON [PATH1] [PATH2]".
  if (const std::size_t at = operation.find("filesystem error: "); at != std::string::npos)
    operation.erase(0, at + std::string_view("filesystem error: ").size());
  const std::string reason = e.code().message();
  if (const std::size_t at = operation.find(": " + reason); at != std::string::npos)
    operation.erase(at);
  else if (const std::size_t colon = operation.find(": "); colon != std::string::npos)
    operation.erase(colon);
  struct wording {
    const char* operation;
    const char* doing;
  };
  static constexpr wording words[] = {
      {"directory iterator cannot open directory", "list the folder"},
      {"recursive directory iterator cannot open directory", "list the folder"},
      {"cannot increment recursive directory iterator", "list the folder"},
      {"directory iterator cannot advance", "list the folder"},
      {"cannot increment directory iterator", "list the folder"},
      {"status", "look at"},
      {"symlink_status", "look at"},
      {"file_size", "find the size of"},
      {"canonical", "resolve the path"},
      {"weakly_canonical", "resolve the path"},
      {"read_symlink", "read the link"},
      {"create_directory", "create the folder"},
      {"create_directories", "create the folder"},
      {"remove", "remove"},
      {"remove_all", "remove"},
      {"rename", "rename"},
      {"copy", "copy"},
      {"copy_file", "copy"},
      {"last_write_time", "read the time of"},
      {"absolute", "resolve the path"},
      {"current_path", "read the current folder"}};
  std::string doing = "access (" + operation + ")";
  for (const auto& w : words)
    if (operation == w.operation) doing = w.doing;
  std::string paths;
  if (!e.path1().empty()) paths += " '" + e.path1().string() + "'";
  if (!e.path2().empty()) paths += " and '" + e.path2().string() + "'";
  return "cannot " + doing + paths + ": " + reason;
}

/// How a tool reports an error: `prefix` + message, and for command-line mistakes + `hint()`
/// (e.g. " (see --help)").
struct error_style {
  std::string prefix;
  std::function<std::string()> hint;
};

/// A message of the library as a user should read it: without the internal prefixes that name
/// the function or component that raised it ("sparsegpt: ", "obs_reconstruct: ", "prune recipe:
/// "), at its start or after an option's name ("--calibration: calibration: ..." reads
/// "--calibration: ..."). A prefix is a snake_case name, one of the library's one-word component
/// names, or two lowercase words; a path that exists (a file named in the message) is kept.
inline std::string without_internal_prefixes(std::string message) {
  static constexpr const char* components[] = {
      "calibration", "compare",    "copy",    "csr",       "dequantize",   "divergence",
      "dsnot",       "evaluation", "extend",  "generate",  "linears",      "logits",
      "magnitude",   "mask",       "matrix",  "obs",       "percentile",   "perplexity",
      "prefill",     "ria",        "sampler", "sparsegpt", "unstructured", "wanda",
      "cholesky",    "kv_cache",   "gguf",    "npy"};
  const auto is_lower = [](char c) { return c >= 'a' && c <= 'z'; };
  // The length of the internal prefix at `at` (name and ": "), or 0.
  const auto internal_prefix_at = [&](std::size_t at) -> std::size_t {
    const std::size_t colon = message.find(": ", at);
    if (colon == std::string::npos || colon == at || !is_lower(message[at])) return 0;
    const std::string name = message.substr(at, colon - at);
    const std::size_t space = name.find(' ');
    bool internal = false;
    if (space == std::string::npos) {
      internal =
          std::all_of(name.begin(), name.end(),
                      [&](char c) { return is_lower(c) || c == '_' || (c >= '0' && c <= '9'); }) &&
          (name.find('_') != std::string::npos ||
           std::any_of(std::begin(components), std::end(components),
                       [&](const char* c) { return name == c; }));
    } else {
      // Two words ("prune recipe", "sparsity table"), not a sentence's start ("cannot open").
      internal =
          name.find(' ', space + 1) == std::string::npos &&
          std::all_of(name.begin(), name.end(), [&](char c) { return is_lower(c) || c == ' '; }) &&
          name.rfind("cannot ", 0) != 0 && name.rfind("no ", 0) != 0;
    }
    std::error_code ec;
    if (!internal || std::filesystem::exists(name, ec)) return 0;
    return colon + 2 - at;
  };
  std::size_t at = 0;
  if (message.rfind("--", 0) == 0) {  // "--option: internal: ..."
    const std::size_t colon = message.find(": ");
    if (colon == std::string::npos || message.find(' ') < colon) return message;
    at = colon + 2;
  }
  while (const std::size_t n = internal_prefix_at(at)) message.erase(at, n);
  return message;
}

/// A CLI11 parse error in the tools' words: an option given more than once says so, and
/// unexpected arguments are listed in the order given (CLI11 lists them last first) when `app`,
/// the command that parsed, is given.
inline std::string parse_error_message(const CLI::ParseError& e, const CLI::App* app = nullptr) {
  const std::string what = one_line(e.what());
  if (app != nullptr && dynamic_cast<const CLI::ExtrasError*>(&e) != nullptr) {
    const std::vector<std::string> extras = app->remaining(true);
    if (!extras.empty()) {
      std::string list;
      for (const auto& word : extras)
        list += (list.empty() ? "" : " ") +
                (word.find(' ') == std::string::npos ? word : "'" + word + "'");
      return (extras.size() > 1 ? "The following arguments were not expected: "
                                : "The following argument was not expected: ") +
             list;
    }
  }
  if (dynamic_cast<const CLI::ArgumentMismatch*>(&e) != nullptr) {
    // CLI11: "--length: At Most 1 required but received 2".
    const std::size_t colon = what.find(": At Most 1 required but received ");
    if (colon != std::string::npos)
      return what.substr(0, colon) + " is given " +
             what.substr(colon + std::string_view(": At Most 1 required but received ").size()) +
             " times: give it once";
  }
  return what;
}

/// The command whose help a command line asks for with -h or --help anywhere before "--" (the
/// chosen subcommand, else the tool), or null when it does not ask: help wins over every other
/// mistake on the line.
inline const CLI::App* help_asked(const CLI::App& app, int argc, char** argv) {
  bool asked = false, command_seen = false;
  const CLI::App* command = &app;
  for (int k = 1; k < argc; ++k) {
    const std::string_view arg = argv[k];
    if (arg == "--") break;
    if (arg == "-h" || arg == "--help") asked = true;
    // The tools' top level takes flags only: its first other word names the command.
    if (!command_seen && arg.substr(0, 1) != "-") {
      command_seen = true;
      for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; }))
        if (sub->get_name() == arg) command = sub;
    }
  }
  return asked ? command : nullptr;
}

/// The options whose value may be empty (generate's --prompt: an empty prompt starts from
/// BOS); every other option's empty value is a mistake (refuse_empty_values()).
inline std::vector<const CLI::Option*>& options_accepting_empty_values() {
  static std::vector<const CLI::Option*> options;
  return options;
}

/// Lets `option` take an empty value (refuse_empty_values() refuses it otherwise).
inline CLI::Option* accepts_empty_value(CLI::Option* option) {
  options_accepting_empty_values().push_back(option);
  return option;
}

/// The mistake of giving `option` an empty value.
inline usage_error empty_value_error(const CLI::Option& option) {
  const std::string name =
      option.get_name().empty() ? "--" + option.get_single_name() : option.get_name();
  return usage_error(name + " is given an empty value: " +
                     (option.get_lnames().empty() && option.get_snames().empty()
                          ? "give one"
                          : "give a value, or leave the option out"));
}

/// Whether `option` takes a value that may not be empty.
inline bool refuses_empty_value(const CLI::Option& option) {
  const auto& allowed = options_accepting_empty_values();
  return option.get_expected_max() != 0 &&  // not a flag
         std::find(allowed.begin(), allowed.end(), &option) == allowed.end();
}

/// Refuses, as a command-line mistake naming the option, an empty value given to any option or
/// argument of the parsed command line (`--json ""`, `OUT ""`): without this an empty path reads
/// as an option not given, and the output the user asked for is silently not written.
inline void refuse_empty_values(const CLI::App& app) {
  for (const CLI::Option* option : app.get_options()) {
    if (option->count() == 0 || !refuses_empty_value(*option)) continue;
    for (const std::string& value : option->results())
      if (value.empty()) throw empty_value_error(*option);
  }
  for (const CLI::App* sub : app.get_subcommands()) refuse_empty_values(*sub);
}

/// refuse_empty_values() for a command line CLI11 did not parse: an option's check (a list of
/// allowed values, `--suite ''`) refuses an empty value while parsing, in its own words; the
/// empty value is found in `argv` (`--option ''` or `--option=`), so that every option's empty
/// value gets the same message.
inline void refuse_empty_values_in(const CLI::App& app, int argc, char** argv) {
  const CLI::App* command = &app;
  for (int k = 1; k < argc; ++k) {
    const std::string arg = argv[k];
    if (arg == "--") break;
    if (command == &app && arg.rfind("-", 0) != 0) {
      for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; }))
        if (sub->get_name() == arg) command = sub;
      continue;
    }
    if (arg.rfind("--", 0) != 0) continue;
    const std::size_t equals = arg.find('=');
    const CLI::Option* option = command->get_option_no_throw(arg.substr(0, equals));
    if (option == nullptr || !refuses_empty_value(*option)) continue;
    if (equals != std::string::npos ? equals + 1 == arg.size()
                                    : k + 1 < argc && *argv[k + 1] == '\0')
      throw empty_value_error(*option);
  }
}

/// The errno of the first flush of the standard output that failed (0: none has), so that
/// run_tool can say why the output was lost even when a later flush has nothing left to write.
inline int& stdout_failure() noexcept {
  static int failure = 0;
  return failure;
}

/// fflush(stdout), for output shown as it is made (generated text, a line per pruned linear):
/// a failure is remembered, with its reason, for run_tool to report.
inline void flush_stdout() {
  errno = 0;
  if (std::fflush(stdout) != 0 && stdout_failure() == 0)
    stdout_failure() = errno != 0 ? errno : EIO;
}

/// Parses the command line and runs `body`, reporting every error as one line on stderr. Returns
/// the exit status: `body`'s, 0 for --help (wherever it appears, even beside a mistake) and
/// --version, 2 for a command-line mistake, 1 for any other error. Terminating signals remove
/// the temporaries of unfinished outputs before the process ends as signalled; once the outputs
/// are being renamed into place (io::atomic_file_set::commit()) a signal no longer ends the
/// process: a run that completes its commit exits 0, one that fails (its outputs put back) ends
/// as the signal says. Output to the standard output that could not be written (a full disk,
/// /dev/full, a closed pipe with SIGPIPE ignored) fails the run with status 1, saying so: what
/// is printed is part of what the command produces.
inline int run_tool_unchecked(CLI::App& app, int argc, char** argv, const error_style& style,
                              const std::function<int()>& body);

inline int run_tool(CLI::App& app, int argc, char** argv, const error_style& style,
                    const std::function<int()>& body) {
  const int status = run_tool_unchecked(app, argc, argv, style, body);
  flush_stdout();
  if (stdout_failure() == 0 && std::ferror(stdout)) {
    // The stream failed inside a write made while printing (output longer than its buffer,
    // e.g. a --help), whose errno is gone: what was printed is already lost, so one more byte
    // written directly asks the file why.
    errno = 0;
    if (::write(STDOUT_FILENO, "\n", 1) < 0 && errno != 0) stdout_failure() = errno;
  }
  if (stdout_failure() != 0 || std::ferror(stdout)) {
    const int failure = stdout_failure();
    std::fprintf(stderr, "%scannot write the standard output%s%s\n", style.prefix.c_str(),
                 failure != 0 ? ": " : "", failure != 0 ? std::strerror(failure) : "");
    return status == 0 ? 1 : status;
  }
  return status;
}

// run_tool without the check of the standard output.
inline int run_tool_unchecked(CLI::App& app, int argc, char** argv, const error_style& style,
                              const std::function<int()>& body) {
  const auto report = [&](const std::string& message, bool usage) {
    std::fprintf(stderr, "%s%s%s\n", style.prefix.c_str(), printable(message).c_str(),
                 usage ? style.hint().c_str() : "");
  };
  io::remove_temporaries_on_signal();
  // Every subcommand answers --version as the tool does.
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; }))
    if (sub->get_version_ptr() == nullptr)
      sub->set_version_flag("--version", app.get_name() + " " + POLLARD_VERSION);
  int status = 0;
  try {
    require_number_transforms(app);
    try {
      app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
      return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
      return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
      // Not app.exit(): it flushes std::cout, and a failed flush there loses the reason
      // run_tool reports; the version goes to stdout as every other output does.
      std::fputs((std::string(e.what()) + "\n").c_str(), stdout);
      return 0;
    } catch (const CLI::ParseError& e) {
      if (const CLI::App* command = help_asked(app, argc, argv)) {
        std::fputs(command == &app ? app.help().c_str() : command->help(app.get_name()).c_str(),
                   stdout);
        return 0;
      }
      refuse_empty_values_in(app, argc, argv);
      report(parse_error_message(e, &app), true);
      return 2;
    }
    refuse_empty_values(app);
    status = body();
  } catch (const usage_error& e) {
    report(without_internal_prefixes(one_line(e.what())), true);
    status = 2;
  } catch (const std::filesystem::filesystem_error& e) {
    report(filesystem_error_message(e), false);
    status = 1;
  } catch (const std::bad_alloc&) {
    report("out of memory", false);
    status = 1;
  } catch (const std::exception& e) {
    report(without_internal_prefixes(one_line(e.what())), false);
    status = 1;
  }
  // A failed run's outputs are untouched (a failed commit puts them back): a signal that arrived
  // during its commit now ends it. A successful one keeps holding signals until it exits.
  if (status != 0) io::release_held_signals();
  return status;
}

}  // namespace pollard::cli
