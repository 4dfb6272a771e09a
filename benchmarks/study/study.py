#!/usr/bin/python3
"""The calibration-data study: prune a model over a grid of methods x sparsities x calibration
sources x seeds with the `pollard` tool, evaluate every pruned model, and write a Markdown report
with tables (mean ± standard deviation over seeds), PNG plots and rank-correlation statistics.

One command runs the whole study. Every run's result is a JSON file under RESULTS/runs/, named by
the run's settings and a hash of them, written whole or not at all: an interrupted study, started
again with the same settings, skips the runs already done and continues.

    /usr/bin/python3 benchmarks/study/study.py --pollard build/dev/examples/pollard \
        --model $POLLARD_DATA_DIR/models/stories260K/stories260K.bin \
        --data-dir $POLLARD_DATA_DIR --results benchmarks/results/study-stories260K

`--report-only` rewrites the report from the cached runs without running anything (refused for a
folder with no runs/, or whose identity.json names another model).

The cache keys name the model by file name and size only, so RESULTS/identity.json records the
sha256 of the model, of every data file the study reads and of the pollard binary (with its
`--version`); a study in a folder of another model or data is refused (exit 2), one with another
pollard binary too unless --accept-other-pollard is given. Ctrl-C (SIGINT) or SIGTERM stops the
study: no new pollard command starts, the running ones are ended, and it exits 130 (143); the
same command again resumes. A failed run keeps only its log, as RESULTS/failed/<key>.log. One
study (or --report-only) at a time holds a results folder: a second one there is refused (exit 2).
"""

import argparse
import concurrent.futures
import fcntl
import functools
import gzip
import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

ALL_METHODS = ["magnitude", "wanda", "sparsegpt", "owl-wanda"]
ALL_SPARSITIES = ["0.5", "0.6", "0.7", "2:4", "4:8"]
ALL_CALIBRATIONS = ["c4", "wikitext", "alpaca", "tinystories", "selfgen", "mix"]
ALL_ZERO_SHOT = ["arc_easy", "arc_challenge", "piqa", "hellaswag", "winogrande", "boolq"]

# Held-out splits of the staged corpora (the calibration draws never see these documents).
C4_CALIBRATION_DOCUMENTS = 800  # of the 1000 in c4-sample: the rest is the held-out text
ALPACA_CALIBRATION_EXAMPLES = 4000  # of alpaca_5000: the rest is the held-out task set
TINYSTORIES_CALIBRATION_SHARE = 0.8  # of the TinyStories head's bytes, cut at a paragraph end


class interrupted(Exception):
    """A run stopped because the study was told to stop (SIGINT or SIGTERM)."""


def comma_list(text):
    return [t for t in (s.strip() for s in text.split(",")) if t]


def parse_arguments(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pollard", required=True, help="the pollard executable")
    p.add_argument("--model", required=True, help="the dense model (llama2.c .bin or GGUF)")
    p.add_argument("--tokenizer", help="llama2.c tokenizer (default: tok<vocab>.bin beside it)")
    p.add_argument("--data-dir", required=True, help="POLLARD_DATA_DIR (text/ and tasks/)")
    p.add_argument("--results", required=True, help="results folder (cache, report, plots)")
    p.add_argument("--methods", default=",".join(ALL_METHODS))
    p.add_argument("--sparsities", default=",".join(ALL_SPARSITIES),
                   help="fractions and N:M patterns (N zeros of every M)")
    p.add_argument("--calibrations", default=",".join(ALL_CALIBRATIONS))
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--samples", type=int, default=32, help="calibration sequences")
    p.add_argument("--length", type=int, default=256, help="tokens per calibration sequence")
    p.add_argument("--selfgen-sources", type=int, default=0,
                   help="self-generated texts to sample (default: 1.5 x samples, at least 8)")
    p.add_argument("--window", type=int, default=256, help="perplexity/divergence window")
    p.add_argument("--wikitext-windows", type=int, default=16)
    p.add_argument("--c4-windows", type=int, default=16)
    p.add_argument("--divergence-windows", type=int, default=8)
    p.add_argument("--divergence-examples", type=int, default=64,
                   help="held-out Alpaca examples for the response divergence")
    p.add_argument("--task-examples", type=int, default=32,
                   help="held-out Alpaca examples answered greedily (EM/F1/ROUGE-1)")
    p.add_argument("--max-new-tokens", type=int, default=32)
    p.add_argument("--zero-shot", default=",".join(ALL_ZERO_SHOT),
                   help="zero-shot tasks for `pollard tasks --suite` ('' for none)")
    p.add_argument("--zero-shot-limit", type=int, default=100,
                   help="items per zero-shot task (0: all)")
    p.add_argument("--zero-shot-items", choices=["random", "first"], default="random",
                   help="which items --zero-shot-limit keeps: a random sample drawn with "
                        "--zero-shot-seed (CPython's random.sample, as `pollard tasks --limit "
                        "--limit-seed`) or the first ones (`--limit-first`, the harness's "
                        "--limit; first items are not a random sample)")
    p.add_argument("--zero-shot-seed", type=int, default=0,
                   help="the seed of the random zero-shot items")
    p.add_argument("--zero-shot-bos", choices=["tokenizer", "yes", "no"], default="tokenizer",
                   help="`pollard tasks --bos`: BOS as the tokenizer adds it (lm-evaluation-"
                        "harness v0.4.9.2 and later), always, or never (the harness before "
                        "v0.4.9.2)")
    p.add_argument("--tinystories-heldout", choices=["auto", "yes", "no"], default="auto",
                   help="also measure perplexity on held-out TinyStories text (the last 20 %% "
                        "of the staged head; TinyStories calibration draws from the rest); "
                        "auto: yes for a llama2.c checkpoint (the stories models are trained "
                        "on TinyStories), no for a GGUF")
    p.add_argument("--mixture", default="c4@0.5,alpaca@0.5",
                   help="the 'mix' calibration source: sources of this list with weights")
    p.add_argument("--jobs", type=int, default=1, help="runs at once")
    p.add_argument("--threads", type=int, default=0,
                   help="threads of each pollard command (--threads; default: the tool's own)")
    p.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples")
    p.add_argument("--title", default="", help="the report's title (default: the model's name)")
    p.add_argument("--note", default="",
                   help="a paragraph for the report after the command (e.g. where it ran)")
    p.add_argument("--report-only", action="store_true", help="only rewrite the report")
    p.add_argument("--accept-other-pollard", action="store_true",
                   help="add runs made by a pollard binary other than the one(s) that made the "
                        "cached runs (RESULTS/identity.json lists every binary that contributed)")
    p.add_argument("--no-report", action="store_true", help="run, but write no report")
    p.add_argument("--max-runs", type=int, default=0,
                   help="stop after starting this many new runs (0: all); the rest stay to do")
    a = p.parse_args(argv)
    a.methods = comma_list(a.methods)
    a.sparsities = comma_list(a.sparsities)
    a.calibrations = comma_list(a.calibrations)
    seeds = []
    for text in comma_list(a.seeds):
        try:
            seed = int(text)
        except ValueError:
            p.error(f"--seeds: '{text}' is not an integer")
        if seed < 0:
            p.error(f"--seeds: {seed} is negative (seeds are integers >= 0)")
        seeds.append(seed)
    a.seeds = seeds
    a.zero_shot = comma_list(a.zero_shot)
    for m in a.methods:
        if m not in ALL_METHODS:
            p.error(f"--methods: unknown method '{m}' (known: {', '.join(ALL_METHODS)})")
    for c in a.calibrations:
        if c not in ALL_CALIBRATIONS:
            p.error(f"--calibrations: unknown source '{c}' (known: {', '.join(ALL_CALIBRATIONS)})")
    sparsities = []
    for s in a.sparsities:
        if ":" in s:
            n, m = s.split(":", 1)
            if not (n.isdigit() and m.isdigit() and 0 < int(n) < int(m)):
                p.error(f"--sparsities: '{s}' is not N:M with 0 < N < M")
            sparsities.append(f"{int(n)}:{int(m)}")
        else:
            try:
                if not 0.0 < float(s) < 1.0:
                    raise ValueError
            except ValueError:
                p.error(f"--sparsities: '{s}' is neither a fraction in (0, 1) nor N:M")
            sparsities.append(repr(float(s)))  # one spelling per value: '.50' is '0.5'
    a.sparsities = sparsities
    for name, given in (("methods", a.methods), ("sparsities", a.sparsities),
                        ("calibrations", a.calibrations), ("seeds", a.seeds),
                        ("zero-shot", a.zero_shot)):
        if len(set(given)) != len(given):
            twice = next(x for i, x in enumerate(given) if x in given[:i])
            p.error(f"--{name}: {twice} is given twice")
    if not a.methods:
        p.error("--methods: give at least one method")
    if not a.sparsities:
        p.error("--sparsities: give at least one sparsity")
    if not a.seeds:
        p.error("--seeds: give at least one seed")
    if not a.calibrations and any(m != "magnitude" for m in a.methods):
        p.error("--calibrations: give at least one source (only magnitude needs none)")
    if not any(":" not in s for s in a.sparsities) and set(a.methods) == {"owl-wanda"}:
        p.error("--sparsities: owl-wanda allocates unstructured sparsity only, and every "
                "sparsity given is N:M: the grid is empty")
    for t in a.zero_shot:
        if t not in ALL_ZERO_SHOT:
            p.error(f"--zero-shot: unknown task '{t}' (known: {', '.join(ALL_ZERO_SHOT)})")
    for name, least in (("samples", 1), ("length", 1), ("window", 2), ("wikitext_windows", 1),
                        ("c4_windows", 1), ("divergence_windows", 1), ("divergence_examples", 1),
                        ("task_examples", 1), ("max_new_tokens", 1), ("selfgen_sources", 0),
                        ("bootstrap", 0), ("max_runs", 0)):
        if getattr(a, name) < least:
            p.error(f"--{name.replace('_', '-')}: {getattr(a, name)} is below {least}")
    check_mixture(p, a.mixture)
    if a.jobs < 1:
        p.error(f"--jobs: {a.jobs} runs at once; give at least 1")
    if a.threads < 0:
        p.error(f"--threads: {a.threads} is negative (0: the tool's own default)")
    if a.zero_shot_limit < 0:
        p.error(f"--zero-shot-limit: {a.zero_shot_limit} is negative (0: every item)")
    if a.zero_shot_seed < 0:
        p.error(f"--zero-shot-seed: {a.zero_shot_seed} is negative (seeds are integers >= 0)")
    for name in ("model",) if a.report_only else ("pollard", "model"):  # a report: no pollard
        if not Path(getattr(a, name)).is_file():
            p.error(f"--{name}: no file {getattr(a, name)}")
    if a.tokenizer and not Path(a.tokenizer).is_file():
        p.error(f"--tokenizer: no file {a.tokenizer}")
    if a.tinystories_heldout == "auto":
        a.tinystories_heldout = "no" if a.model.endswith(".gguf") else "yes"
    if not a.report_only:  # a report needs no pollard
        check_pollard_runs(p, a.pollard)
    if Path(a.results).exists() and not Path(a.results).is_dir():
        p.error(f"--results: {a.results} is a file, not a folder")
    if a.report_only and not (Path(a.results) / "runs").is_dir():
        p.error(f"--results: {a.results} has no runs/ folder: --report-only writes the report "
                "of a study's cached runs")
    above = Path(a.results).absolute().parent
    while not above.exists():
        above = above.parent
    if not above.is_dir():
        p.error(f"--results: {a.results} cannot be made: {above} is a file, not a folder")
    if not (Path(a.data_dir) / "text").is_dir():
        p.error(f"--data-dir: {a.data_dir} has no text/ folder")
    for relative in data_files_needed(a):
        if not (Path(a.data_dir) / relative).is_file():
            p.error(f"--data-dir: {a.data_dir} lacks {relative}, which the chosen calibrations "
                    "and evaluations read")
    if a.zero_shot:
        for folder in sorted({task_folder(t) for t in a.zero_shot}):
            if not (Path(a.data_dir) / "tasks" / folder).is_dir():
                p.error(f"--data-dir: {a.data_dir} lacks tasks/{folder}/, which --zero-shot "
                        "reads")
    return a


MIXTURE_SOURCES = ["c4", "wikitext", "alpaca", "tinystories", "selfgen"]


def check_mixture(p, mixture):
    """--mixture: staged sources (not 'mix' itself), each once, with positive finite weights."""
    names = []
    for item in comma_list(mixture):
        name, at, weight = item.partition("@")
        if name not in MIXTURE_SOURCES:
            p.error(f"--mixture: unknown source '{name}' (known: {', '.join(MIXTURE_SOURCES)})")
        if name in names:
            p.error(f"--mixture: {name} is given twice")
        names.append(name)
        if at:
            try:
                if not 0.0 < float(weight) < float("inf"):
                    raise ValueError
            except ValueError:
                p.error(f"--mixture: the weight of {name}, '{weight}', is not a positive number")
    if not names:
        p.error("--mixture: give at least one source")


def check_pollard_runs(p, pollard):
    if not os.access(pollard, os.X_OK):
        p.error(f"--pollard: {pollard} is not executable")
    try:
        version = subprocess.run([str(Path(pollard).resolve()), "--version"],
                                 capture_output=True, text=True, timeout=120)
    except OSError as e:
        p.error(f"--pollard: {pollard} cannot be run: {e.strerror}")
    if version.returncode != 0:
        p.error(f"--pollard: '{pollard} --version' failed (exit {version.returncode}); is it "
                "the pollard tool?")
    if not version.stdout.startswith("pollard "):  # e.g. /bin/true, which ran as every command
        said = (version.stdout + version.stderr).strip().splitlines()[:1] or ["nothing"]
        p.error(f"--pollard: '{pollard} --version' says {said[0]!r}, not 'pollard <version>'; "
                "is it the pollard tool?")


SOURCE_FILES = {
    "c4": "text/c4/c4-sample.00000-of-00001.json.gz",
    "alpaca": "text/alpaca/alpaca_5000.json",
    "tinystories": "text/tinystories/tinystories_train_head.txt",
    "wikitext_valid": "text/wikitext2_raw/valid.rows.jsonl",
    "wikitext_test": "text/wikitext2_raw/test.rows.jsonl",
}


def calibration_sources(a):
    """The staged sources the calibrations draw from ('mix' names those of --mixture)."""
    names = set(a.calibrations)
    if "mix" in names:
        names |= {item.partition("@")[0] for item in comma_list(a.mixture)}
    return names


def data_files_needed(a):
    """The staged text files (relative to --data-dir) the study reads: C4 (held-out
    perplexity, divergence; calibration and self-generation prompts), Alpaca (held-out tasks),
    WikiText-2 test (perplexity), WikiText-2 valid only when calibrated on, TinyStories when
    calibrated on or evaluated."""
    sources = calibration_sources(a)
    needed = [SOURCE_FILES["c4"], SOURCE_FILES["alpaca"], SOURCE_FILES["wikitext_test"]]
    if "wikitext" in sources:
        needed.append(SOURCE_FILES["wikitext_valid"])
    if "tinystories" in sources or a.tinystories_heldout == "yes":
        needed.append(SOURCE_FILES["tinystories"])
    return needed


def refuse(message):
    """Exits with status 2 (the usage errors' status): the study cannot run as asked."""
    print(message, file=sys.stderr, flush=True)
    raise SystemExit(2)


@functools.lru_cache(maxsize=None)
def sha256_of(path):
    """The file's sha256, read once per study (the identity check and the derived splits both
    ask)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def task_folder(task):
    """The folder of tasks/ a zero-shot task reads: arc_easy and arc_challenge share arc/."""
    return "arc" if task.startswith("arc_") else task


def sparsity_value(s):
    """The fraction of weights pruned: 0.5 for '2:4'."""
    if ":" in s:
        n, m = s.split(":")
        return int(n) / int(m)
    return float(s)


class study:
    def __init__(self, a):
        self.a = a
        self.results = Path(a.results)
        self.model = Path(a.model).resolve()
        self.data = Path(a.data_dir).resolve()
        self.is_gguf = self.model.suffix == ".gguf"
        self.tokenizer = None
        if not self.is_gguf:
            self.tokenizer = Path(a.tokenizer).resolve() if a.tokenizer else None
            if self.tokenizer is None:
                candidates = sorted(self.model.parent.glob("tok*.bin"))
                if not candidates:
                    raise SystemExit(f"study: no tokenizer beside {self.model}; give --tokenizer")
                self.tokenizer = candidates[0]
        self.cache_locks = {}
        self.lock = threading.Lock()
        # Set by SIGINT/SIGTERM: no pollard command starts after it, the running ones are ended.
        self.stop = threading.Event()
        self.stop_signal = None
        self.children = set()

    # ---- identity -------------------------------------------------------------------------
    def data_files_read(self):
        """The files under --data-dir the study reads, relative to it."""
        files = list(data_files_needed(self.a))
        for folder in sorted({task_folder(t) for t in self.a.zero_shot}):
            files += sorted(p.relative_to(self.data).as_posix()
                            for p in (self.data / "tasks" / folder).rglob("*") if p.is_file())
        return files

    def pollard_identity(self):
        executable = Path(self.a.pollard).resolve()
        done = subprocess.run([str(executable), "--version"], capture_output=True, text=True)
        version = (done.stdout + done.stderr).strip()
        if done.returncode != 0:
            raise SystemExit(f"study: {executable} --version failed (exit {done.returncode}): "
                             f"{version}")
        return {"version": version, "sha256": sha256_of(executable)}

    def check_identity(self):
        """Compares the model, the data and pollard with RESULTS/identity.json (written by the
        first study in the folder): the cache keys name the model by file name and size only,
        so without it a different model, data or pollard would reuse the cached runs."""
        path = self.results / "identity.json"
        model = {"file": self.model.name, "bytes": self.model.stat().st_size,
                 "sha256": sha256_of(self.model)}
        if self.a.report_only:  # a report reads no data, runs no pollard, records nothing
            if path.exists():
                self.refuse_other_model_or_data(json.loads(path.read_text(encoding="utf-8")),
                                                model, {})
            return
        data = {f: sha256_of(self.data / f) for f in self.data_files_read()}
        self.pollard = self.pollard_identity()
        if not path.exists():
            cached = list((self.results / "runs").glob("*.json"))
            if cached:
                print(f"study: note: {self.results} has {len(cached)} cached runs but no "
                      "identity.json: they could not be checked against this model, data and "
                      "pollard (they are reused as they are); the identity of this study is "
                      "recorded now", flush=True)
            self.write_json(path, {"model": model, "data": data, "pollard": [self.pollard]})
            return
        recorded = json.loads(path.read_text(encoding="utf-8"))
        self.refuse_other_model_or_data(recorded, model, data)
        known = [b["sha256"] for b in recorded["pollard"]]
        if self.pollard["sha256"] not in known:
            if not self.a.accept_other_pollard:
                made = "; ".join(f"{b['version']}, sha256 {b['sha256'][:16]}…"
                                 for b in recorded["pollard"])
                refuse(
                    f"study: {self.a.pollard} ({self.pollard['version']}, sha256 "
                    f"{self.pollard['sha256'][:16]}…) is not the pollard that made the cached "
                    f"runs in {self.results} ({made}); give --accept-other-pollard to add runs "
                    "made by it, or a new --results folder")
            print(f"study: adding runs made by another pollard ({self.pollard['version']}, "
                  f"sha256 {self.pollard['sha256'][:16]}…)", flush=True)
            recorded["pollard"].append(self.pollard)
        recorded["data"].update(data)
        self.write_json(path, recorded)

    def refuse_other_model_or_data(self, recorded, model, data):
        """Exits 2 when the model or a data file is not the one the cached runs were made with
        (identity.json's record)."""
        changed = []
        if recorded["model"]["sha256"] != model["sha256"]:
            changed.append(f"the model: {self.model} (sha256 {model['sha256'][:16]}…) is not the "
                           f"model of the cached runs ({recorded['model']['file']}, sha256 "
                           f"{recorded['model']['sha256'][:16]}…)")
        for f, digest in data.items():
            if f in recorded["data"] and recorded["data"][f] != digest:
                changed.append(f"the data file {f} of {self.data} (sha256 {digest[:16]}…) differs "
                               f"from the one the cached runs read ({recorded['data'][f][:16]}…)")
        if changed:
            refuse(f"study: {self.results} holds runs of another model or data:\n  "
                             + "\n  ".join(changed)
                             + "\ngive a new --results folder for this study")

    # ---- data -----------------------------------------------------------------------------
    def refresh_derived_data(self, d):
        """Removes the splits derived from a staged file that is not the one they were derived
        from (RESULTS/data/sources.json records the hashes), so that they are derived again."""
        derived = {"c4": ["c4-calibration.json.gz", "c4-heldout.json.gz", "c4-heldout-head-*"],
                   "alpaca": ["alpaca-calibration.json", "alpaca-heldout.json"],
                   "tinystories": ["tinystories-calibration.txt", "tinystories-heldout.txt"],
                   "wikitext_test": ["wikitext2-test-head-*"]}
        record = d / "sources.json"
        before = json.loads(record.read_text(encoding="utf-8")) if record.exists() else {}
        now = dict(before)
        for source, patterns in derived.items():
            staged = self.data / SOURCE_FILES[source]
            if not staged.is_file():
                continue
            digest = sha256_of(staged)
            if before.get(source) != digest:
                for pattern in patterns:
                    for old in d.glob(pattern):
                        old.unlink()
                now[source] = digest
        if now != before:
            self.write_json(record, now)

    def prepare_data(self):
        """Held-out splits of C4 and Alpaca, derived once from the staged files (again when a
        staged file changed)."""
        d = self.results / "data"
        d.mkdir(parents=True, exist_ok=True)
        text = self.data / "text"
        self.refresh_derived_data(d)
        c4_calibration, c4_heldout = d / "c4-calibration.json.gz", d / "c4-heldout.json.gz"
        if not c4_calibration.exists() or not c4_heldout.exists():
            with gzip.open(text / "c4/c4-sample.00000-of-00001.json.gz", "rt", encoding="utf-8") as f:
                lines = [line for line in f if line.strip()]
            for path, rows in ((c4_calibration, lines[:C4_CALIBRATION_DOCUMENTS]),
                               (c4_heldout, lines[C4_CALIBRATION_DOCUMENTS:])):
                tmp = path.with_suffix(".tmp")
                with gzip.GzipFile(tmp, "wb", mtime=0) as f:
                    f.write("".join(rows).encode("utf-8"))
                tmp.replace(path)
        alpaca_calibration, alpaca_heldout = d / "alpaca-calibration.json", d / "alpaca-heldout.json"
        if not alpaca_calibration.exists() or not alpaca_heldout.exists():
            examples = json.loads((text / "alpaca/alpaca_5000.json").read_text(encoding="utf-8"))
            for path, rows in ((alpaca_calibration, examples[:ALPACA_CALIBRATION_EXAMPLES]),
                               (alpaca_heldout, examples[ALPACA_CALIBRATION_EXAMPLES:])):
                tmp = path.with_suffix(".tmp")
                tmp.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
                tmp.replace(path)
        # TinyStories: calibration from the first 80 % of the staged head, held-out perplexity on
        # the rest (the pre-training text of the stories models).
        tinystories_calibration = d / "tinystories-calibration.txt"
        tinystories_heldout = d / "tinystories-heldout.txt"
        if self.uses_tinystories():
            tinystories = (text / "tinystories/tinystories_train_head.txt").read_text(
                encoding="utf-8")
            cut = tinystories.find("\n\n", int(len(tinystories) * TINYSTORIES_CALIBRATION_SHARE))
            cut = len(tinystories) if cut < 0 else cut + 2
            for path, part in ((tinystories_calibration, tinystories[:cut]),
                               (tinystories_heldout, tinystories[cut:])):
                if not path.exists():
                    tmp = path.with_suffix(".tmp")
                    tmp.write_text(part, encoding="utf-8")
                    tmp.replace(path)
        # The evaluation reads only the first windows of each text, so it is given a head of the
        # text long enough for them (at least 16 characters per token needed, whole rows or
        # documents): tokenizing all of WikiText-2 test costs minutes with a large vocabulary,
        # and the windows are the same tokens as the whole text's first windows (the test suite
        # checks that the perplexity is identical).
        a = self.a
        need = 16 * a.window * max(a.wikitext_windows, a.c4_windows, a.divergence_windows) + 4096
        wikitext_head = d / f"wikitext2-test-head-{need}.rows.jsonl"
        if not wikitext_head.exists():
            rows, size = [], 0
            with open(text / "wikitext2_raw/test.rows.jsonl", encoding="utf-8") as f:
                for line in f:
                    if size >= need:
                        break
                    rows.append(line)
                    size += len(json.loads(line)["text"]) + 2
            tmp = wikitext_head.with_suffix(".tmp")
            tmp.write_text("".join(rows), encoding="utf-8")
            tmp.replace(wikitext_head)
        c4_heldout_head = d / f"c4-heldout-head-{need}.json.gz"
        if not c4_heldout_head.exists():
            rows, size = [], 0
            with gzip.open(c4_heldout, "rt", encoding="utf-8") as f:
                for line in f:
                    if size >= need:
                        break
                    rows.append(line)
                    size += len(json.loads(line)["text"]) + 1
            tmp = c4_heldout_head.with_suffix(".tmp")
            with gzip.GzipFile(tmp, "wb", mtime=0) as f:
                f.write("".join(rows).encode("utf-8"))
            tmp.replace(c4_heldout_head)
        self.files = {
            "c4": c4_calibration.resolve(),
            "wikitext": (text / "wikitext2_raw/valid.rows.jsonl").resolve(),
            "alpaca": alpaca_calibration.resolve(),
            "wikitext_test": wikitext_head.resolve(),
            "c4_heldout": c4_heldout_head.resolve(),
            "alpaca_heldout": alpaca_heldout.resolve(),
        }
        if self.uses_tinystories():
            self.files["tinystories"] = tinystories_calibration.resolve()
            self.files["tinystories_heldout"] = tinystories_heldout.resolve()
        for k, v in self.files.items():
            if not v.exists():
                raise SystemExit(f"study: {k} data missing: {v}")

    def calibration_spec(self, source):
        """The --calibration value of a calibration source."""
        f = self.files
        kinds = {"c4": f"c4:{f['c4']}", "wikitext": f"wikitext:{f['wikitext']}",
                 "alpaca": f"alpaca:{f['alpaca']}", "tinystories": f"text:{f.get('tinystories')}",
                 "selfgen": f"selfgen:{f['c4']}"}
        if source == "mix":
            parts = []
            for item in comma_list(self.a.mixture):
                name, _, weight = item.partition("@")
                if name not in kinds:  # parse_arguments refuses it (check_mixture)
                    raise ValueError(f"--mixture names unknown source '{name}'")
                parts.append(kinds[name] + (f"@{weight}" if weight else ""))
            return ",".join(parts)
        return kinds[source]

    # ---- settings -------------------------------------------------------------------------
    def model_identity(self):
        return {"file": self.model.name, "bytes": self.model.stat().st_size}

    def evaluation_settings(self):
        a = self.a
        return {"window": a.window, "wikitext_windows": a.wikitext_windows,
                "c4_windows": a.c4_windows, "divergence_windows": a.divergence_windows,
                "divergence_examples": a.divergence_examples, "task_examples": a.task_examples,
                "max_new_tokens": a.max_new_tokens, "zero_shot": a.zero_shot,
                "zero_shot_limit": a.zero_shot_limit,
                "c4_split": C4_CALIBRATION_DOCUMENTS, "alpaca_split": ALPACA_CALIBRATION_EXAMPLES,
                "text_heads": "16 characters per token",
                **({"tinystories_split": TINYSTORIES_CALIBRATION_SHARE}
                   if self.evaluates_tinystories() else {}),
                **self.zero_shot_selection()}

    def zero_shot_selection(self):
        """The zero-shot items and BOS convention, as key entries only where they differ from
        what every study before them did (the first items, the tokenizer's BOS), so that the
        cached runs of those studies keep their keys."""
        a = self.a
        out = {}
        if a.zero_shot and a.zero_shot_limit > 0 and a.zero_shot_items == "random":
            out.update(zero_shot_items="random", zero_shot_seed=a.zero_shot_seed)
        if a.zero_shot and a.zero_shot_bos != "tokenizer":
            out["zero_shot_bos"] = a.zero_shot_bos
        return out

    def evaluates_tinystories(self):
        """Held-out TinyStories perplexity is measured as --tinystories-heldout says, whatever
        the calibration sources: the evaluation, and so every run's cache key, must not depend
        on which other grid points a study selects."""
        return self.a.tinystories_heldout == "yes"

    def uses_tinystories(self):
        return "tinystories" in calibration_sources(self.a) or self.evaluates_tinystories()

    def selfgen_sources(self):
        return self.a.selfgen_sources or max(8, (3 * self.a.samples + 1) // 2)

    def grid(self):
        """Every run's settings; magnitude needs no calibration data, so it has one run per
        sparsity; OWL allocates unstructured sparsity, so owl-wanda has no N:M runs."""
        a = self.a
        runs = []
        for method in a.methods:
            for s in a.sparsities:
                if method == "owl-wanda" and ":" in s:
                    continue
                sources = ["none"] if method == "magnitude" else a.calibrations
                seeds = [0] if method == "magnitude" else a.seeds
                for source in sources:
                    for seed in seeds:
                        runs.append(self.run_settings(method, s, source, seed))
        return runs

    def run_settings(self, method, s, source, seed):
        a = self.a
        r = {"model": self.model_identity(), "method": method, "sparsity": s,
             "calibration": source, "seed": seed, "evaluation": self.evaluation_settings()}
        if source != "none":
            r.update(samples=a.samples, length=a.length)
            if source == "mix":
                r["mixture"] = a.mixture
            if source in ("selfgen",) or (source == "mix" and "selfgen" in a.mixture):
                r["selfgen_sources"] = self.selfgen_sources()
        return r

    @staticmethod
    def key(settings):
        digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
        if settings["method"] == "dense":
            return f"dense-{digest}"
        s = settings["sparsity"].replace(":", "of")
        return (f"{settings['method']}-{s}-{settings['calibration']}-seed{settings['seed']}"
                f"-{digest}")

    # ---- running --------------------------------------------------------------------------
    def environment(self):
        env = dict(os.environ)
        if self.a.threads > 0:
            env["OMP_NUM_THREADS"] = str(self.a.threads)
        return env

    def tool(self, args, log, what):
        """Runs pollard with args; returns its wall time in seconds."""
        if self.a.threads > 0 and args[0] != "info":
            args = list(args) + ["--threads", self.a.threads]
        command = [str(Path(self.a.pollard).resolve())] + [str(x) for x in args]
        if self.stop.is_set():
            raise interrupted(what)
        start = time.perf_counter()
        with open(log, "a", encoding="utf-8") as out:
            out.write("$ " + " ".join(command) + "\n")
            out.flush()
            child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                     env=self.environment())
            with self.lock:
                self.children.add(child)
            if self.stop.is_set():  # the signal came while the child started
                child.terminate()
            try:
                returncode = child.wait()
            finally:
                with self.lock:
                    self.children.discard(child)
        seconds = time.perf_counter() - start
        if returncode in (-signal.SIGINT, -signal.SIGTERM):
            self.stop.wait(1.0)  # a Ctrl-C reaches the child and this process at once
        if self.stop.is_set():
            raise interrupted(what)
        if returncode != 0:
            tail = Path(log).read_text(encoding="utf-8", errors="replace")[-2000:]
            raise RuntimeError(f"{what} failed (exit {returncode}):\n{tail}")
        return seconds

    def on_signal(self, number, frame):  # noqa: ARG002 - the signal module's signature
        """Stops the study: no new pollard command, the running ones terminated."""
        self.stop_signal = number
        self.stop.set()
        with self.lock:
            for child in self.children:
                if child.poll() is None:
                    child.terminate()

    def clean_up_failed(self, key, work):
        """Removes a run's work folder (a pruned model is hundreds of MB), keeping only its log
        as RESULTS/failed/<key>.log; returns that path (None if there was no log)."""
        kept = None
        log = work / "log.txt"
        if log.exists():
            kept = self.results / "failed" / f"{key}.log"
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(log), str(kept))
        shutil.rmtree(work, ignore_errors=True)
        return kept

    def attempt(self, key, work, body):
        """Runs body(); on failure keeps only the log, on interruption removes the work folder."""
        try:
            return body()
        except interrupted:
            shutil.rmtree(work, ignore_errors=True)
            raise
        except Exception as e:
            kept = self.clean_up_failed(key, work)
            raise RuntimeError(f"{e}\n(log kept as {kept})" if kept else str(e)) from None

    def tokenizer_args(self):
        return ["--tokenizer", self.tokenizer] if self.tokenizer else []

    def evaluate(self, model, work, log, dense):
        """Perplexities, divergence from the dense model (unless this is it) and task metrics."""
        a, f = self.a, self.files
        out, seconds = {}, {}
        tok = self.tokenizer_args()
        texts = [("wikitext2_test", f["wikitext_test"], "rows-jsonl", a.wikitext_windows),
                 ("c4_heldout", f["c4_heldout"], "c4", a.c4_windows)]
        if self.evaluates_tinystories():
            texts.append(("tinystories_heldout", f["tinystories_heldout"], "text", a.c4_windows))
        for name, text, fmt, windows in texts:
            j = work / f"eval-{name}.json"
            seconds[f"eval_{name}"] = self.tool(
                ["eval", model, "--text", text, "--format", fmt, "--window", a.window,
                 "--max-windows", windows, "--json", j] + tok, log, f"eval {name}")
            e = json.loads(j.read_text())
            e.pop("model", None)  # a path in the work folder; the settings name the model
            e["text"] = Path(e["text"]).name
            out[name] = e
        if not dense:
            j = work / "compare.json"
            seconds["compare"] = self.tool(
                ["compare", self.model, model, "--text", f["c4_heldout"], "--format", "c4",
                 "--window", a.window, "--max-windows", a.divergence_windows, "--instructions",
                 f["alpaca_heldout"], "--max-examples", a.divergence_examples, "--json", j] + tok,
                log, "compare")
            c = json.loads(j.read_text())
            out["divergence_text"] = self.divergence_summary(c["windows"]["report"])
            out["divergence_text"]["windows"] = c["windows"]["windows"]
            out["divergence_alpaca"] = self.divergence_summary(c["instructions"]["report"])
            out["divergence_alpaca"]["examples"] = c["instructions"]["examples"]
        j = work / "tasks-alpaca.json"
        seconds["alpaca_tasks"] = self.tool(
            ["tasks", model, "--instructions", f["alpaca_heldout"], "--max-examples",
             a.task_examples, "--max-new-tokens", a.max_new_tokens, "--json", j] + tok,
            log, "tasks (Alpaca)")
        t = json.loads(j.read_text())
        out["alpaca_tasks"] = {k: t[k] for k in ("examples", "exact_match", "token_f1", "rouge1")}
        if a.zero_shot:
            j = work / "tasks-zero-shot.json"
            items = []
            if a.zero_shot_limit > 0:
                items = ["--limit", a.zero_shot_limit] + (
                    ["--limit-seed", a.zero_shot_seed] if a.zero_shot_items == "random"
                    else ["--limit-first"])
            seconds["zero_shot"] = self.tool(
                ["tasks", model, "--suite", ",".join(a.zero_shot), "--tasks-dir",
                 self.data / "tasks", "--bos", a.zero_shot_bos, "--json", j] + items + tok,
                log, "tasks (zero-shot)")
            out["zero_shot"] = json.loads(j.read_text())["zero_shot"]
        return out, seconds

    @staticmethod
    def divergence_summary(report):
        return {"positions": report["positions"],
                "js_nats": report["js_nats"]["mean"],
                "js_nats_se": report["js_nats"]["standard_error"],
                "kl": report["kl"]["mean"], "kl_se": report["kl"]["standard_error"],
                "same_top": report["same_top"]["fraction"],
                "same_top_se": report["same_top"]["standard_error"]}

    def selfgen_lock(self, settings):
        with self.lock:
            return self.cache_locks.setdefault(settings["seed"], threading.Lock())

    def selfgen_cache(self, settings):
        d = self.results / "cache"
        d.mkdir(parents=True, exist_ok=True)
        return d / (f"selfgen-seed{settings['seed']}-n{settings['selfgen_sources']}"
                    f"-L{settings['length']}.json")

    def run_one(self, settings):
        """Prunes and evaluates one grid point; writes RESULTS/runs/<key>.json whole."""
        key = self.key(settings)
        work = self.results / "work" / key
        if self.stop.is_set():
            raise interrupted(key)
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        return self.attempt(key, work, lambda: self.prune_and_evaluate(settings, key, work))

    def prune_and_evaluate(self, settings, key, work):
        log = work / "log.txt"
        pruned = work / ("pruned.gguf" if self.is_gguf else "pruned.bin")
        args = ["prune", self.model, pruned, "--quiet", "--report", work / "prune.json"]
        method = settings["method"]
        args += ["--method", "wanda" if method == "owl-wanda" else method]
        if method == "owl-wanda":
            args += ["--allocation", "owl"]
        s = settings["sparsity"]
        args += ["--n-m", s] if ":" in s else ["--sparsity", s]
        if self.is_gguf:
            args += ["--type", "f16"]  # a Q4_1 linear cannot hold exact zeros
        lock = None
        if settings["calibration"] != "none":  # the tokenizer reads calibration text only
            args += self.tokenizer_args()
            args += ["--calibration", self.calibration_spec(settings["calibration"]),
                     "--samples", settings["samples"], "--length", settings["length"],
                     "--seed", settings["seed"]]
            if "selfgen_sources" in settings:
                cache = self.selfgen_cache(settings)
                args += ["--selfgen-cache", cache, "--selfgen-sources", settings["selfgen_sources"]]
                lock = self.selfgen_lock(settings)
        start = time.time()
        if lock is not None:
            with lock:  # one run generates a seed's texts; the others read them from the cache
                prune_seconds = self.tool(args, log, "prune")
        else:
            prune_seconds = self.tool(args, log, "prune")
        report = json.loads((work / "prune.json").read_text())
        metrics, seconds = self.evaluate(pruned, work, log, dense=False)
        timing = report.get("timing", {})
        result = {
            "key": key, "settings": settings, "metrics": metrics, "pollard": self.pollard,
            "sparsity_achieved": report.get("overall_sparsity"),
            "seconds": {
                "prune_wall": prune_seconds,
                # the prune command outside prune_model: reading the model, drawing (or
                # generating) the calibration data, writing the pruned file
                "calibration_data_and_io": prune_seconds - timing.get("total_seconds", 0.0),
                "calibration_forward": timing.get("forward_seconds", 0.0),
                "statistics": timing.get("statistics_seconds", 0.0),
                "pruning": timing.get("solver_seconds", 0.0),
                "evaluation": sum(seconds.values()),
                "evaluation_parts": seconds,
                "total": time.time() - start},
        }
        self.write_json(self.results / "runs" / f"{key}.json", result)
        shutil.rmtree(work)
        return result

    @staticmethod
    def write_json(path, value):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(value, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(path)

    def run_dense(self):
        settings = {"model": self.model_identity(), "method": "dense",
                    "evaluation": self.evaluation_settings()}
        key = self.key(settings)
        path = self.results / "runs" / f"{key}.json"
        if path.exists():
            return json.loads(path.read_text()), False
        work = self.results / "work" / key
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        return self.attempt(key, work, lambda: self.evaluate_dense(settings, key, work, path))

    def evaluate_dense(self, settings, key, work, path):
        start = time.time()
        log = work / "log.txt"
        self.tool(["info", self.model] + self.tokenizer_args(), log, "info")
        info = log.read_text(encoding="utf-8", errors="replace")
        adds_bos = None
        if "adds bos: yes" in info:
            adds_bos = True
        elif "adds bos: no" in info:
            adds_bos = False
        metrics, seconds = self.evaluate(self.model, work, log, dense=True)
        result = {"key": key, "settings": settings, "metrics": metrics,
                  "tokenizer_adds_bos": adds_bos, "pollard": self.pollard,
                  "seconds": {"evaluation": sum(seconds.values()), "evaluation_parts": seconds,
                              "total": time.time() - start}}
        self.write_json(path, result)
        shutil.rmtree(work)
        return result, True

    def run(self):
        try:  # the folder first: a study that cannot write its results says so and stops
            (self.results / "runs").mkdir(parents=True, exist_ok=True)
            probe = self.results / f".write-test-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as e:
            refuse(f"study: --results: cannot write in {self.results}: "
                   f"{e.strerror or e}")
        self.hold_results_folder()
        if not self.a.report_only:
            for number in (signal.SIGINT, signal.SIGTERM):
                signal.signal(number, self.on_signal)
        self.check_identity()
        self.prepare_data()
        (self.results / "runs").mkdir(parents=True, exist_ok=True)
        grid = self.grid()
        if self.a.report_only:
            return self.report(grid)
        try:
            dense, ran = self.run_dense()
        except interrupted:
            return self.stopped(grid)
        except RuntimeError as e:  # every run is compared with the dense model: none can run
            raise SystemExit(f"study: the dense model's evaluation failed, so no run starts: "
                             f"{e}") from None
        print(f"study: dense model {'evaluated' if ran else 'cached'}", flush=True)
        todo = [g for g in grid if not (self.results / "runs" / f"{self.key(g)}.json").exists()]
        print(f"study: {len(grid)} runs in the grid, {len(grid) - len(todo)} cached, "
              f"{len(todo)} to run", flush=True)
        # Seed-major order: a study cut short still covers every grid point with its first seeds.
        todo.sort(key=lambda g: g["seed"])
        if self.a.max_runs > 0:
            todo = todo[:self.a.max_runs]
        failures = []
        done = 0
        with concurrent.futures.ThreadPoolExecutor(max_workers=self.a.jobs) as pool:
            futures = {pool.submit(self.run_one, g): g for g in todo}
            for fut in concurrent.futures.as_completed(futures):
                g = futures[fut]
                try:
                    r = fut.result()
                    done += 1
                    print(f"study: [{done}/{len(todo)}] {r['key']}: "
                          f"{r['seconds']['total']:.1f} s", flush=True)
                except interrupted:
                    pass
                except Exception as e:  # noqa: BLE001 - reported, the others go on
                    done += 1
                    failures.append((self.key(g), str(e)))
                    print(f"study: [{done}/{len(todo)}] {self.key(g)} FAILED: {e}", flush=True)
        if self.stop.is_set():
            return self.stopped(grid)
        if not self.a.no_report:
            self.report(grid)
        if failures:
            raise SystemExit(f"study: {len(failures)} run(s) failed: "
                             + ", ".join(k for k, _ in failures))

    def hold_results_folder(self):
        """Locks the RESULTS folder itself (flock, no file left behind) for this process's life:
        a second study (or report) in the same folder at once would run the same runs and derive
        the same files over each other."""
        self.folder_lock = os.open(self.results, os.O_RDONLY)
        try:
            fcntl.flock(self.folder_lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            refuse(f"study: {self.results} is in use by another study running now; wait for it "
                   "to end, or give another --results folder")

    def stopped(self, grid):
        """After SIGINT/SIGTERM: says what is cached and exits 128 + the signal's number."""
        cached = sum((self.results / "runs" / f"{self.key(g)}.json").exists() for g in grid)
        name = signal.Signals(self.stop_signal).name
        print(f"study: stopped by {name}: {cached} of {len(grid)} runs cached in "
              f"{self.results / 'runs'}; no report written. The same command again resumes "
              "from them (--report-only writes a report of the cached runs).", flush=True)
        raise SystemExit(128 + self.stop_signal)

    def report(self, grid):
        """Writes the report; SIGINT or SIGTERM while it is written (the bootstrap of a large
        grid takes a minute) stops it at once, exit 128 + the signal's number, and leaves the
        report.md before it as it was."""
        def stop_now(number, frame):  # noqa: ARG001 - the signal module's signature
            self.stop_signal = number
            raise interrupted("report")

        before = {n: signal.signal(n, stop_now) for n in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.write_report(grid)
        except interrupted:
            (self.results / "report.md.tmp").unlink(missing_ok=True)
            name = signal.Signals(self.stop_signal).name
            print(f"study: stopped by {name} while writing the report; {self.results / 'report.md'}"
                  " is as it was before (the runs are cached: --report-only writes it).",
                  flush=True)
            raise SystemExit(128 + self.stop_signal) from None
        finally:
            for number, handler in before.items():
                signal.signal(number, handler)

    def write_report(self, grid):
        runs = []
        for g in grid:
            path = self.results / "runs" / f"{self.key(g)}.json"
            if path.exists():
                runs.append(json.loads(path.read_text()))
        dense_settings = {"model": self.model_identity(), "method": "dense",
                          "evaluation": self.evaluation_settings()}
        dense_path = self.results / "runs" / f"{self.key(dense_settings)}.json"
        if not dense_path.exists():
            raise SystemExit("study: no dense result yet; run the study first")
        dense = json.loads(dense_path.read_text())
        # Quoted for a POSIX shell: a path with a space or an empty --zero-shot stays one word.
        command = shlex.join(["/usr/bin/python3", "benchmarks/study/study.py"]
                             + self.command_line())
        import study_report  # numpy and matplotlib are needed for the report only

        study_report.write_report(self.results, dense, runs, grid_size=len(grid), a=self.a,
                                  command=command, key=self.key)
        print(f"study: report {self.results / 'report.md'} ({len(runs)} of {len(grid)} runs)")

    def command_line(self):
        """The options of this study as a command line (paths as given)."""
        a = self.a
        out = ["--pollard", a.pollard, "--model", a.model, "--data-dir", a.data_dir,
               "--results", a.results, "--methods", ",".join(a.methods),
               "--sparsities", ",".join(a.sparsities), "--calibrations", ",".join(a.calibrations),
               "--seeds", ",".join(map(str, a.seeds)), "--samples", str(a.samples),
               "--length", str(a.length), "--window", str(a.window),
               "--wikitext-windows", str(a.wikitext_windows), "--c4-windows", str(a.c4_windows),
               "--divergence-windows", str(a.divergence_windows),
               "--divergence-examples", str(a.divergence_examples),
               "--task-examples", str(a.task_examples), "--max-new-tokens", str(a.max_new_tokens),
               "--zero-shot", ",".join(a.zero_shot),
               "--zero-shot-limit", str(a.zero_shot_limit),
               "--zero-shot-items", a.zero_shot_items]
        if a.zero_shot_items == "random":
            out += ["--zero-shot-seed", str(a.zero_shot_seed)]
        out += ["--zero-shot-bos", a.zero_shot_bos, "--tinystories-heldout", a.tinystories_heldout,
                "--mixture", a.mixture, "--bootstrap", str(a.bootstrap)]  # the intervals' draws
        if a.selfgen_sources:
            out += ["--selfgen-sources", str(a.selfgen_sources)]
        if a.tokenizer:
            out += ["--tokenizer", a.tokenizer]
        return out


def main(argv=None):
    a = parse_arguments(sys.argv[1:] if argv is None else argv)
    study(a).run()


if __name__ == "__main__":
    main()
