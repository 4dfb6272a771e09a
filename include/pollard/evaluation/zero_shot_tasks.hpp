// pollard — readers of the zero-shot multiple-choice tasks pruning papers report, each with the
// prompt format of EleutherAI's lm-evaluation-harness task definition (lm_eval/tasks/: arc,
// piqa, hellaswag, winogrande, super_glue/boolq).
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pollard/core/error.hpp"
#include "pollard/evaluation/multiple_choice.hpp"
#include "pollard/io/input_file.hpp"
#include "pollard/io/json.hpp"
#include "pollard/io/plain_text.hpp"
#include "pollard/io/text_datasets.hpp"

namespace pollard::evaluation {

namespace detail {

inline std::string read_task_file(const std::filesystem::path& path) {
  io::require_regular_file(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw io_error("cannot open " + path.string() + ": " + std::strerror(errno));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

/// Calls row(where, value) for each non-blank line of the JSON-lines task file `path`, `where`
/// naming the file (as given) and the line. As every JSON-lines reader (io::parse_json_records):
/// a UTF-8 byte-order mark at the start of the file is skipped, one anywhere else outside a
/// string is a format_error naming the file, the line and the byte offset.
inline void for_each_json_line(
    const std::filesystem::path& path,
    const std::function<void(const std::string&, const io::json_value&)>& row) {
  for (const auto& [where, value] :
       io::parse_json_records(read_task_file(path), path.string(), false))
    row(where, value);
}

/// Calls row(where, line) for each non-blank line of the plain-text task file `path` (a line's
/// "\r" before its "\n" dropped), `where` naming the file (as given) and the line. As every
/// plain-text reader (io::plain_text_of): a UTF-8 byte-order mark at the start of the file is
/// skipped, one anywhere else is a format_error naming the file, the line and the byte offset.
inline void for_each_line(const std::filesystem::path& path,
                          const std::function<void(const std::string&, std::string_view)>& row,
                          bool blank_lines = false) {
  const std::string content = read_task_file(path);
  const std::string_view text = io::plain_text_of(content, path.string());
  std::size_t begin = 0;
  std::size_t number = 1;
  while (begin < text.size()) {
    std::size_t end = text.find('\n', begin);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(begin, end - begin);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (blank_lines || line.find_first_not_of(" \t") != std::string_view::npos)
      row(path.string() + " line " + std::to_string(number), line);
    begin = end + 1;
    ++number;
  }
}

inline const io::json_value& member(const io::json_value& object, std::string_view key,
                                    const std::string& where) {
  const auto* v = object.find(key);
  if (v == nullptr) throw format_error(where + ": no \"" + std::string(key) + "\" field");
  return *v;
}

inline const std::string& string_member(const io::json_value& object, std::string_view key,
                                        const std::string& where) {
  return member(object, key, where).as_string(where + " " + std::string(key));
}

/// Python's str.strip() over ASCII whitespace.
inline std::string strip(std::string_view s) {
  const std::string_view space = " \t\n\v\f\r";
  const auto b = s.find_first_not_of(space);
  if (b == std::string_view::npos) return {};
  return std::string(s.substr(b, s.find_last_not_of(space) - b + 1));
}

inline void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
}

}  // namespace detail

/// The harness's HellaSwag preprocess (lm_eval/tasks/hellaswag/utils.py): strip, " [title]" ->
/// ". ", drop every "[...]" tag, then each "  " -> " " (one left-to-right pass, as str.replace).
inline std::string hellaswag_preprocess(std::string_view text) {
  std::string s = detail::strip(text);
  detail::replace_all(s, " [title]", ". ");
  // re.sub("\\[.*?\\]", "", s): each '[' up to the first ']' after it on the same line goes.
  std::string untagged;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '[') {
      const std::size_t close = s.find(']', i + 1);
      const std::size_t newline = s.find('\n', i + 1);
      if (close != std::string::npos && (newline == std::string::npos || newline > close)) {
        i = close;
        continue;
      }
    }
    untagged += s[i];
  }
  s = std::move(untagged);
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    out += s[i];
    if (s[i] == ' ' && i + 1 < s.size() && s[i + 1] == ' ') ++i;
  }
  return out;
}

/// ARC (AI2 release JSONL): "Question: {question}\nAnswer:", choices the choice texts, gold the
/// position of answerKey among the labels (A-E, or 1-5 on some items, as the release has them):
/// the first label equal to it, as the harness's choices.label.index(answerKey). An item with
/// fewer than two choices is refused here, naming its line.
inline multiple_choice_task read_arc(const std::filesystem::path& path, std::string name) {
  multiple_choice_task task{std::move(name), {}, true};
  detail::for_each_json_line(path, [&](const std::string& where, const io::json_value& doc) {
    const auto& question = detail::member(doc, "question", where);
    const std::string& key = detail::string_member(doc, "answerKey", where);
    std::vector<std::string> choices;
    index_t gold = -1;
    for (const auto& c : detail::member(question, "choices", where).as_array(where + " choices")) {
      const std::string& label = detail::string_member(c, "label", where);
      if (gold < 0 && label == key) gold = static_cast<index_t>(choices.size());
      choices.push_back(detail::string_member(c, "text", where));
    }
    if (choices.size() < 2)
      throw format_error(where + ": an item needs at least two choices, this one has " +
                         std::to_string(choices.size()));
    if (gold < 0) throw format_error(where + ": answerKey \"" + key + "\" is not a choice label");
    task.items.push_back(
        choice_item("Question: " + detail::string_member(question, "stem", where) + "\nAnswer:",
                    std::move(choices), gold));
  });
  return task;
}

/// PIQA (the authors' valid.jsonl + line-aligned labels): "Question: {goal}\nAnswer:", choices
/// sol1, sol2.
inline multiple_choice_task read_piqa(const std::filesystem::path& questions,
                                      const std::filesystem::path& labels) {
  multiple_choice_task task{"piqa", {}, true};
  detail::for_each_json_line(questions, [&](const std::string& where, const io::json_value& doc) {
    task.items.push_back(choice_item(
        "Question: " + detail::string_member(doc, "goal", where) + "\nAnswer:",
        {detail::string_member(doc, "sol1", where), detail::string_member(doc, "sol2", where)}, 0));
  });
  std::size_t n = 0;
  detail::for_each_line(labels, [&](const std::string& where, std::string_view line) {
    const std::string label = detail::strip(line);
    if (label != "0" && label != "1")
      throw format_error(where + ": a PIQA label is 0 or 1, got \"" + label + "\"");
    if (n >= task.items.size())
      throw format_error(labels.string() + " has more labels than " + questions.string() +
                         " has items (" + std::to_string(task.items.size()) + ")");
    task.items[n++].gold = label == "1" ? 1 : 0;
  });
  if (n != task.items.size())
    throw format_error(labels.string() + " has " + std::to_string(n) + " labels for " +
                       std::to_string(task.items.size()) + " items");
  return task;
}

/// HellaSwag in llama.cpp's text layout (6 lines per item: "{activity_label}: {ctx}", the gold
/// 0-3, the 4 endings), each text put through hellaswag_preprocess. The harness builds ctx as
/// ctx_a + " " + ctx_b.capitalize(); this layout has ctx_a and ctx_b joined without that
/// capitalisation, so where ctx_b starts with a lower-case letter the context here differs from
/// the harness's in that one letter (e.g. "... on a roof. he" where the harness has "He").
inline multiple_choice_task read_hellaswag(const std::filesystem::path& path) {
  multiple_choice_task task{"hellaswag", {}, true};
  std::vector<std::string> lines;
  std::string gold_where;  // the gold's own line, named when it is not 0-3
  detail::for_each_line(
      path,
      [&](const std::string& where, std::string_view line) {
        // Blank lines between items are skipped; one inside an item would shift every later line
        // into another role (an ending read as the next item's context).
        if (line.find_first_not_of(" \t") == std::string_view::npos) {
          if (lines.empty()) return;
          throw format_error(where + ": a blank line inside an item (each item is 6 lines: the " +
                             "context, the gold 0-3 and 4 endings)");
        }
        if (lines.size() == 1) gold_where = where;
        lines.emplace_back(line);
        if (lines.size() < 6) return;
        const std::string& g = lines[1];
        if (g.size() != 1 || g[0] < '0' || g[0] > '3')
          throw format_error(gold_where + ": the item's second line is its gold 0-3, got \"" + g +
                             "\"");
        std::vector<std::string> endings;
        for (std::size_t e = 2; e < 6; ++e) endings.push_back(hellaswag_preprocess(lines[e]));
        task.items.push_back(
            choice_item(hellaswag_preprocess(lines[0]), std::move(endings), g[0] - '0'));
        lines.clear();
      },
      true);
  if (!lines.empty())
    throw format_error(path.string() + ": the last item has " + std::to_string(lines.size()) +
                       " lines, not 6");
  return task;
}

/// WinoGrande (JSONL {sentence, option1, option2, answer "1"/"2"}) by partial evaluation as the
/// harness's preprocess_winogrande.py defines it: choice i's context is the sentence up to the
/// blank "_" with option i in it; the shared continuation is the rest after the blank, stripped.
/// The harness reports acc only.
inline multiple_choice_task read_winogrande(const std::filesystem::path& path) {
  multiple_choice_task task{"winogrande", {}, false};
  detail::for_each_json_line(path, [&](const std::string& where, const io::json_value& doc) {
    const std::string& sentence = detail::string_member(doc, "sentence", where);
    const std::string& answer = detail::string_member(doc, "answer", where);
    const auto blank = sentence.find('_');
    if (blank == std::string::npos) throw format_error(where + ": the sentence has no blank \"_\"");
    if (answer != "1" && answer != "2")
      throw format_error(where + ": answer is \"1\" or \"2\", got \"" + answer + "\"");
    const std::string before = sentence.substr(0, blank);
    task.items.push_back(partial_item({before + detail::string_member(doc, "option1", where),
                                       before + detail::string_member(doc, "option2", where)},
                                      detail::strip(sentence.substr(blank + 1)),
                                      answer == "1" ? 0 : 1));
  });
  return task;
}

/// BoolQ in the SuperGLUE layout ({passage, question, label}, passage "Title -- text" as the
/// harness's super_glue dataset has it; label true/false as a JSON boolean or string):
/// "{passage}\nQuestion: {question}?\nAnswer:", choices "no", "yes". The harness reports acc only.
inline multiple_choice_task read_boolq(const std::filesystem::path& path) {
  multiple_choice_task task{"boolq", {}, false};
  detail::for_each_json_line(path, [&](const std::string& where, const io::json_value& doc) {
    const auto& label = detail::member(doc, "label", where);
    bool yes = false;
    if (label.is_bool()) {
      yes = label.as_bool(where + " label");
    } else {
      const std::string& s = label.as_string(where + " label");
      if (s != "true" && s != "false")
        throw format_error(where + ": label is true or false, got \"" + s + "\"");
      yes = s == "true";
    }
    task.items.push_back(choice_item(
        detail::string_member(doc, "passage", where) +
            "\nQuestion: " + detail::string_member(doc, "question", where) + "?\nAnswer:",
        {"no", "yes"}, yes ? 1 : 0));
  });
  return task;
}

/// The task names load_zero_shot_task knows.
inline std::vector<std::string> zero_shot_task_names() {
  return {"arc_easy", "arc_challenge", "piqa", "hellaswag", "winogrande", "boolq"};
}

[[noreturn]] inline void throw_unknown_zero_shot_task(const std::string& name) {
  std::string known;
  for (const auto& n : zero_shot_task_names()) known += (known.empty() ? "" : ", ") + n;
  throw option_error("unknown zero-shot task \"" + name + "\" (known: " + known + ")");
}

/// The files of a task in `tasks_dir`, laid out as arc/ARC-Easy-Test.jsonl,
/// arc/ARC-Challenge-Test.jsonl, piqa/valid.jsonl + valid-labels.lst,
/// hellaswag/hellaswag_val_full.txt, winogrande/winogrande_xl_validation.jsonl, boolq/val.jsonl.
/// Throws option_error for a task it does not know.
inline std::vector<std::filesystem::path> zero_shot_task_files(
    const std::string& name, const std::filesystem::path& tasks_dir) {
  if (name == "arc_easy") return {tasks_dir / "arc" / "ARC-Easy-Test.jsonl"};
  if (name == "arc_challenge") return {tasks_dir / "arc" / "ARC-Challenge-Test.jsonl"};
  if (name == "piqa")
    return {tasks_dir / "piqa" / "valid.jsonl", tasks_dir / "piqa" / "valid-labels.lst"};
  if (name == "hellaswag") return {tasks_dir / "hellaswag" / "hellaswag_val_full.txt"};
  if (name == "winogrande") return {tasks_dir / "winogrande" / "winogrande_xl_validation.jsonl"};
  if (name == "boolq") return {tasks_dir / "boolq" / "val.jsonl"};
  throw_unknown_zero_shot_task(name);
}

/// A task by its harness name, read from its files (zero_shot_task_files).
inline multiple_choice_task load_zero_shot_task(const std::string& name,
                                                const std::filesystem::path& tasks_dir) {
  const auto files = zero_shot_task_files(name, tasks_dir);
  if (name == "arc_easy" || name == "arc_challenge") return read_arc(files[0], name);
  if (name == "piqa") return read_piqa(files[0], files[1]);
  if (name == "hellaswag") return read_hellaswag(files[0]);
  if (name == "winogrande") return read_winogrande(files[0]);
  if (name == "boolq") return read_boolq(files[0]);
  throw_unknown_zero_shot_task(name);
}

}  // namespace pollard::evaluation
