#include <doctest/doctest.h>

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "pollard/evaluation/zero_shot_tasks.hpp"
#include "support/data.hpp"

using namespace pollard;
using namespace pollard::evaluation;

// Expected prompts follow the harness's task definitions: arc_easy.yaml "Question: {{question}}
// \nAnswer:", piqa.yaml "Question: {{goal}}\nAnswer:", hellaswag utils.py "{activity}: {ctx}",
// preprocess_winogrande.py, super_glue/boolq/default.yaml "{{passage}}\nQuestion: {{question}}?
// \nAnswer:" with ["no", "yes"]; the choices are continued after a space.

TEST_CASE("HellaSwag preprocessing follows the harness's: [title] -> '. ', tags dropped, spaces") {
  CHECK(hellaswag_preprocess("  A [header] b [title] c  d ") == "A b. c d");
  CHECK(hellaswag_preprocess("x   y") == "x  y");  // one pass of "  " -> " ", as str.replace
  CHECK(hellaswag_preprocess("see [www.a.org] now") == "see now");
  // re.sub(r"\[.*?\]", "", t) as the harness's preprocess does it (values printed by CPython):
  // an unclosed '[' stays, a tag does not cross a line, the first ']' closes a tag.
  CHECK(hellaswag_preprocess("a [b] c [d") == "a c [d");
  CHECK(hellaswag_preprocess("x [y\n] z [w]") == "x [y\n] z ");
  CHECK(hellaswag_preprocess("[[a]b]c") == "b]c");
}

TEST_CASE("ARC items: question prompt, choice texts, gold by answer label (letters or digits)") {
  const auto easy = pollard::test::data_file("tasks/arc/ARC-Easy-Test.jsonl");
  const auto challenge = pollard::test::data_file("tasks/arc/ARC-Challenge-Test.jsonl");
  if (!easy || !challenge) return;
  const auto task = read_arc(*easy, "arc_easy");
  REQUIRE(task.items.size() == 2376);
  CHECK(read_arc(*challenge, "arc_challenge").items.size() == 1172);
  const auto& first = task.items[0];
  CHECK(first.requests[0].context ==
        "Question: Which statement best explains why photosynthesis is the foundation of most "
        "food webs?\nAnswer:");
  CHECK(first.requests[0].continuation ==
        " Sunlight is the source of energy for nearly all ecosystems.");
  CHECK(first.choices.size() == 4);
  CHECK(first.gold == 0);
  const auto& numeric = task.items[14];  // NYSEDREGENTS_2015_8_28, labels 1-4, answerKey "2"
  CHECK(numeric.requests[1].context ==
        "Question: All living and nonliving material is composed of\nAnswer:");
  CHECK(numeric.choices == std::vector<std::string>{"air", "elements", "water", "soil"});
  CHECK(numeric.gold == 1);
}

TEST_CASE("PIQA items: goal prompt, two solutions, gold from the label file") {
  const auto questions = pollard::test::data_file("tasks/piqa/valid.jsonl");
  const auto labels = pollard::test::data_file("tasks/piqa/valid-labels.lst");
  if (!questions || !labels) return;
  const auto task = read_piqa(*questions, *labels);
  REQUIRE(task.items.size() == 1838);
  CHECK(task.items[0].requests[0].context ==
        "Question: How do I ready a guinea pig cage for it's new occupants?\nAnswer:");
  CHECK(task.items[0].gold == 0);
  CHECK(task.items[1].requests[0].context == "Question: dresser\nAnswer:");
  // Choice texts are kept as they are, trailing and double spaces included.
  CHECK(task.items[1].choices == std::vector<std::string>{"replace drawer with bobby pin ",
                                                          "finish, woodgrain with  bobby pin "});
  CHECK(task.items[1].requests[1].continuation == " finish, woodgrain with  bobby pin ");
  CHECK(task.items[1].gold == 1);
}

TEST_CASE("HellaSwag items: '{activity}: {ctx}' and four endings, gold from the layout") {
  const auto path = pollard::test::data_file("tasks/hellaswag/hellaswag_val_full.txt");
  if (!path) return;
  const auto task = read_hellaswag(*path);
  REQUIRE(task.items.size() == 10042);
  const auto& first = task.items[0];
  // The harness has "... on a roof. He" (ctx_b capitalised); this layout keeps "he".
  CHECK(first.requests[0].context == "Roof shingle removal: A man is sitting on a roof. he");
  CHECK(first.choices == std::vector<std::string>{
                             "is using wrap to wrap a pair of skis.", "is ripping level tiles off.",
                             "is holding a rubik's cube.", "starts pulling up roofing on a roof."});
  CHECK(first.requests[3].continuation == " starts pulling up roofing on a roof.");
  CHECK(first.gold == 3);
  CHECK(task.items[1].requests[0].context ==
        "Clean and jerk: A lady walks to a barbell. She bends down and grabs the pole. the lady");
  CHECK(task.items[1].gold == 3);
}

TEST_CASE("WinoGrande items: partial evaluation around the blank, acc only") {
  const auto path = pollard::test::data_file("tasks/winogrande/winogrande_xl_validation.jsonl");
  if (!path) return;
  const auto task = read_winogrande(*path);
  REQUIRE(task.items.size() == 1267);
  CHECK_FALSE(task.reports_acc_norm);
  const auto& first = task.items[0];
  CHECK(first.requests[0].context == "Sarah was a much better surgeon than Maria so Sarah");
  CHECK(first.requests[1].context == "Sarah was a much better surgeon than Maria so Maria");
  CHECK(first.requests[0].continuation == " always got the easier cases.");
  CHECK(first.requests[1].continuation == " always got the easier cases.");
  CHECK(first.gold == 1);
  CHECK(task.items[1].requests[0].continuation == " always got the harder cases.");
  CHECK(task.items[1].gold == 0);
}

TEST_CASE("BoolQ items: passage, question with '?', answers no/yes, acc only") {
  const auto path = pollard::test::data_file("tasks/boolq/val.jsonl");
  if (!path) return;
  const auto task = read_boolq(*path);
  REQUIRE(task.items.size() == 3270);
  CHECK_FALSE(task.reports_acc_norm);
  const auto& context = task.items[0].requests[0].context;
  CHECK(context.rfind("Ethanol fuel -- All biomass goes through", 0) == 0);
  const std::string tail =
      " less petroleum than producing gasoline.\nQuestion: does ethanol take more energy make "
      "that produces?\nAnswer:";
  CHECK(context.substr(context.size() - tail.size()) == tail);
  CHECK(task.items[0].requests[0].continuation == " no");
  CHECK(task.items[0].requests[1].continuation == " yes");
  CHECK(task.items[0].gold == 0);  // label "false"
}

TEST_CASE("tasks load by their harness names; an unknown name lists the known ones") {
  const auto root = pollard::test::data_file("tasks");
  if (!root) return;
  for (const auto& name : zero_shot_task_names())
    CHECK(load_zero_shot_task(name, *root).name == name);
  CHECK_THROWS_WITH_AS(load_zero_shot_task("openbookqa", *root),
                       doctest::Contains("arc_easy, arc_challenge"), option_error);
}

namespace {

std::filesystem::path arc_file(const std::string& name, const std::vector<std::string>& lines) {
  const auto path = std::filesystem::temp_directory_path() / ("pollard-zero-shot-" + name);
  std::ofstream out(path, std::ios::binary);
  for (const auto& line : lines) out << line << "\n";
  return path;
}

std::string arc_line(const std::string& answer, const std::vector<std::string>& labels) {
  std::string choices;
  for (std::size_t i = 0; i < labels.size(); ++i)
    choices += std::string(i ? "," : "") + "{\"text\":\"c" + std::to_string(i) + "\",\"label\":\"" +
               labels[i] + "\"}";
  return "{\"question\":{\"stem\":\"q\",\"choices\":[" + choices + "]},\"answerKey\":\"" + answer +
         "\"}";
}

}  // namespace

TEST_CASE("ARC: a repeated label makes the first choice with it gold, as the harness's index()") {
  // arc_easy.yaml: doc_to_target "{{choices.label.index(answerKey)}}", Python's list.index.
  const auto path = arc_file("duplicate-label.jsonl",
                             {arc_line("A", {"A", "A", "B"}), arc_line("B", {"A", "B", "B", "C"})});
  const auto task = read_arc(path, "arc_easy");
  REQUIRE(task.items.size() == 2);
  CHECK(task.items[0].gold == 0);
  CHECK(task.items[1].gold == 1);
  std::filesystem::remove(path);
}

TEST_CASE("ARC: an item with fewer than two choices is refused when read, naming file and line") {
  const auto path =
      arc_file("one-choice.jsonl", {arc_line("A", {"A", "B"}), arc_line("B", {"A", "B"}),
                                    arc_line("A", {"A", "B"}), arc_line("A", {"A"})});
  CHECK_THROWS_WITH_AS(read_arc(path, "arc_easy"),
                       doctest::Contains("pollard-zero-shot-one-choice.jsonl line 4: an item "
                                         "needs at least two choices, this one has 1"),
                       format_error);
  std::filesystem::remove(path);
}

namespace {

const std::string bom = "\xEF\xBB\xBF";
const std::string misplaced_mark =
    "a UTF-8 byte-order mark (U+FEFF), which belongs only at the very start of a file";

/// A file of `lines` (each ending in "\n") with a byte-order mark before line `marked` (1-based),
/// and the byte offset of that mark.
std::pair<std::filesystem::path, std::size_t> marked_file(const std::string& name,
                                                          const std::vector<std::string>& lines,
                                                          std::size_t marked) {
  std::string content;
  std::size_t offset = 0;
  for (std::size_t k = 0; k < lines.size(); ++k) {
    if (k + 1 == marked) {
      offset = content.size();
      content += bom;
    }
    content += lines[k] + "\n";
  }
  const auto path = std::filesystem::temp_directory_path() / ("pollard-zero-shot-bom-" + name);
  std::ofstream(path, std::ios::binary) << content;
  return {path, offset};
}

std::string json_mark_message(const std::filesystem::path& path, std::size_t line,
                              std::size_t offset) {
  return path.string() + " line " + std::to_string(line) + ": invalid JSON: " + misplaced_mark +
         ", at offset " + std::to_string(offset);
}

std::string plain_mark_message(const std::filesystem::path& path, std::size_t line,
                               std::size_t offset) {
  return path.string() + " line " + std::to_string(line) + " (byte offset " +
         std::to_string(offset) + "): " + misplaced_mark + " (were files joined?)";
}

}  // namespace

TEST_CASE(
    "every task file skips a byte-order mark at its start and refuses one elsewhere, "
    "naming the file, line and offset") {
  const std::string piqa = R"({"goal": "g", "sol1": "a", "sol2": "b"})";
  const std::string winogrande =
      R"({"sentence": "A _ b.", "option1": "x", "option2": "y", "answer": "1"})";
  const std::string boolq = R"({"question": "q", "passage": "p", "idx": 0, "label": "true"})";
  const std::vector<std::string> hellaswag{"Act: ctx", "1", "e0", "e1", "e2", "e3"};
  std::vector<std::string> hellaswag_two = hellaswag;
  hellaswag_two.insert(hellaswag_two.end(), hellaswag.begin(), hellaswag.end());
  const std::vector<std::string> arc(3, arc_line("A", {"A", "B"}));
  std::vector<std::filesystem::path> made;
  const auto file = [&](const std::string& name, const std::vector<std::string>& lines,
                        std::size_t marked) {
    auto f = marked_file(name, lines, marked);
    made.push_back(f.first);
    return f;
  };

  SUBCASE("ARC") {
    CHECK(read_arc(file("arc-start.jsonl", arc, 1).first, "arc_easy").items.size() == 3);
    const auto [path, offset] = file("arc.jsonl", arc, 3);
    CHECK_THROWS_WITH_AS(read_arc(path, "arc_easy"), json_mark_message(path, 3, offset).c_str(),
                         format_error);
  }
  SUBCASE("PIQA questions and labels") {
    const std::vector<std::string> questions(3, piqa), labels{"0", "1", "1"};
    const auto questions_start = file("piqa-start.jsonl", questions, 1).first;
    const auto labels_start = file("piqa-labels-start.lst", labels, 1).first;
    const auto task = read_piqa(questions_start, labels_start);
    REQUIRE(task.items.size() == 3);
    CHECK(task.items[0].gold == 0);
    CHECK(task.items[2].gold == 1);
    const auto [q, q_offset] = file("piqa.jsonl", questions, 2);
    CHECK_THROWS_WITH_AS(read_piqa(q, labels_start), json_mark_message(q, 2, q_offset).c_str(),
                         format_error);
    // A mark before line 3 of the labels is refused where it is, not as a label "\xEF\xBB\xBF1".
    const auto [l, l_offset] = file("piqa-labels.lst", labels, 3);
    CHECK(l_offset == 4);
    CHECK_THROWS_WITH_AS(read_piqa(questions_start, l), plain_mark_message(l, 3, l_offset).c_str(),
                         format_error);
  }
  SUBCASE("HellaSwag") {
    const auto task = read_hellaswag(file("hellaswag-start.txt", hellaswag_two, 1).first);
    REQUIRE(task.items.size() == 2);
    CHECK(task.items[0].requests[0].context == "Act: ctx");
    CHECK(task.items[1].gold == 1);
    // Before the second item's gold line, and before one of its endings (which would otherwise
    // be read as text).
    for (const std::size_t line : {std::size_t{8}, std::size_t{10}}) {
      CAPTURE(line);
      const auto [path, offset] =
          file("hellaswag-" + std::to_string(line) + ".txt", hellaswag_two, line);
      CHECK_THROWS_WITH_AS(read_hellaswag(path), plain_mark_message(path, line, offset).c_str(),
                           format_error);
    }
  }
  SUBCASE("WinoGrande") {
    const std::vector<std::string> lines(3, winogrande);
    CHECK(read_winogrande(file("winogrande-start.jsonl", lines, 1).first).items.size() == 3);
    const auto [path, offset] = file("winogrande.jsonl", lines, 2);
    CHECK_THROWS_WITH_AS(read_winogrande(path), json_mark_message(path, 2, offset).c_str(),
                         format_error);
  }
  SUBCASE("BoolQ") {
    const std::vector<std::string> lines(3, boolq);
    CHECK(read_boolq(file("boolq-start.jsonl", lines, 1).first).items.size() == 3);
    const auto [path, offset] = file("boolq.jsonl", lines, 3);
    CHECK_THROWS_WITH_AS(read_boolq(path), json_mark_message(path, 3, offset).c_str(),
                         format_error);
  }
  for (const auto& p : made) std::filesystem::remove(p);
}

TEST_CASE("a HellaSwag gold that is not 0-3 is named by its own line") {
  // The message named the item's first line (its context) while the bad gold is on the next.
  std::vector<std::string> lines{"Act: ctx", "1", "e0", "e1", "e2", "e3"};
  lines.insert(lines.end(), {"Act: other", "4", "e0", "e1", "e2", "e3"});
  const auto path = marked_file("hellaswag-gold.txt", lines, 0).first;
  CHECK_THROWS_WITH_AS(
      read_hellaswag(path),
      (path.string() + " line 8: the item's second line is its gold 0-3, got \"4\"").c_str(),
      format_error);
  std::filesystem::remove(path);
}

TEST_CASE(
    "a blank line inside a HellaSwag item is refused where it is; between items it is skipped") {
  // Skipped, it shifted every later line into another role: the next item's context was read
  // as this item's last ending, and the error came later, about another line.
  std::vector<std::string> lines{"Act: ctx", "1", "e0", "e1", "", "e2", "e3"};
  lines.insert(lines.end(), {"Act: other", "2", "e0", "e1", "e2", "e3"});
  const auto path = marked_file("hellaswag-blank.txt", lines, 0).first;
  CHECK_THROWS_WITH_AS(
      read_hellaswag(path),
      (path.string() + " line 5: a blank line inside an item (each item is 6 lines: the context, "
                       "the gold 0-3 and 4 endings)")
          .c_str(),
      format_error);
  const std::vector<std::string> between{"Act: ctx",   "1", "e0", "e1", "e2", "e3", "",
                                         "Act: other", "2", "e0", "e1", "e2", "e3", ""};
  const auto ok = marked_file("hellaswag-between.txt", between, 0).first;
  const auto task = read_hellaswag(ok);
  REQUIRE(task.items.size() == 2);
  CHECK(task.items[1].gold == 2);
  std::filesystem::remove(path);
  std::filesystem::remove(ok);
}
