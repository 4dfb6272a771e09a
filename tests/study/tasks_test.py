"""`pollard tasks --suite` on stories260K: the BOS conventions (--bos no / tokenizer) give the
accuracies of an independent implementation, --limit draws CPython's random sample of the items
(--limit-seed) or takes the first ones (--limit-first), a task given twice is refused, and an
item with one choice is refused when its file is read, before any item is scored.

usage: tasks_test.py POLLARD_EXECUTABLE WORK_DIR (POLLARD_DATA_DIR in the environment)"""

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

from study_test import check, skip

TASKS = ["arc_easy", "arc_challenge", "piqa", "hellaswag", "winogrande", "boolq"]

# acc and acc_norm of stories260K on the first 50 items of each task, computed by a float64 numpy
# re-implementation of the llama2.c forward pass and of the harness's multiple-choice scoring
# (the harness's prompts and _encode_pair, sentencepiece's tok512.model), once with BOS first and
# once without.
REFERENCE = {
    "tokenizer": {"arc_easy": (0.22, 0.16), "arc_challenge": (0.20, 0.18), "piqa": (0.40, 0.42),
                  "hellaswag": (0.28, 0.20), "winogrande": (0.52, 0.44), "boolq": (0.20, 0.76)},
    "no": {"arc_easy": (0.24, 0.16), "arc_challenge": (0.18, 0.18), "piqa": (0.38, 0.40),
           "hellaswag": (0.32, 0.18), "winogrande": (0.52, 0.46), "boolq": (0.20, 0.78)},
}


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(2)
    pollard, work = Path(sys.argv[1]), Path(sys.argv[2])
    data = Path(os.environ.get("POLLARD_DATA_DIR", "/nonexistent"))
    model = data / "models/stories260K/stories260K.bin"
    if not model.exists() or not (data / "tasks/arc").is_dir():
        skip("POLLARD_DATA_DIR does not name the data folder (models/stories260K, tasks/)")
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)

    def tasks(*options):
        done = subprocess.run([str(pollard), "tasks", str(model), "--threads", "1"]
                              + [str(o) for o in options], capture_output=True, text=True)
        print(done.stdout + done.stderr)
        return done

    # BOS conventions against the independent implementation.
    for bos, convention in (("tokenizer", "BOS first (--bos tokenizer"), ("no", "no BOS (--bos no")):
        out = work / f"bos-{bos}.json"
        done = tasks("--suite", ",".join(TASKS), "--tasks-dir", data / "tasks", "--limit", 50,
                     "--limit-first", "--bos", bos, "--json", out)
        check(done.returncode == 0, f"--bos {bos} runs")
        check(convention in done.stdout and "v0.4.9.2" in done.stdout,
              f"--bos {bos}: the output names the convention and the harness version")
        check("the first 50 items of each task" in done.stdout, "the output names the items")
        z = json.loads(out.read_text())["zero_shot"]
        check(z["bos"] == bos and z["add_bos"] == (bos == "tokenizer")
              and z["item_selection"] == "first", f"--bos {bos}: the JSON names the convention")
        for t in z["tasks"]:
            got = (round(t["acc"]["mean"], 9), round(t["acc_norm"]["mean"], 9))
            check(got == REFERENCE[bos][t["task"]] and t["item_indices"] == list(range(50)),
                  f"--bos {bos}, {t['task']}: {got} is the reference {REFERENCE[bos][t['task']]}")

    # --limit N draws sorted(random.Random(seed).sample(range(n), N)) of each task.
    arc = (data / "tasks/arc/ARC-Easy-Test.jsonl").read_text(encoding="utf-8").splitlines()
    arc = [line for line in arc if line.strip()]
    for seed, extra in ((0, []), (7, ["--limit-seed", 7])):
        out = work / f"seed-{seed}.json"
        done = tasks("--suite", "arc_easy,boolq", "--tasks-dir", data / "tasks", "--limit", 20,
                     *extra, "--json", out)
        check(done.returncode == 0, f"--limit 20 with seed {seed} runs")
        check(f"a random 20 items of each task, --limit-seed {seed}" in done.stdout,
              "the output names the random items and their seed (0 by default)")
        z = json.loads(out.read_text())["zero_shot"]
        check(z["item_selection"] == "random" and z["limit_seed"] == seed, "the JSON names them")
        for t in z["tasks"]:
            expected = sorted(random.Random(seed).sample(range(t["items_available"]), 20))
            check(t["items"] == 20 and t["item_indices"] == expected,
                  f"seed {seed}, {t['task']}: the items are CPython's sample {expected}")
        check(z["tasks"][0]["items_available"] == len(arc), "ARC-Easy's items are counted")
        # The same items given as a file of their own score the same.
        folder = work / f"subset-{seed}" / "arc"
        folder.mkdir(parents=True)
        chosen = z["tasks"][0]["item_indices"]
        (folder / "ARC-Easy-Test.jsonl").write_text(
            "".join(arc[i] + "\n" for i in chosen), encoding="utf-8")
        out_subset = work / f"subset-{seed}.json"
        check(tasks("--suite", "arc_easy", "--tasks-dir", folder.parent, "--json",
                    out_subset).returncode == 0, "the subset file is scored")
        whole = json.loads(out_subset.read_text())["zero_shot"]["tasks"][0]
        check(whole["items"] == 20
              and (whole["acc"], whole["acc_norm"]) == (z["tasks"][0]["acc"],
                                                        z["tasks"][0]["acc_norm"]),
              f"seed {seed}: the sampled items score as a file of just them")

    # Refusals.
    out = work / "twice.json"
    done = tasks("--suite", "arc_easy,boolq,arc_easy", "--limit", 3, "--json", out)
    check(done.returncode == 2 and "task 'arc_easy' is given twice" in done.stderr
          and not out.exists(), "a task given twice is refused")
    for option in (["--limit-seed", 1], ["--limit-first"]):
        done = tasks("--suite", "boolq", *option)
        check(done.returncode == 2 and "applies to --limit N" in done.stderr,
              f"{option[0]} without --limit is refused")
    done = tasks("--suite", "boolq", "--limit", 3, "--limit-first", "--limit-seed", 1)
    check(done.returncode == 2 and "--limit-seed would change nothing" in done.stderr,
          "--limit-seed with --limit-first is refused")
    done = tasks("--suite", "boolq", "--bos", "maybe")
    check(done.returncode == 2 and "--bos" in done.stderr, "an unknown --bos is refused")

    one_choice = work / "one-choice" / "arc"
    one_choice.mkdir(parents=True)
    lines = arc[:3] + [json.dumps({"id": "x", "question": {"stem": "q", "choices": [
        {"text": "a", "label": "A"}]}, "answerKey": "A"})]
    (one_choice / "ARC-Easy-Test.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for limit in (["--limit", 3, "--limit-first"], []):
        done = tasks("--suite", "arc_easy", "--tasks-dir", one_choice.parent, *limit)
        check(done.returncode == 1
              and "ARC-Easy-Test.jsonl line 4: an item needs at least two choices" in done.stderr
              and "zero-shot:" not in done.stdout + done.stderr,
              f"a one-choice item is refused when read, before scoring ({limit})")
    print("tasks test passed")


if __name__ == "__main__":
    main()
