#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>
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
