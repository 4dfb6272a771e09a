"""The calibration-data study (benchmarks/study/study.py) on stories260K with a two-point grid:
the report parses (its tables are there and their numbers finite, the plots are PNGs), a second
study with the same seeds reproduces every number, an interrupted study resumes without redoing
the runs it finished, and the rank statistics agree with hand-worked values and with scipy.

usage: study_test.py POLLARD_EXECUTABLE WORK_DIR (POLLARD_DATA_DIR in the environment)"""

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
STUDY = HERE.parent.parent / "benchmarks" / "study" / "study.py"
sys.path.insert(0, str(STUDY.parent))


def skip(why):
    print(f"SKIPPED: {why}")
    sys.exit(0)


def check(condition, what):
    if not condition:
        print(f"FAILED: {what}")
        sys.exit(1)


def check_statistics():
    import numpy as np
    import study_statistics as st

    # Hand-worked: y swaps the middle pair of x. Spearman 1 - 6·Σd²/(n(n²-1)) = 1 - 12/60;
    # Kendall: 5 concordant and 1 discordant pair of 6.
    check(abs(st.spearman([1, 2, 3, 4], [1, 3, 2, 4]) - 0.8) < 1e-12, "Spearman, hand-worked")
    check(abs(st.kendall([1, 2, 3, 4], [1, 3, 2, 4]) - 4 / 6) < 1e-12, "Kendall, hand-worked")
    check(math.isnan(st.spearman([1, 1, 1], [1, 2, 3])), "Spearman of a constant is nan")
    try:
        import scipy.stats
    except ImportError:
        print("scipy not installed: the rank statistics are checked by hand-worked values only")
        return
    rng = np.random.default_rng(7)
    for n in (5, 17, 60):
        x = rng.integers(0, 6, n).astype(float)  # ties on purpose
        y = x + rng.normal(0, 2, n)
        y[: n // 3] = np.round(y[: n // 3])
        check(abs(st.spearman(x, y) - scipy.stats.spearmanr(x, y)[0]) < 1e-12,
              f"Spearman equals scipy's (n = {n})")
        check(abs(st.kendall(x, y) - scipy.stats.kendalltau(x, y)[0]) < 1e-12,
              f"Kendall tau-b equals scipy's (n = {n})")
    r = st.correlations_with_intervals(np.arange(20.0), np.arange(20.0) ** 2, 200, seed=0)
    check(r["spearman"][0] == 1.0 and r["spearman"][1] == 1.0, "a monotone relation's interval")


def metrics_of(results):
    """{run file name: its settings and metrics} (wall times left out)."""
    out = {}
    for p in sorted((results / "runs").glob("*.json")):
        d = json.loads(p.read_text())
        out[p.name] = {"settings": d["settings"], "metrics": d["metrics"]}
    return out


def tables_of(markdown):
    """{section heading: [rows of cells]} of every Markdown table."""
    tables, heading, rows = {}, None, None
    for line in markdown.splitlines():
        if line.startswith("#"):
            heading = line.lstrip("# ").strip()
            rows = None
        elif line.startswith("|"):
            if rows is None:
                rows = tables.setdefault(heading, [])
            if not re.fullmatch(r"\|(---\|)+", line.strip()):
                rows.append([c.strip() for c in line.strip().strip("|").split("|")])
        else:
            rows = None
    return tables


NUMBER = re.compile(r"^[-+×]?(\d+(\.\d+)?(e[-+]\d+)?)( ± \d+(\.\d+)?(e[-+]\d+)?)?$")


def check_report(results, runs):
    report = (results / "report.md").read_text(encoding="utf-8")
    tables = tables_of(report)
    for section in ("Dense model", "Perplexity and divergence from the dense model",
                    "Task accuracy", "Cost per run"):
        check(section in tables, f"the report has the table '{section}'")
    check("window protocol" in report and "no BOS inserted per window" in report,
          "the report states the perplexity protocol")
    for section in ("Perplexity and divergence from the dense model", "Task accuracy"):
        header, body = tables[section][0], tables[section][1:]
        check(len(body) == runs + 1, f"'{section}' has the dense row and one row per grid point")
        for row in body:
            for name, value in zip(header[4:], row[4:]):
                check(NUMBER.match(value) is not None,
                      f"'{section}': {name} = '{value}' is a finite number")
                check(all(math.isfinite(float(v)) for v in re.findall(r"[\d.]+(?:e[-+]\d+)?",
                                                                       value)),
                      f"'{section}': {name} = '{value}' is finite")
    ppl = [float(r[4].split()[0]) for r in tables["Perplexity and divergence from the dense model"][1:]]
    check(ppl[0] < min(ppl[1:]), "every pruned model's WikiText-2 perplexity exceeds the dense one")
    for png in ("ppl_vs_sparsity.png", "js_vs_sparsity.png"):
        data = (results / png).read_bytes()
        check(data[:8] == b"\x89PNG\r\n\x1a\n", f"{png} is a PNG")
        check(f"]({png})" in report, f"the report shows {png}")


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(2)
    pollard, work = Path(sys.argv[1]), Path(sys.argv[2])
    data = os.environ.get("POLLARD_DATA_DIR", "")
    model = Path(data) / "models/stories260K/stories260K.bin"
    if not data or not model.exists():
        skip("POLLARD_DATA_DIR does not name the data folder (models/stories260K, text/, tasks/)")
    try:
        import matplotlib  # noqa: F401
        import numpy  # noqa: F401
    except ImportError as e:
        skip(f"the study needs numpy and matplotlib ({e}); cmake/install-deps.sh installs them")
    check_statistics()

    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)

    def study(results, *extra):
        command = [sys.executable, str(STUDY), "--pollard", str(pollard), "--model", str(model),
                   "--data-dir", data, "--results", str(results), "--methods", "wanda",
                   "--sparsities", "0.5,2:4", "--calibrations", "tinystories", "--seeds", "3",
                   "--samples", "4", "--length", "64", "--window", "64", "--wikitext-windows",
                   "2", "--c4-windows", "2", "--divergence-windows", "2",
                   "--divergence-examples", "4", "--task-examples", "2", "--max-new-tokens", "4",
                   "--zero-shot", "arc_easy,boolq", "--zero-shot-limit", "2", "--threads", "1",
                   "--bootstrap", "50"] + list(extra)
        done = subprocess.run(command, capture_output=True, text=True)
        print(done.stdout + done.stderr)
        check(done.returncode == 0, "the study runs")
        return done.stdout

    a, b = work / "a", work / "b"
    # Interrupted after one run, then continued: the finished run is not redone.
    out = study(a, "--max-runs", "1")
    check("2 runs in the grid, 0 cached, 2 to run" in out, "the first study starts every run")
    first = {p.name: p.stat().st_mtime_ns for p in (a / "runs").glob("*.json")}
    check(len(first) == 2, "after one run: the dense result and one run are cached")
    out = study(a)
    check("2 runs in the grid, 1 cached, 1 to run" in out, "the continued study resumes")
    for name, mtime in first.items():
        check((a / "runs" / name).stat().st_mtime_ns == mtime, f"{name} was not redone")
    out = study(a)
    check("2 cached, 0 to run" in out and "dense model cached" in out,
          "a finished study runs nothing again")
    check_report(a, runs=2)

    # The evaluation text is a head of WikiText-2 test: its windows are the whole file's.
    heads = sorted((a / "data").glob("wikitext2-test-head-*.rows.jsonl"))
    check(len(heads) == 1, "the study wrote one WikiText-2 test head")
    full = Path(data) / "text/wikitext2_raw/test.rows.jsonl"
    ppl = []
    for text in (heads[0], full):
        out_json = work / f"eval-{text.name}.json"
        done = subprocess.run([str(pollard), "eval", str(model), "--text", str(text), "--window",
                               "64", "--max-windows", "2", "--json", str(out_json)],
                              capture_output=True, text=True)
        check(done.returncode == 0, f"pollard eval on {text.name}: {done.stderr}")
        e = json.loads(out_json.read_text())
        ppl.append((e["tokens"], e["perplexity"]))
    check(ppl[0] == ppl[1], f"the head's windows score as the whole file's: {ppl}")

    # The same study from scratch reproduces every number from the same seeds.
    study(b)
    ma, mb = metrics_of(a), metrics_of(b)
    check(len(ma) == 3 and ma.keys() == mb.keys(), "both studies cached the same runs")
    for name in ma:
        check(ma[name] == mb[name], f"{name}: the second study reproduces every number")
    check(all(len(m["metrics"]["zero_shot"]["tasks"]) == 2 for m in ma.values()),
          "every run has its zero-shot accuracies")
    # TinyStories calibration draws from the first 80 % of the staged file; the rest is the
    # held-out text every run is scored on.
    staged = (Path(data) / "text/tinystories/tinystories_train_head.txt").read_text(encoding="utf-8")
    calibration = (a / "data/tinystories-calibration.txt").read_text(encoding="utf-8")
    heldout = (a / "data/tinystories-heldout.txt").read_text(encoding="utf-8")
    check(calibration + heldout == staged and calibration.endswith("\n\n")
          and 0.75 < len(calibration) / len(staged) < 0.85,
          "TinyStories is cut at a paragraph end into 80 % calibration and 20 % held-out text")
    check(all(m["metrics"]["tinystories_heldout"]["perplexity"] > 1 for m in ma.values()),
          "every run has its held-out TinyStories perplexity")
    header = tables_of((a / "report.md").read_text(encoding="utf-8"))[
        "Perplexity and divergence from the dense model"][0]
    check("TinyStories ppl" in header, "the report shows the held-out TinyStories perplexity")
    print("study test passed")


if __name__ == "__main__":
    main()
