"""The calibration-data study (benchmarks/study/study.py) on stories260K with a two-point grid:
the report parses (its tables are there and their numbers finite, the plots are PNGs), a second
study with the same seeds reproduces every number, an interrupted study resumes without redoing
the runs it finished, and the rank statistics agree with hand-worked values and with scipy.
Bad options (a grid point named twice, an empty grid, unknown tasks or mixture sources, sizes out
of range, a results folder that cannot be made, --report-only of no study) are refused before
anything is written; a failed dense evaluation stops the study with a message; tied sources share
their rank; report rows follow the sparsity; a failed run keeps only its log; SIGINT and SIGTERM
stop a study with --jobs 2 cleanly (while it writes its report too) and the next one resumes; one
study at a time in a results folder; an undefined standard error reads n/a; another model, data
file or pollard binary is refused in a folder of cached runs (another model by --report-only too).

usage: study_test.py POLLARD_EXECUTABLE WORK_DIR (POLLARD_DATA_DIR in the environment)"""

import functools
import gzip
import hashlib
import json
import math
import os
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
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
    # Spread growth, hand-worked: at the low sparsity the sources' means are 2 and 4 (range 2,
    # ratio 2), at the high one 1 and 6 (range 5, ratio 6).
    low, high = {"a": [1, 3], "b": [4, 4]}, {"a": [0, 2], "b": [5, 7]}
    check(st.spread_growth(low, high, False, 0)[0] == 3.0, "spread growth of the ranges")
    check(st.spread_growth(low, high, True, 0)[0] == 4.0, "spread growth of the ratios")
    g = st.spread_growth({"a": [1, 1], "b": [3, 3]}, {"a": [1, 1], "b": [5, 5]}, False, 100)
    check(g == (2.0, 2.0, 2.0), "without seed noise the interval is the value")
    # A seed moves source a the same way at both sparsities: resampled as pairs, the growth
    # is 0 in every draw; resampled independently it would not be.
    g = st.spread_growth({"a": [0, 10], "b": [5, 5]}, {"a": [0, 10], "b": [5, 5]}, False, 200)
    check(g == (0.0, 0.0, 0.0), "a seed's runs at the two sparsities are resampled together")
    try:
        st.spread_growth({"a": [1, 2], "b": [1]}, {"a": [1], "b": [1]}, False, 10)
        check(False, "unpaired seeds are refused")
    except ValueError as e:
        check("source a" in str(e), "unpaired seeds are refused, naming the source")
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


def sha256_of(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def quick_study(pollard, model, data, results, *extra):
    """A study command whose runs take a fraction of a second each on stories260K."""
    return [sys.executable, str(STUDY), "--pollard", str(pollard), "--model", str(model),
            "--data-dir", str(data), "--results", str(results), "--methods", "magnitude",
            "--sparsities", "0.5,0.6,0.7,0.8,2:4", "--calibrations", "c4", "--seeds", "0",
            "--window", "64", "--wikitext-windows", "1", "--c4-windows", "1",
            "--divergence-windows", "1", "--divergence-examples", "4", "--task-examples", "1",
            "--max-new-tokens", "4", "--zero-shot", "", "--threads", "1",
            "--bootstrap", "20"] + list(extra)


def wrapper(path, real, before):
    """An executable script that runs `before` (shell) and then the real pollard."""
    path.write_text(f"#!/bin/sh\n{before}\nexec '{real}' \"$@\"\n")
    path.chmod(0o755)
    return path


def check_arguments(pollard, model, data, work):
    """Bad options are refused by argparse (exit 2) with a message naming what is wrong."""
    (work / "a-file").write_text("x")
    not_executable = work / "not-executable"
    not_executable.write_text("#!/bin/sh\n")
    not_executable.chmod(0o644)
    not_pollard = work / "not-pollard"  # runs, exits 0 and writes nothing, as /bin/true
    not_pollard.write_text("#!/bin/sh\necho 'a tool 1.0'\n")
    not_pollard.chmod(0o755)
    empty_data = work / "empty-data"
    (empty_data / "text").mkdir(parents=True)
    results = work / "refused"
    for extra, message in (
            (["--seeds", "-1"], "--seeds: -1 is negative"),
            (["--seeds", "0,a"], "--seeds: 'a' is not an integer"),
            (["--jobs", "0"], "--jobs: 0"),
            (["--jobs", "-2"], "--jobs: -2"),
            (["--threads", "-1"], "--threads: -1 is negative"),
            (["--results", str(work / "a-file")], "is a file, not a folder"),
            (["--pollard", str(not_executable)], "is not executable"),
            (["--pollard", str(not_pollard)], "says 'a tool 1.0', not 'pollard <version>'"),
            (["--data-dir", str(empty_data)], "lacks text/c4/c4-sample.00000-of-00001.json.gz"),
            (["--calibrations", "tinystories", "--data-dir", str(data_without(
                data, work / "no-tinystories", "text/tinystories"))],
             "lacks text/tinystories/tinystories_train_head.txt"),
            # A list naming a grid point twice would run it twice at once and count it twice.
            (["--seeds", "0,1,0"], "--seeds: 0 is given twice"),
            (["--sparsities", "0.5,.50"], "--sparsities: 0.5 is given twice"),
            (["--sparsities", "2:4,02:04"], "--sparsities: 2:4 is given twice"),
            (["--methods", "magnitude,magnitude"], "--methods: magnitude is given twice"),
            (["--calibrations", "c4,c4"], "--calibrations: c4 is given twice"),
            (["--zero-shot", "boolq,boolq"], "--zero-shot: boolq is given twice"),
            # An empty grid, and options that would fail every run (or the dense one) later.
            (["--sparsities", " , "], "--sparsities: give at least one sparsity"),
            (["--methods", ""], "--methods: give at least one method"),
            (["--methods", "wanda", "--calibrations", ""], "--calibrations: give at least one"),
            (["--methods", "owl-wanda", "--sparsities", "2:4"], "the grid is empty"),
            (["--zero-shot", "arc_hard"], "--zero-shot: unknown task 'arc_hard'"),
            (["--mixture", "c4@0.5,books@0.5"], "--mixture: unknown source 'books'"),
            (["--mixture", "c4@half"], "--mixture: the weight of c4, 'half'"),
            (["--mixture", "c4@0"], "--mixture: the weight of c4, '0'"),
            (["--tokenizer", str(work / "no-tokenizer.bin")], "--tokenizer: no file"),
            (["--window", "1"], "--window: 1 is below 2"),
            (["--samples", "0"], "--samples: 0 is below 1"),
            (["--bootstrap", "-1"], "--bootstrap: -1 is below 0"),
            (["--results", str(work / "a-file" / "results")], "a-file is a file, not a folder"),
            # A report of a folder of no study (a mistyped --results) makes no folder.
            (["--report-only"], "has no runs/ folder")):
        done = subprocess.run(quick_study(pollard, model, data, results, *extra),
                              capture_output=True, text=True)
        check(done.returncode == 2 and message in done.stderr
              and "Traceback" not in done.stderr,
              f"{extra}: refused with '{message}' (exit {done.returncode}: {done.stderr})")
    check(not results.exists(), "a refused study writes nothing")


def data_without(data, where, missing, replace=None):
    """A data folder of links to the staged files but `missing` (relative) left out or, with
    replace, replaced by that file."""
    if where.exists():
        shutil.rmtree(where)
    for top in ("text", "tasks"):
        for p in sorted((Path(data) / top).rglob("*")):
            rel = p.relative_to(data)
            if p.is_dir() or rel.as_posix().startswith(missing):
                continue
            (where / rel).parent.mkdir(parents=True, exist_ok=True)
            (where / rel).symlink_to(p)
    if replace is not None:
        (where / missing).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(replace, where / missing)
    return where


def check_interruption(pollard, model, data, work):
    """SIGINT (and SIGTERM) stop a study with --jobs 2: no new run starts, the running pollard
    is ended, exit 130 (143), no traceback and no work folder left; the next study resumes."""
    slow = wrapper(work / "slow-pollard", pollard, '[ "$1" = prune ] && sleep 1')
    results = work / "interrupted"
    command = quick_study(slow, model, data, results, "--jobs", "2", "--no-report")
    runs = results / "runs"
    cached = 0
    for number, status, name in ((signal.SIGINT, 130, "SIGINT"), (signal.SIGTERM, 143, "SIGTERM")):
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
        deadline = time.time() + 120
        while (len(list(runs.glob("*.json"))) < cached + 2 and time.time() < deadline
               and child.poll() is None):
            time.sleep(0.02)  # the dense result (first) and one more run
        child.send_signal(number)
        out, err = child.communicate(timeout=120)
        print(out + err)
        check(child.returncode == status, f"{name}: exit {status}, not {child.returncode}")
        check("Traceback" not in err, f"{name}: no traceback")
        cached = len(list(runs.glob("*.json"))) - 1
        check(0 < cached < 5, f"{name}: the study stopped before its last run ({cached} of 5)")
        check(f"stopped by {name}: {cached} of 5 runs cached" in out and "resumes" in out,
              f"{name}: the study says what is cached and that it resumes")
        check(not any((results / "work").iterdir()), f"{name}: no work folder left")
        check(not (results / "failed").exists(), f"{name}: an interrupted run is no failure")
    done = subprocess.run(command, capture_output=True, text=True)
    check(done.returncode == 0 and f"5 runs in the grid, {cached} cached, {5 - cached} to run"
          in done.stdout, f"the interrupted study resumes: {done.stdout}{done.stderr}")
    # Its report lists the sparsities by the fraction pruned (80 %, outside the usual list,
    # before the N:M pattern), each under a label of its own.
    done = subprocess.run([w for w in command if w != "--no-report"] + ["--report-only",
                                                                         "--sparsities",
                                                                         "0.8,2:4,0.5,0.7,0.6"],
                          capture_output=True, text=True)
    check(done.returncode == 0, f"the report of the resumed study: {done.stderr}")
    rows = tables_of((results / "report.md").read_text(encoding="utf-8"))["Task accuracy"][2:]
    check([r[1] for r in rows] == ["50 %", "60 %", "70 %", "80 %", "2:4"],
          f"the rows follow the sparsity: {[r[1] for r in rows]}")
    check("no calibrated run, so no seeds" in (results / "report.md").read_text(encoding="utf-8"),
          "a report of magnitude runs only says it has no seeds")
    # SIGINT while the report is written (a long bootstrap) stops it at once and leaves the
    # report before it whole.
    report = (results / "report.md").read_bytes()
    child = subprocess.Popen([w for w in command if w != "--no-report"]
                             + ["--bootstrap", "100000"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    out = ""
    while "0 to run" not in out and child.poll() is None:
        out += child.stdout.readline()
    time.sleep(0.5)
    child.send_signal(signal.SIGINT)
    try:
        rest, err = child.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        child.kill()
        rest, err = child.communicate()
    print(out + rest + err)
    check(child.returncode == 130 and "stopped by SIGINT while writing the report" in rest
          and "Traceback" not in err, f"SIGINT stops the report at once (exit {child.returncode})")
    check((results / "report.md").read_bytes() == report
          and not (results / "report.md.tmp").exists(), "the report before it is left whole")


def study_failing_at(pollard, model, data, results, command, failure):
    """A one-sparsity study whose pollard command `command` runs the shell `failure` instead."""
    failing = wrapper(results.parent / f"failing-{command}-pollard", pollard,
                      f'[ "$1" = {command} ] && {failure}')
    done = subprocess.run(quick_study(failing, model, data, results, "--sparsities", "0.5"),
                          capture_output=True, text=True)
    print(done.stdout + done.stderr)
    return done


def check_one_study_per_folder(pollard, model, data, work):
    """A second study in a results folder that a running study holds is refused (exit 2) and
    touches nothing; the running one finishes; the folder is free again after it."""
    slow = wrapper(work / "slow-prune-pollard", pollard, '[ "$1" = prune ] && sleep 1')
    results = work / "one-at-a-time"
    command = quick_study(slow, model, data, results, "--sparsities", "0.5,0.6", "--no-report")
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not list((results / "runs").glob("dense-*.json")) and time.time() < deadline:
        time.sleep(0.02)
    second = subprocess.run(command, capture_output=True, text=True)
    out, err = first.communicate(timeout=120)
    print(out + err + second.stdout + second.stderr)
    check(second.returncode == 2 and "in use by another study" in second.stderr
          and "Traceback" not in second.stderr, "a second study in a busy folder is refused")
    check(first.returncode == 0 and "2 to run" in out, "the first study finishes its runs")
    again = subprocess.run(command, capture_output=True, text=True)
    check(again.returncode == 0 and "2 cached, 0 to run" in again.stdout,
          "the folder is free once the study ended")


def check_failed_run(pollard, model, data, work):
    """A failed run leaves no work folder (pruned models are large), only its log."""
    results = work / "failing"
    done = study_failing_at(pollard, model, data, results, "prune",
                            '{ touch "$3"; echo "prune refused here" >&2; exit 3; }')
    check(done.returncode == 1 and "1 run(s) failed" in done.stderr, "the failed run is reported")
    logs = list((results / "failed").glob("magnitude-0.5-none-seed0-*.log"))
    check(len(logs) == 1 and "prune refused here" in logs[0].read_text(),
          "the failed run's log is kept as RESULTS/failed/<key>.log")
    check(not any((results / "work").iterdir()), "the failed run's work folder is removed")

    # Every run is compared with the dense model: its failed evaluation stops the study with a
    # message, not a traceback.
    results = work / "failing-dense"
    done = study_failing_at(pollard, model, data, results, "eval",
                            '{ echo "eval refused here" >&2; exit 3; }')
    check(done.returncode == 1 and "Traceback" not in done.stderr
          and "the dense model's evaluation failed" in done.stderr
          and "eval refused here" in done.stderr, "a failed dense evaluation is reported")
    check(not (results / "runs").exists() or not any((results / "runs").iterdir()),
          "no run starts after the dense evaluation failed")
    # A results folder that cannot be made (here under /proc) is refused, not a traceback.
    if Path("/proc/self").is_dir():
        done = subprocess.run(quick_study(pollard, model, data, "/proc/self/pollard-study",
                                          "--sparsities", "0.5"), capture_output=True, text=True)
        check(done.returncode == 2 and "Traceback" not in done.stderr
              and "--results: cannot write in /proc/self/pollard-study" in done.stderr,
              f"an unwritable results folder is refused: {done.stderr}")


def check_identity(pollard, model, data, work, results):
    """RESULTS/identity.json names the model, data and pollard of the cached runs: another
    model, data file or (without --accept-other-pollard) pollard is refused with exit 2."""
    identity = json.loads((results / "identity.json").read_text())
    check(identity["model"]["sha256"] == sha256_of(model), "the manifest has the model's hash")
    check(identity["data"]["text/c4/c4-sample.00000-of-00001.json.gz"]
          == sha256_of(Path(data) / "text/c4/c4-sample.00000-of-00001.json.gz"),
          "the manifest has the C4 file's hash")
    check([b["sha256"] for b in identity["pollard"]] == [sha256_of(pollard)],
          "the manifest has the pollard binary's hash")
    for p in (results / "runs").glob("*.json"):
        check(json.loads(p.read_text())["pollard"]["sha256"] == sha256_of(pollard),
              f"{p.name} records the pollard that made it")

    def study(*extra, model=model, data=data, pollard=pollard, where=results):
        options = command_of(results)
        for name, value in (("--model", model), ("--data-dir", data), ("--pollard", pollard),
                            ("--results", where)):
            options[options.index(name) + 1] = str(value)
        done = subprocess.run([sys.executable, str(STUDY)] + options + list(extra)
                              + ["--no-report", "--threads", "1"], capture_output=True, text=True)
        print(done.stdout + done.stderr)
        return done

    runs_before = sorted(p.name for p in (results / "runs").glob("*.json"))
    other_model = work / "other-model" / model.name  # the same name and size
    other_model.parent.mkdir()
    raw = bytearray(model.read_bytes())
    raw[-1] ^= 1
    other_model.write_bytes(bytes(raw))
    for tok in model.parent.glob("tok*.bin"):
        shutil.copyfile(tok, other_model.parent / tok.name)
    done = study(model=other_model)
    check(done.returncode == 2 and "the model" in done.stderr and "new --results" in done.stderr,
          "another model of the same name and size is refused")
    done = study("--report-only", model=other_model)
    check(done.returncode == 2 and "the model" in done.stderr,
          "a report of another model's runs under its name is refused")

    c4 = "text/c4/c4-sample.00000-of-00001.json.gz"
    with gzip.open(Path(data) / c4, "rt", encoding="utf-8") as f:
        documents = [line for line in f if line.strip()]
    changed_c4 = work / "changed-c4.json.gz"
    with gzip.open(changed_c4, "wt", encoding="utf-8") as f:
        f.write("".join(documents[1:]))
    other_data = data_without(data, work / "other-data", c4, replace=changed_c4)
    done = study(data=other_data)
    check(done.returncode == 2 and c4 in done.stderr, "a changed data file is refused, named")

    other_pollard = work / "other-pollard"
    other_pollard.write_bytes(Path(pollard).read_bytes() + b"\0")
    other_pollard.chmod(0o755)
    done = study(pollard=other_pollard)
    check(done.returncode == 2 and "--accept-other-pollard" in done.stderr,
          "another pollard binary is refused")
    done = study("--accept-other-pollard", pollard=other_pollard)
    check(done.returncode == 0 and "0 to run" in done.stdout, "--accept-other-pollard adds it")
    identity = json.loads((results / "identity.json").read_text())
    check([b["sha256"] for b in identity["pollard"]] == [sha256_of(pollard),
                                                          sha256_of(other_pollard)],
          "the manifest lists both binaries")
    check(sorted(p.name for p in (results / "runs").glob("*.json")) == runs_before,
          "no refused study touched the cached runs")
    # A run made again by the other binary: the report names both and what each made.
    mixed = work / "mixed-binaries"
    shutil.copytree(results, mixed)
    redone = next(p for p in (mixed / "runs").glob("*.json") if not p.name.startswith("dense"))
    redone.unlink()
    done = study("--accept-other-pollard", pollard=other_pollard, where=mixed)
    check(done.returncode == 0 and "1 to run" in done.stdout, "the removed run is made again")
    done = study("--report-only", where=mixed)
    report = (mixed / "report.md").read_text(encoding="utf-8")
    check(done.returncode == 0 and "do not all record the same pollard binary" in report
          and f"sha256 {sha256_of(other_pollard)[:16]}…): 1 run." in report
          and f"sha256 {sha256_of(pollard)[:16]}…): 1 run and the dense evaluation" in report,
          "the report names the binaries of mixed runs")
    report = (results / "report.md").read_text(encoding="utf-8")
    check(f"Made by `pollard " in report and f"sha256 {sha256_of(pollard)[:16]}…): every run"
          in report, "the report names the binary that made every run")

    # A folder of an older study (no manifest) gets one, with a note; its derived splits are
    # derived again from the changed C4 file.
    legacy = work / "legacy"
    shutil.copytree(results, legacy)
    (legacy / "identity.json").unlink()
    (legacy / "data/sources.json").unlink()
    done = study(data=other_data, where=legacy)
    check(done.returncode == 0 and "could not be checked" in done.stdout,
          "a folder without a manifest gets a note")
    check(json.loads((legacy / "identity.json").read_text())["data"][c4] == sha256_of(changed_c4),
          "and a manifest")
    with gzip.open(legacy / "data/c4-calibration.json.gz", "rt", encoding="utf-8") as f:
        check(f.read() == "".join(documents[1:801]),
              "the C4 calibration split is derived again from the changed file")


def check_cache_keys_independent_of_grid(pollard, model, data, work):
    """A run's cache key does not depend on which other grid points the study selects: a study
    narrowed to fewer calibration sources (or widened again) finds every run it shares with the
    first one, and its report is written from them."""
    results = work / "narrowed grid"  # a space in the path: the report's command quotes it
    study = functools.partial(quick_study, pollard, model, data, results, "--sparsities", "0.5",
                              "--methods", "magnitude,wanda", "--samples", "2",
                              "--length", "16", "--zero-shot", "")
    done = subprocess.run(study("--calibrations", "c4,tinystories"), capture_output=True,
                          text=True)
    print(done.stdout + done.stderr)
    check(done.returncode == 0 and "3 runs in the grid, 0 cached, 3 to run" in done.stdout,
          "the first study runs magnitude and wanda with both sources")
    for calibrations, line in (("c4", "2 runs in the grid, 2 cached, 0 to run"),
                               ("tinystories,c4", "3 runs in the grid, 3 cached, 0 to run")):
        done = subprocess.run(study("--calibrations", calibrations), capture_output=True,
                              text=True)
        print(done.stdout + done.stderr)
        check(done.returncode == 0 and "dense model cached" in done.stdout and line in done.stdout,
              f"--calibrations {calibrations} finds the cached runs: {line}")
    done = subprocess.run(study("--calibrations", "c4", "--sparsities", ".50"),
                          capture_output=True, text=True)
    check(done.returncode == 0 and "2 runs in the grid, 2 cached, 0 to run" in done.stdout,
          f"--sparsities .50 is 0.5: its runs are the cached ones: {done.stdout}{done.stderr}")
    done = subprocess.run(study("--calibrations", "c4", "--report-only"), capture_output=True,
                          text=True)
    check(done.returncode == 0 and "(2 of 2 runs)" in done.stdout,
          f"--report-only of the narrowed study: {done.stdout}{done.stderr}")
    options = command_of(results)
    check(options[options.index("--results") + 1] == str(results)
          and options[options.index("--zero-shot") + 1] == "",
          f"the report's command is one shell word per option value: {options}")
    dense = tables_of((results / "report.md").read_text(encoding="utf-8"))["Dense model"]
    check(any(row[0] == "TinyStories held-out perplexity" for row in dense),
          "a llama2.c model is scored on held-out TinyStories whatever the sources (auto)")
    done = subprocess.run(study("--calibrations", "c4", "--tinystories-heldout", "no"),
                          capture_output=True, text=True)
    check(done.returncode == 0 and "2 runs in the grid, 0 cached, 2 to run" in done.stdout,
          "--tinystories-heldout no is another evaluation, so other runs")


def check_report_helpers():
    """Plot points (N:M at their sparsity, % for accuracies, standard errors over seeds), cost
    cells with sub-second digits, and ties counted apart, against hand-worked values."""
    import study_report as sr

    groups = {("wanda", "0.5", "c4"): [{"zs_avg": 0.40, "zs_avg_se": 0.05, "seed": 0},
                                       {"zs_avg": 0.44, "zs_avg_se": 0.05, "seed": 1}],
              ("wanda", "0.7", "c4"): [{"zs_avg": 0.30, "zs_avg_se": 0.05, "seed": 0}],
              ("wanda", "2:4", "c4"): [{"zs_avg": 0.38, "zs_avg_se": 0.03, "seed": 0},
                                       {"zs_avg": 0.36, "zs_avg_se": 0.04, "seed": 0}]}
    series = {p[0]: p[1:] for p in sr.plot_series(groups, lambda k: k[0] == "wanda", "zs_avg",
                                                  ["0.5", "0.7", "2:4"], scale=100.0)}
    x, y, e = series["0.5"]
    # mean 42 %, seed SD sqrt(8) points, standard error sqrt(8) / sqrt(2) = 2
    check(x == 50 and abs(y - 42.0) < 1e-9 and abs(e - 2.0) < 1e-9, f"a 2-seed point: {x, y, e}")
    x, y, e = series["2:4"]
    # one seed, two runs: mean 37 %, standard error sqrt(3² + 4²) / 2 = 2.5 points
    check(49 <= x <= 51 and abs(y - 37.0) < 1e-9 and abs(e - 2.5) < 1e-9,
          f"2:4 is drawn at 50 % sparsity, not after 70 %: {x, y, e}")
    check(series["0.7"][0] == 70, "70 % at 70")
    check(sr.number(0.0123, "s") == "0.0123" and sr.number(0.5, "s") == "0.500"
          and sr.number(2.5, "s") == "2.50" and sr.number(228.46, "s") == "228.5",
          "times keep three significant digits below 10 s")
    check(sr.cell([{"t": 0.012}, {"t": 0.016}], "t", "s") == "0.0140 ± 0.0028",
          "a cost cell: mean ± SD at the mean's precision")
    check(sr.number(-0.005, "small") == "-0.0050" and sr.number(0.005, "small") == "0.0050"
          and sr.number(-2e-5, "small") == "-2.00e-05",
          "a negative small number is written by its size, as a positive one")
    # Ranks: C4 and TinyStories tie on F1 in both cells; WikiText-2 perplexity orders them.
    # Ties share their average rank and the best count, whatever order the sources are in.
    cells = {}
    for s, (c4_ppl, ts_ppl) in (("0.5", (10.0, 12.0)), ("0.7", (30.0, 20.0))):
        for c, ppl in (("c4", c4_ppl), ("tinystories", ts_ppl)):
            cells[("wanda", s, c)] = [{"wt2_ppl": ppl + seed, "f1": 0.25, "seed": seed}
                                      for seed in (0, 1)]
    for calibrations in (["c4", "tinystories"], ["tinystories", "c4"]):
        md = sr.findings_statistics(cells, {}, [], 20, False, "", ["wanda"], ["0.5", "0.7"],
                                    calibrations)
        ranked = tables_of(md)["Calibration sources ranked"]
        column = ranked[0].index("Alpaca F1 (%)")
        check(all(row[column] == "1.50 (2)" for row in ranked[1:]),
              f"tied sources share the rank and the best count ({calibrations}): {ranked}")
        column = ranked[0].index("WikiText-2 ppl")
        check(sorted(row[column] for row in ranked[1:]) == ["1.50 (1)", "1.50 (1)"],
              f"each source best in one cell: {ranked}")
        check("with 2 seeds per source" in md, "the growth table names the seeds per source")
    check([sr.sparsity_label(x) for x in ("0.5", "0.555", "0.56", "2:4")]
          == ["50 %", "55.5 %", "56 %", "2:4"], "a sparsity's label is never another one's")
    check(sr.better_tied_worse([0.0] * 12, True) == "0 % / 100 % / 0 %",
          "all ties read as tied, not as worse")
    check(sr.better_tied_worse([1.0, 0.0, -1.0, -2.0], False) == "50 % / 25 % / 25 %",
          "a lower-is-better metric: negative differences are better")


def check_undefined_standard_errors(work, results):
    """A standard error pollard leaves undefined (null: one example) is shown as n/a."""
    copy = work / "null-standard-errors"
    shutil.copytree(results, copy)
    for p in (copy / "runs").glob("*.json"):
        r = json.loads(p.read_text())
        for k in ("exact_match", "token_f1", "rouge1"):
            r["metrics"]["alpaca_tasks"][k]["standard_error"] = None
        for t in r["metrics"].get("zero_shot", {}).get("tasks", []):
            t["acc"]["standard_error"] = t["acc_norm"]["standard_error"] = None
        p.write_text(json.dumps(r))
    options = command_of(copy)
    options[options.index("--results") + 1] = str(copy)
    done = subprocess.run([sys.executable, str(STUDY)] + options + ["--report-only"],
                          capture_output=True, text=True)
    print(done.stdout + done.stderr)
    check(done.returncode == 0, "the report is written with undefined standard errors")
    dense = tables_of((copy / "report.md").read_text(encoding="utf-8"))["Dense model"]
    check(any(row[0] == "Alpaca exact match (%)" and "± n/a" in row[1] for row in dense),
          "an undefined standard error reads n/a")


def command_of(results):
    """The study's options as its report gives them (paths as given)."""
    report = (results / "report.md").read_text(encoding="utf-8")
    line = next(l for l in report.splitlines() if "benchmarks/study/study.py" in l)
    words = shlex.split(line)
    return words[words.index("benchmarks/study/study.py") + 1:]


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
    # Zero-shot items: a random sample by default, CPython's sorted(random.Random(0).sample()).
    for p in (a / "runs").glob("*.json"):
        r = json.loads(p.read_text())
        check(r["settings"]["evaluation"]["zero_shot_items"] == "random"
              and r["settings"]["evaluation"]["zero_shot_seed"] == 0, f"{p.name}: random items")
        for t in r["metrics"]["zero_shot"]["tasks"]:
            check(t["item_indices"] == sorted(random.Random(0).sample(
                range(t["items_available"]), 2)), f"{p.name}: {t['task']}'s sampled items")
    check("a random 2 items of each task (seed 0" in (a / "report.md").read_text(),
          "the report names the zero-shot items")
    options = command_of(a)
    check("--bootstrap" in options and options[options.index("--bootstrap") + 1] == "50",
          "the report's command gives --bootstrap, which its intervals depend on")
    check_report_helpers()
    check_arguments(pollard, model, data, work)
    check_cache_keys_independent_of_grid(pollard, model, data, work)
    check_failed_run(pollard, model, data, work)
    check_interruption(pollard, model, data, work)
    check_one_study_per_folder(pollard, model, data, work)
    check_undefined_standard_errors(work, a)
    check_identity(pollard, model, data, work, a)

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
