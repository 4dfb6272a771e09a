"""The calibration-data study's report: Markdown tables (mean ± standard deviation over seeds),
PNG plots (matplotlib) and the statistics behind the findings (rank correlations with bootstrap
confidence intervals). Reads the per-run JSON results that study.py caches."""

import math
from collections import defaultdict
from pathlib import Path

import numpy as np

import study_statistics as stats

METHOD_ORDER = ["magnitude", "wanda", "sparsegpt", "owl-wanda"]
CALIBRATION_ORDER = ["none", "c4", "wikitext", "alpaca", "tinystories", "selfgen", "mix"]
CALIBRATION_NAMES = {"none": "—", "c4": "C4", "wikitext": "WikiText-2 valid", "alpaca": "Alpaca",
                     "tinystories": "TinyStories", "selfgen": "self-generated", "mix": "mixture"}
TASK_NAMES = {"arc_easy": "ARC-e", "arc_challenge": "ARC-c", "piqa": "PIQA",
              "hellaswag": "HellaSwag", "winogrande": "WinoGrande", "boolq": "BoolQ"}


def order_of(values, order):
    return sorted(values, key=lambda v: (order.index(v) if v in order else len(order), v))


def sparsity_order(s):
    """Sorts sparsities as the tables read them: the unstructured ones by the fraction pruned
    (so a range that grows with sparsity grows down the rows), then the N:M patterns."""
    if ":" in s:
        n, m = s.split(":")
        return (1, int(n) / int(m), int(m))
    return (0, float(s), 0)


def sparsity_label(s):
    """'55 %' for 0.55, '55.5 %' for 0.555 (never rounded onto another sparsity); N:M as is."""
    return f"{round(float(s) * 100, 6):g} %" if ":" not in s else s


# ---- flattening ---------------------------------------------------------------------------

def flatten(run):
    """The numbers of one run (or of the dense model) under short names."""
    m = run["metrics"]
    out = {"wt2_ppl": m["wikitext2_test"]["perplexity"],
           "wt2_se": m["wikitext2_test"]["standard_error"],
           "c4_ppl": m["c4_heldout"]["perplexity"], "c4_se": m["c4_heldout"]["standard_error"]}
    if "tinystories_heldout" in m:
        out["ts_ppl"] = m["tinystories_heldout"]["perplexity"]
        out["ts_se"] = m["tinystories_heldout"]["standard_error"]
    for name in ("text", "alpaca"):
        d = m.get(f"divergence_{name}")
        if d:
            out[f"js_{name}"] = d["js_nats"]
            out[f"js_{name}_se"] = d.get("js_nats_se")
            out[f"kl_{name}"] = d["kl"]
            out[f"top1_{name}"] = d["same_top"]
    t = m["alpaca_tasks"]
    out["em"] = t["exact_match"]["mean"]
    out["f1"] = t["token_f1"]["mean"]
    out["f1_se"] = t["token_f1"]["standard_error"]
    out["rouge1"] = t["rouge1"]["mean"]
    z = m.get("zero_shot")
    if z:
        out["zs_avg"] = z["average_reported"]
        out["zs_avg_acc"] = z["average_acc"]
        errors = []
        for task in z["tasks"]:
            reported = task["acc_norm"] if task["reports_acc_norm"] else task["acc"]
            out[f"zs_{task['task']}"] = reported["mean"]
            errors.append(reported["standard_error"])
        # The average of independent per-task means: sqrt(sum SE^2) / tasks.
        out["zs_avg_se"] = (math.sqrt(sum(e * e for e in errors)) / len(errors)
                            if errors and None not in errors else None)
    s = run.get("seconds", {})
    for k in ("calibration_data_and_io", "calibration_forward", "statistics", "pruning",
              "evaluation", "prune_wall", "total"):
        if k in s:
            out[f"t_{k}"] = s[k]
    out["seed"] = run["settings"].get("seed")
    if "sparsity_achieved" in run and run["sparsity_achieved"] is not None:
        out["sparsity_achieved"] = run["sparsity_achieved"]
    return out


def groups_of(runs):
    """{(method, sparsity, calibration): [flattened run, ...]} over seeds."""
    g = defaultdict(list)
    for r in runs:
        s = r["settings"]
        g[(s["method"], s["sparsity"], s["calibration"])].append(flatten(r))
    return g


def mean_std(rows, key):
    v = [r[key] for r in rows if key in r and r[key] is not None]
    if not v:
        return None, None, 0
    a = np.asarray(v, dtype=float)
    return float(a.mean()), (float(a.std(ddof=1)) if len(a) > 1 else None), len(a)


# ---- formatting ---------------------------------------------------------------------------

def number(x, kind):
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    if kind == "pct":
        return f"{100 * x:.1f}"
    if kind == "ppl":
        return f"{x:.2f}" if x < 1000 else f"{x:.0f}"
    if kind == "small":
        return f"{x:.4f}" if abs(x) >= 1e-3 or x == 0 else f"{x:.2e}"  # by size, either sign
    if kind == "s":
        return f"{x:.{seconds_decimals(x)}f}"
    return f"{x:.4g}"


def seconds_decimals(x):
    """Decimals that show three significant digits of a time below 10 s (0.0123 s: 4) and
    tenths above, so sub-second parts keep their digits."""
    if x is None or not math.isfinite(x) or abs(x) >= 10:
        return 1
    if x == 0:
        return 3
    return max(1, 2 - math.floor(math.log10(abs(x))))


def cell(rows, key, kind):
    m, s, n = mean_std(rows, key)
    if n == 0:
        return "n/a"
    if kind == "s":  # the deviation at the mean's precision
        d = seconds_decimals(m)
        return f"{m:.{d}f}" + ("" if s is None else f" ± {s:.{d}f}")
    return number(m, kind) + ("" if s is None else " ± " + number(s, kind))


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out) + "\n"


# ---- protocol -----------------------------------------------------------------------------

def protocol_text(dense, a):
    w = dense["metrics"]["wikitext2_test"]
    c = dense["metrics"]["c4_heldout"]
    bos = dense.get("tokenizer_adds_bos")
    bos_text = {True: "the tokenizer adds BOS, so BOS is the first token of the text only",
                False: "the tokenizer adds no BOS, so none is inserted",
                None: "BOS only where the tokenizer adds one, at the start of the text"}[bos]
    return (f"Perplexity protocol (SparseGPT/Wanda window protocol): the text tokenized once "
            f"({bos_text}), cut into non-overlapping windows of L = {w['window']} tokens with no "
            f"BOS inserted per window; every position but the first of each window is scored "
            f"(L − 1 = {w['window'] - 1} per window). WikiText-2 test: rows joined with \"\\n\\n\", "
            f"first {w['windows']} windows ({w['tokens']} scored tokens). C4 held-out: "
            f"documents {a.c4_split}–999 of the staged C4 sample joined with \" \" "
            f"(the C4 protocol on the held-out documents), first {c['windows']} windows "
            f"({c['tokens']} scored tokens).{tinystories_protocol(dense)} In the dense table ± is "
            f"the standard error; in every other table ± is the standard deviation over seeds.")


def tinystories_protocol(dense):
    t = dense["metrics"].get("tinystories_heldout")
    if not t:
        return ""
    return (f" TinyStories held-out: the last 20 % of the staged TinyStories head (cut at a "
            f"paragraph end; calibration draws from the first 80 %), the file as it is, first "
            f"{t['windows']} windows ({t['tokens']} scored tokens).")


def protocol_short(dense):
    """One line naming the perplexity protocol, under every table."""
    w = dense["metrics"]["wikitext2_test"]
    c = dense["metrics"]["c4_heldout"]
    bos = {True: "BOS at the start of the text only", False: "no BOS",
           None: "BOS at the text start only where the tokenizer adds one"}[
        dense.get("tokenizer_adds_bos")]
    return (f"*Perplexity protocol: window protocol, L = {w['window']}, {bos}, none inserted per "
            f"window, L − 1 positions scored per window; WikiText-2 test {w['windows']} windows "
            f"({w['tokens']} tokens), C4 held-out {c['windows']} windows ({c['tokens']} tokens)"
            + (f", TinyStories held-out {t['windows']} windows ({t['tokens']} tokens)"
               if (t := dense["metrics"].get("tinystories_heldout")) else "") + ".*")


def divergence_text(dense, a, runs):
    d = next((flatten_raw(r) for r in runs if "divergence_text" in r["metrics"]), None)
    positions = ""
    if d:
        positions = (f" ({d['divergence_text']['positions']} positions over "
                     f"{d['divergence_text']['windows']} windows; Alpaca: "
                     f"{d['divergence_alpaca']['positions']} response tokens of "
                     f"{d['divergence_alpaca']['examples']} examples)")
    return (f"Divergence of the pruned model (Q) from the dense one (P), per position over the "
            f"vocabulary, teacher-forced on the same tokens{positions}: JS in nats (≤ ln 2), "
            f"KL(P‖Q) in nats, top-1 = fraction of positions where both predict the same token. "
            f"Text: the C4 held-out windows of the perplexity protocol above; Alpaca: held-out "
            f"examples {a.alpaca_split}+ of the staged Alpaca file, prompt \"{{instruction}} "
            f"{{input}}\", only the response tokens scored.")


def zero_shot_items_text(ev):
    """Which zero-shot items were scored, in words."""
    if ev.zero_shot_limit == 0:
        return "every item of each task"
    if ev.zero_shot_items == "random":
        return (f"a random {ev.zero_shot_limit} items of each task (seed {ev.zero_shot_seed}: "
                f"CPython's sorted(random.Random({ev.zero_shot_seed}).sample(range(n), "
                f"{ev.zero_shot_limit})))")
    return (f"the first {ev.zero_shot_limit} items of each task (not a random sample: e.g. "
            f"HellaSwag's first items all come from ActivityNet)")


def zero_shot_bos_text(ev, dense):
    """The BOS convention of the zero-shot scoring, with the harness versions that follow it."""
    z = dense["metrics"].get("zero_shot") or {}
    added = z.get("add_bos")
    if ev.zero_shot_bos == "no":
        return "no BOS (`--bos no`, as lm-evaluation-harness before v0.4.9.2)"
    if ev.zero_shot_bos == "yes":
        return "BOS first (`--bos yes`, the harness's add_bos_token=True)"
    what = {True: "BOS first", False: "no BOS"}.get(added, "BOS as the tokenizer adds it")
    return (f"{what} (the tokenizer's default, as lm-evaluation-harness v0.4.9.2 and later; "
            f"before v0.4.9.2 the harness added none)")


def flatten_raw(run):
    return run["metrics"]


# ---- the report ---------------------------------------------------------------------------

class evaluation_args:
    """The evaluation settings of the cached dense run, for the protocol text."""

    def __init__(self, dense):
        e = dense["settings"]["evaluation"]
        self.c4_split = e["c4_split"]
        self.alpaca_split = e["alpaca_split"]
        self.zero_shot_limit = e["zero_shot_limit"]
        # Runs made before the choice existed scored the first items with the tokenizer's BOS.
        self.zero_shot_items = e.get("zero_shot_items", "first")
        self.zero_shot_seed = e.get("zero_shot_seed")
        self.zero_shot_bos = e.get("zero_shot_bos", "tokenizer")
        self.task_examples = e["task_examples"]
        self.max_new_tokens = e["max_new_tokens"]


def write_report(results, dense, runs, grid_size, a, command, key, bootstrap=None):
    results = Path(results)
    ev = evaluation_args(dense)
    bootstrap = bootstrap if bootstrap is not None else getattr(a, "bootstrap", 2000)
    groups = groups_of(runs)
    dense_flat = flatten(dense)
    has_zero_shot = "zs_avg" in dense_flat
    has_tinystories = "ts_ppl" in dense_flat
    zs_tasks = [t["task"] for t in dense["metrics"]["zero_shot"]["tasks"]] if has_zero_shot else []
    methods = order_of({k[0] for k in groups}, METHOD_ORDER)
    sparsities = sorted({k[1] for k in groups}, key=sparsity_order)
    calibrations = order_of({k[2] for k in groups}, CALIBRATION_ORDER)
    keys = sorted(groups, key=lambda k: (METHOD_ORDER.index(k[0]), sparsity_order(k[1]),
                                         CALIBRATION_ORDER.index(k[2])))
    protocol_full = protocol_text(dense, ev)
    protocol = protocol_short(dense)
    model_name = dense["settings"]["model"]["file"]
    title = getattr(a, "title", "") or f"Calibration-data study: {model_name}"
    seeds = sorted({r["settings"]["seed"] for r in runs if r["settings"]["calibration"] != "none"})

    md = [f"# {title}\n"]
    md.append(f"Model: `{model_name}` ({dense['settings']['model']['bytes']} bytes). "
              f"{len(runs)} of {grid_size} grid runs done; "
              + (f"seeds {', '.join(map(str, seeds))}. " if seeds else
                 "no calibrated run, so no seeds (magnitude draws no calibration data). ") +
              f"Every number below was measured by the command:\n\n```sh\n{command}\n```\n")
    md.append(binaries_text(dense, runs) + "\n")
    if getattr(a, "note", ""):
        md.append(a.note + "\n")
    md.append("Each run prunes the dense model with `pollard prune` (every linear of every block, "
              "block by block, sequential calibration) and evaluates the result with `pollard "
              "eval`, `pollard compare` and `pollard tasks`; its JSON result is in `runs/`. "
              "Magnitude pruning uses no calibration data, so it has one run per sparsity. "
              "OWL allocates unstructured sparsity per block, so owl-wanda has no N:M runs. "
              "Calibration sources: C4 = documents 0–"
              f"{ev.c4_split - 1} of the staged C4 sample (one window from each of N random "
              "documents); WikiText-2 valid (the rows joined, N random windows); Alpaca = "
              f"examples 0–{ev.alpaca_split - 1} in the Alpaca template, packed; TinyStories "
              "(the first 80 % of the staged train head); self-generated = the model's own continuations of the first 2 "
              "tokens of C4 calibration documents (temperature 0.6, top-k 50, top-p 0.95, "
              "repetition penalty 1.2; the 20 % with the highest perplexity dropped); mixture = "
              f"`{getattr(a, 'mixture', '')}`.\n")

    # dense
    md.append("## Dense model\n")
    md.append(protocol_full + "\n")
    dense_rows = [["WikiText-2 test perplexity", f"{number(dense_flat['wt2_ppl'], 'ppl')} ± "
                   f"{number(dense_flat['wt2_se'], 'ppl')} (SE)"],
                  ["C4 held-out perplexity", f"{number(dense_flat['c4_ppl'], 'ppl')} ± "
                   f"{number(dense_flat['c4_se'], 'ppl')} (SE)"]]
    if has_tinystories:
        dense_rows.append(["TinyStories held-out perplexity",
                           f"{number(dense_flat['ts_ppl'], 'ppl')} ± "
                           f"{number(dense_flat['ts_se'], 'ppl')} (SE)"])
    at = dense["metrics"]["alpaca_tasks"]
    for name, k in (("Alpaca exact match (%)", "exact_match"), ("Alpaca token F1 (%)", "token_f1"),
                    ("Alpaca ROUGE-1 F (%)", "rouge1")):
        dense_rows.append([name, f"{number(at[k]['mean'], 'pct')} ± "
                                 f"{number(at[k]['standard_error'], 'pct')}"
                                 f" (SE, {at['examples']} examples)"])
    if has_zero_shot:
        for t in dense["metrics"]["zero_shot"]["tasks"]:
            metric = "acc_norm" if t["reports_acc_norm"] else "acc"
            dense_rows.append([f"{TASK_NAMES.get(t['task'], t['task'])} {metric} (%)",
                               f"{number(t[metric]['mean'], 'pct')} ± "
                               f"{number(t[metric]['standard_error'], 'pct')} (SE, "
                               f"{t['items']} items; acc {number(t['acc']['mean'], 'pct')}, "
                               f"acc_norm {number(t['acc_norm']['mean'], 'pct')})"])
        dense_rows.append(["zero-shot average (%)",
                           number(dense['metrics']['zero_shot']['average_reported'], 'pct')])
    md.append(table(["metric", "dense"], dense_rows))

    # perplexity + divergence
    md.append("## Perplexity and divergence from the dense model\n")
    md.append(protocol + " " + divergence_text(dense, ev, runs) + "\n")
    ts_header = ["TinyStories ppl"] if has_tinystories else []
    header = (["method", "sparsity", "calibration", "seeds", "WikiText-2 ppl", "C4 ppl"] +
              ts_header + ["JS text", "KL text", "top-1 text (%)", "JS Alpaca", "KL Alpaca",
                           "top-1 Alpaca (%)"])
    rows = []
    for k in keys:
        g = groups[k]
        rows.append([k[0], sparsity_label(k[1]), CALIBRATION_NAMES.get(k[2], k[2]), str(len(g)),
                     cell(g, "wt2_ppl", "ppl"), cell(g, "c4_ppl", "ppl")] +
                    ([cell(g, "ts_ppl", "ppl")] if has_tinystories else []) +
                    [cell(g, "js_text", "small"), cell(g, "kl_text", "small"),
                     cell(g, "top1_text", "pct"), cell(g, "js_alpaca", "small"),
                     cell(g, "kl_alpaca", "small"), cell(g, "top1_alpaca", "pct")])
    dense_row = (["dense", "0 %", "—", "—", number(dense_flat["wt2_ppl"], "ppl"),
                  number(dense_flat["c4_ppl"], "ppl")] +
                 ([number(dense_flat["ts_ppl"], "ppl")] if has_tinystories else []) +
                 ["0", "0", "100", "0", "0", "100"])
    md.append(table(header, [dense_row] + rows))

    # tasks
    md.append("## Task accuracy\n")
    md.append(protocol + " Zero-shot: the log-likelihood protocol of lm-evaluation-harness "
              "(`pollard tasks --suite`), the metric the harness reports per task (acc_norm for "
              "ARC, PIQA, HellaSwag; acc for WinoGrande, BoolQ), "
              f"{zero_shot_items_text(ev)}, {zero_shot_bos_text(ev, dense)}, in %. "
              "Alpaca: held-out examples "
              f"answered greedily (at most {ev.max_new_tokens} new tokens), first "
              f"{ev.task_examples}, exact match / token F1 / ROUGE-1 F in %.\n")
    header = ["method", "sparsity", "calibration", "seeds"]
    header += [TASK_NAMES.get(t, t) for t in zs_tasks] + (["zero-shot avg"] if has_zero_shot
                                                          else [])
    header += ["Alpaca EM", "Alpaca F1", "Alpaca ROUGE-1"]
    dense_row = ["dense", "0 %", "—", "—"] + [number(dense_flat.get(f"zs_{t}"), "pct")
                                              for t in zs_tasks]
    dense_row += ([number(dense_flat["zs_avg"], "pct")] if has_zero_shot else [])
    dense_row += [number(dense_flat[k], "pct") for k in ("em", "f1", "rouge1")]
    rows = []
    for k in keys:
        g = groups[k]
        r = [k[0], sparsity_label(k[1]), CALIBRATION_NAMES.get(k[2], k[2]), str(len(g))]
        r += [cell(g, f"zs_{t}", "pct") for t in zs_tasks]
        r += [cell(g, "zs_avg", "pct")] if has_zero_shot else []
        r += [cell(g, x, "pct") for x in ("em", "f1", "rouge1")]
        rows.append(r)
    md.append(table(header, [dense_row] + rows))

    # time
    md.append("## Cost per run\n")
    md.append("Wall time in seconds, mean ± standard deviation over the runs of each method and "
              "calibration source (all sparsities and seeds). Calibration data + I/O: the prune "
              "command outside the block-by-block pruning (reading the model, drawing or "
              "generating the calibration sequences, writing the pruned file); calibration "
              "forward: the calibration sequences run through the blocks; statistics: moment and "
              "Hessian accumulation; pruning: scores, masks and weight updates (the prune "
              "report's timings); evaluation: every eval/compare/tasks command of the run. "
              + protocol + "\n")
    by_cost = defaultdict(list)
    for k, g in groups.items():
        by_cost[(k[0], k[2])] += g
    rows = []
    for (m, c) in sorted(by_cost, key=lambda x: (METHOD_ORDER.index(x[0]),
                                                 CALIBRATION_ORDER.index(x[1]))):
        g = by_cost[(m, c)]
        rows.append([m, CALIBRATION_NAMES.get(c, c), str(len(g))] +
                    [cell(g, f"t_{x}", "s") for x in ("calibration_data_and_io",
                                                      "calibration_forward", "statistics",
                                                      "pruning", "evaluation", "total")])
    md.append(table(["method", "calibration", "runs", "calibration data + I/O",
                     "calibration forward", "statistics", "pruning", "evaluation", "total"], rows))
    md.append(f"Dense evaluation: {dense['seconds']['evaluation']:.1f} s.\n")

    # findings
    findings = findings_statistics(groups, dense_flat, runs, bootstrap, has_zero_shot, protocol,
                                   methods, sparsities, calibrations)
    md.append(findings)

    # plots
    plots = write_plots(results, groups, dense_flat, methods, sparsities, calibrations,
                        has_zero_shot)
    if plots:
        md.append("## Plots\n")
        md.append(protocol + "\n")
        for name, caption in plots:
            md.append(f"![{caption}]({name})\n\n{caption}\n")
    tmp = results / "report.md.tmp"  # whole or not at all: an interrupted report keeps the old
    tmp.write_text("\n".join(md), encoding="utf-8")
    tmp.replace(results / "report.md")


# ---- findings -----------------------------------------------------------------------------

def cell_means(groups, key):
    """{(method, sparsity, calibration): mean over seeds} of a metric."""
    out = {}
    for k, g in groups.items():
        m, _, n = mean_std(g, key)
        if n:
            out[k] = m
    return out


def findings_statistics(groups, dense_flat, runs, bootstrap, has_zero_shot, protocol, methods,
                        sparsities, calibrations):
    md = ["## Findings statistics\n", protocol + "\n"]
    sources = [c for c in calibrations if c != "none"]
    calibrated = [m for m in methods if m != "magnitude"]
    acc_key = "zs_avg" if has_zero_shot else None
    metrics = [("WikiText-2 ppl", "wt2_ppl", "ppl", False), ("C4 ppl", "c4_ppl", "ppl", False),
               ("JS text", "js_text", "small", False), ("Alpaca F1 (%)", "f1", "pct", True)]
    if acc_key:
        metrics.insert(0, ("zero-shot avg (%)", acc_key, "pct", True))
    if "ts_ppl" in dense_flat:
        metrics.insert(metrics.index(("C4 ppl", "c4_ppl", "ppl", False)) + 1,
                       ("TinyStories ppl", "ts_ppl", "ppl", False))

    # 1. calibration spread against sparsity
    if len(sources) > 1:
        md.append("### Calibration-source spread against sparsity\n")
        md.append(protocol + "\n")
        md.append("For each method and sparsity: the range (max − min) over calibration sources "
                  "of the seed-mean of each metric; for perplexity the ratio max / min. A "
                  "calibration effect that grows with sparsity shows as a range that grows "
                  "down each method's rows.\n")
        header = ["method", "sparsity"] + [f"{n} range" for n, _, _, _ in metrics]
        rows = []
        for m in calibrated:
            for s in sparsities:
                r = [m, sparsity_label(s)]
                any_value = False
                for _, key, kind, _ in metrics:
                    v = [groups_mean(groups, (m, s, c), key) for c in sources]
                    v = [x for x in v if x is not None]
                    if len(v) < 2:
                        r.append("n/a")
                        continue
                    any_value = True
                    r.append(f"×{max(v) / min(v):.3f}" if kind == "ppl"
                             else number(max(v) - min(v), kind))
                if any_value:
                    rows.append(r)
        md.append(table(header, rows))

        growth = spread_growth_table(groups, calibrated, sparsities, sources, metrics, bootstrap)
        if growth:
            md.append("### Growth of the calibration spread with sparsity\n")
            md.append(protocol + "\n")
            md.append("For each method: the calibration-source range of the table above at the "
                      "lowest and the highest unstructured sparsity of the grid, and its growth "
                      "(high − low; for perplexity the difference of the max / min ratios), with "
                      f"a 95 % percentile bootstrap interval ({bootstrap} resamples, seed 0) that "
                      "draws each source's seeds with replacement and keeps a seed's runs at the "
                      "two sparsities together (they share its calibration data). An interval "
                      "above 0 means the calibration effect grows with sparsity beyond the seed "
                      f"noise; with {seeds_text(groups)} per source the interval is coarse.\n")
            md.append(growth)

        # 2. which source is best
        md.append("### Calibration sources ranked\n")
        md.append(protocol + "\n")
        md.append("Mean rank of each calibration source (1 = best) over the (method, sparsity) "
                  "cells where every source ran, by the seed-mean of each metric (tied sources "
                  "share their average rank); the count of cells where it was best (or tied for "
                  "best) is in parentheses.\n")
        header = ["calibration"] + [n for n, _, _, _ in metrics]
        ranks = {c: [] for c in sources}
        for _, key, _, higher in metrics:
            per = {c: [] for c in sources}
            best = {c: 0 for c in sources}
            for m in calibrated:
                for s in sparsities:
                    v = {c: groups_mean(groups, (m, s, c), key) for c in sources}
                    if any(x is None for x in v.values()):
                        continue
                    # Tied sources share their average rank, and a tie for the best counts
                    # for each of them: the order the sources are listed in decides nothing.
                    worse = [-v[c] if higher else v[c] for c in sources]
                    for c, rank in zip(sources, stats.average_ranks(worse)):
                        per[c].append(float(rank))
                    for c in sources:
                        best[c] += (-v[c] if higher else v[c]) == min(worse)
            for c in sources:
                ranks[c].append(f"{np.mean(per[c]):.2f} ({best[c]})" if per[c] else "n/a")
        md.append(table(header, [[CALIBRATION_NAMES.get(c, c)] + ranks[c] for c in sources]))

        # 3. self-generated against the best
        if "selfgen" in sources:
            md.append("### Self-generated data against the best source\n")
            md.append(protocol + "\n")
            md.append("Per (method, sparsity) cell: the self-generated seed-mean minus the best "
                      "other source's (a negative accuracy gap or a positive perplexity gap means "
                      "self-generated is worse), and the full range over sources for scale.\n")
            header = ["method", "sparsity"]
            for n, _, _, _ in metrics:
                header += [f"{n}: self-gen − best other", "range"]
            rows = []
            for m in calibrated:
                for s in sparsities:
                    r = [m, sparsity_label(s)]
                    ok = False
                    for _, key, kind, higher in metrics:
                        sg = groups_mean(groups, (m, s, "selfgen"), key)
                        others = [groups_mean(groups, (m, s, c), key) for c in sources
                                  if c != "selfgen"]
                        others = [x for x in others if x is not None]
                        if sg is None or not others:
                            r += ["n/a", "n/a"]
                            continue
                        ok = True
                        best = max(others) if higher else min(others)
                        allv = others + [sg]
                        r += [number(sg - best, kind) if kind != "ppl" else f"{sg - best:+.2f}",
                              number(max(allv) - min(allv), kind)]
                    if ok:
                        rows.append(r)
            md.append(table(header, rows))

        # 4. task calibration helps the task
        if "alpaca" in sources:
            md.append("### Alpaca calibration on the Alpaca task\n")
            md.append(protocol + "\n")
            md.append("Paired over (method, sparsity, seed): Alpaca-calibrated run minus the mean "
                      "of the other sources' runs with the same method, sparsity and seed. Mean ± "
                      "standard deviation over the pairs, and the fractions of pairs where Alpaca "
                      "calibration is better, exactly tied (e.g. exact match 0 on both sides) "
                      "and worse.\n")
            by_seed = defaultdict(dict)
            for r in runs:
                s = r["settings"]
                if s["calibration"] != "none":
                    by_seed[(s["method"], s["sparsity"], s["seed"])][s["calibration"]] = flatten(r)
            rows = []
            for name, key, kind, higher in (("Alpaca F1 (%)", "f1", "pct", True),
                                            ("Alpaca ROUGE-1 (%)", "rouge1", "pct", True),
                                            ("Alpaca EM (%)", "em", "pct", True),
                                            ("JS Alpaca responses", "js_alpaca", "small", False),
                                            ("top-1 Alpaca (%)", "top1_alpaca", "pct", True),
                                            ("JS text", "js_text", "small", False)) + (
                    (("zero-shot avg (%)", "zs_avg", "pct", True),) if has_zero_shot else ()):
                d = []
                for cell_runs in by_seed.values():
                    if "alpaca" not in cell_runs or key not in cell_runs["alpaca"]:
                        continue
                    others = [v[key] for c, v in cell_runs.items() if c != "alpaca" and key in v]
                    if others:
                        d.append(cell_runs["alpaca"][key] - float(np.mean(others)))
                if not d:
                    continue
                d = np.asarray(d)
                sd = d.std(ddof=1) if len(d) > 1 else float("nan")
                rows.append([name, str(len(d)), number(float(d.mean()), kind) + " ± " +
                             number(float(sd), kind), better_tied_worse(d, higher)])
            md.append(table(["metric", "pairs", "Alpaca − others",
                             "Alpaca better / tied / worse"], rows))

    # 5. rank correlations
    md.append("### Divergence and perplexity against task damage\n")
    md.append(protocol + "\n")
    md.append("Across pruned runs (every seed a point): Spearman ρ and Kendall τ-b of each "
              "metric against the drop in task score from the dense model (dense − pruned, so a "
              f"positive correlation means the metric rises with the damage); 95 % percentile "
              f"bootstrap intervals over runs ({bootstrap} resamples, seed 0). The last rows give "
              f"the paired bootstrap of ρ(JS) − ρ(perplexity): an interval above 0 means JS "
              f"tracks the damage better.\n")
    flat = [flatten(r) for r in runs]
    damages = [("Alpaca F1 drop", "f1"), ("Alpaca ROUGE-1 drop", "rouge1")]
    if has_zero_shot:
        damages.insert(0, ("zero-shot avg drop", "zs_avg"))
    predictors = [("JS text", "js_text"), ("JS Alpaca", "js_alpaca"), ("KL text", "kl_text"),
                  ("1 − top-1 text", "top1_text"), ("WikiText-2 ppl", "wt2_ppl"),
                  ("C4 ppl", "c4_ppl")]
    rows = []
    comparisons = []
    for dname, dkey in damages:
        for pname, pkey in predictors:
            pts = [(f[pkey] if pkey != "top1_text" else 1 - f[pkey], dense_flat[dkey] - f[dkey])
                   for f in flat if pkey in f and dkey in f]
            if len(pts) < 3:
                continue
            x, y = np.array([p[0] for p in pts]), np.array([p[1] for p in pts])
            r = stats.correlations_with_intervals(x, y, bootstrap, seed=0)
            rows.append([dname, pname, str(len(x)), fmt_ci(r["spearman"]), fmt_ci(r["kendall"])])
        for jname, jkey in (("JS text", "js_text"), ("JS Alpaca", "js_alpaca")):
            for pname, pkey in (("WikiText-2 ppl", "wt2_ppl"), ("C4 ppl", "c4_ppl")):
                pts = [(f[jkey], f[pkey], dense_flat[dkey] - f[dkey]) for f in flat
                       if jkey in f and pkey in f and dkey in f]
                if len(pts) < 3:
                    continue
                a = np.array(pts)
                d = stats.paired_difference(a[:, 0], a[:, 1], a[:, 2], bootstrap, seed=0)
                comparisons.append([dname, f"ρ({jname}) − ρ({pname})", str(len(a)),
                                    fmt_ci(d["spearman"]), fmt_ci(d["kendall"])])
    md.append(table(["damage", "metric", "runs", "Spearman ρ [95 % CI]",
                     "Kendall τ [95 % CI]"], rows + comparisons))
    return "\n".join(md)


def spread_growth_table(groups, methods, sparsities, sources, metrics, bootstrap):
    """The growth table of the calibration spread from the lowest to the highest unstructured
    sparsity ('' when the grid has fewer than two unstructured sparsities)."""
    unstructured = sorted((s for s in sparsities if ":" not in s), key=float)
    if len(unstructured) < 2:
        return ""
    low, high = unstructured[0], unstructured[-1]
    rows = []
    for m in methods:
        for name, key, kind, _ in metrics:
            per = {}
            for c in sources:
                by_seed = [{r["seed"]: r.get(key) for r in groups.get((m, s, c), [])}
                           for s in (low, high)]
                seeds = sorted(k for k in by_seed[0] if k in by_seed[1]
                               and by_seed[0][k] is not None and by_seed[1][k] is not None)
                if seeds:
                    per[c] = ([by_seed[0][k] for k in seeds], [by_seed[1][k] for k in seeds])
            if len(per) < 2:
                continue
            scale = 100.0 if kind == "pct" else 1.0
            ratio = kind == "ppl"
            lows = {c: [v * scale for v in a] for c, (a, _) in per.items()}
            highs = {c: [v * scale for v in b] for c, (_, b) in per.items()}
            g, lo, hi = stats.spread_growth(lows, highs, ratio, bootstrap, seed=0)

            def spread(values):
                return stats.spread([float(np.mean(v)) for v in values.values()], ratio)

            shown = (lambda x: f"×{x:.3f}") if ratio else (lambda x: number(x / scale, kind))
            signed = (lambda x: f"{x:+.1f}") if kind == "pct" else (lambda x: f"{x:+.3g}")
            interval = "n/a" if lo is None else f"[{signed(lo)}, {signed(hi)}]"
            rows.append([m, name, shown(spread(lows)), shown(spread(highs)), signed(g), interval])
    if not rows:
        return ""
    header = ["method", "metric", f"range at {sparsity_label(low)}",
              f"range at {sparsity_label(high)}", "growth", "95 % CI"]
    return table(header, rows)


def binaries_text(dense, runs):
    """Which pollard binaries made the dense evaluation and the runs (a study continued with
    --accept-other-pollard mixes them), by version and sha256, with their counts."""
    made = {}
    for r in [dense] + list(runs):
        p = r.get("pollard") or {}
        name = (f"`{p['version']}` (sha256 {p['sha256'][:16]}…)" if "sha256" in p
                else "a pollard the run did not record")
        made.setdefault(name, [0, False])
        if r is dense:
            made[name][1] = True
        else:
            made[name][0] += 1

    def what(runs_made, made_dense):
        parts = [f"{runs_made} run{'' if runs_made == 1 else 's'}"] if runs_made else []
        return " and ".join(parts + (["the dense evaluation"] if made_dense else []))

    if len(made) == 1:
        return f"Made by {next(iter(made))}: every run and the dense evaluation."
    return ("The runs do not all record the same pollard binary (a study continued with "
            "--accept-other-pollard, or runs older than the record): "
            + "; ".join(f"{name}: {what(*counts)}" for name, counts in made.items()) + ".")


def seeds_text(groups):
    """The seeds per calibrated cell, in words ('3 seeds', '2-3 seeds')."""
    counts = sorted({len({r.get("seed") for r in g}) for k, g in groups.items() if k[2] != "none"})
    if not counts:
        return "no seeds"
    n = str(counts[0]) if len(counts) == 1 else f"{counts[0]}–{counts[-1]}"
    return f"{n} seed{'' if counts == [1] else 's'}"


def better_tied_worse(differences, higher):
    """The fractions of pairs where Alpaca calibration is better, exactly tied and worse
    (differences are Alpaca minus the others; `higher`: a larger metric is better)."""
    d = np.asarray(differences, dtype=float)
    better = np.mean(d > 0) if higher else np.mean(d < 0)
    tied = np.mean(d == 0)
    return f"{100 * better:.0f} % / {100 * tied:.0f} % / {100 * (1 - better - tied):.0f} %"


def groups_mean(groups, k, key):
    if k not in groups:
        return None
    m, _, n = mean_std(groups[k], key)
    return m if n else None


def fmt_ci(r):
    v, lo, hi = r
    if v is None or not math.isfinite(v):
        return "n/a"
    if lo is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return f"{v:+.3f}"
    return f"{v:+.3f} [{lo:+.3f}, {hi:+.3f}]"


# ---- plots ----------------------------------------------------------------------------------

# The standard error of each plotted metric in a run's flattened numbers.
STANDARD_ERROR_OF = {"wt2_ppl": "wt2_se", "c4_ppl": "c4_se", "ts_ppl": "ts_se",
                     "js_text": "js_text_se", "js_alpaca": "js_alpaca_se", "zs_avg": "zs_avg_se",
                     "f1": "f1_se"}
PATTERN_MARKERS = {"2:4": "^", "4:8": "s"}
# N:M patterns are drawn at their sparsity (50 % for 2:4 and 4:8), nudged apart from each other
# and from the unstructured point there, never after the higher unstructured sparsities.
PATTERN_NUDGE = {"2:4": -1.0, "4:8": 1.0}


def plot_x(s):
    """The x position of a sparsity in %: the fraction pruned; an N:M pattern nudged."""
    return 100 * sparsity_value(s) + (PATTERN_NUDGE.get(s, 1.5) if ":" in s else 0.0)


def sparsity_value(s):
    if ":" in s:
        n, m = s.split(":")
        return int(n) / int(m)
    return float(s)


def plot_point(rows, key, scale=1.0):
    """(value, error) of one plotted point from the flattened runs it averages: the mean over
    seeds of each seed's mean over its runs, and its standard error over seeds (standard
    deviation / sqrt(seeds)); with a single seed, the runs' own standard error of their mean
    (sqrt(sum SE^2) / runs). Both scaled by `scale` (100 for %)."""
    by_seed = defaultdict(list)
    for r in rows:
        if r.get(key) is not None:
            by_seed[r.get("seed")].append(r)
    if not by_seed:
        return float("nan"), float("nan")
    per_seed = [float(np.mean([r[key] for r in rs])) for rs in by_seed.values()]
    value = float(np.mean(per_seed))
    if len(per_seed) > 1:
        error = float(np.std(per_seed, ddof=1)) / math.sqrt(len(per_seed))
    else:
        rs = next(iter(by_seed.values()))
        errors = [r.get(STANDARD_ERROR_OF.get(key, ""), None) for r in rs]
        error = (math.sqrt(sum(e * e for e in errors)) / len(rs)
                 if errors and None not in errors else float("nan"))
    return value * scale, error * scale


def plot_series(groups, selector, key, sparsities, scale=1.0):
    """[(sparsity, x, value, error)] of the groups `selector` keeps, one per sparsity."""
    out = []
    for s in sparsities:
        rows = [r for k, g in groups.items() if k[1] == s and selector(k) for r in g]
        value, error = plot_point(rows, key, scale)
        out.append((s, plot_x(s), value, error))
    return out


def spread_series(groups, method, key, sparsities, sources, ratio, scale, resamples=200):
    """[(sparsity, x, range, error)] for one method: the range (max / min when `ratio`, else
    max − min) over sources of the seed means, with a bootstrap standard error over seeds
    (each source's seeds resampled with replacement, `resamples` times, numpy seed 0)."""
    rng = np.random.default_rng(0)
    out = []

    def spread(values):
        return stats.spread(values, ratio)

    for s in sparsities:
        per_source = []
        for c in sources:
            g = [r[key] for r in groups.get((method, s, c), []) if r.get(key) is not None]
            if g:
                per_source.append(np.asarray(g, dtype=float) * scale)
        if len(per_source) < 2:
            out.append((s, plot_x(s), float("nan"), float("nan")))
            continue
        value = spread([float(v.mean()) for v in per_source])
        boot = [spread([float(rng.choice(v, len(v)).mean()) for v in per_source])
                for _ in range(resamples)]
        error = float(np.std(boot, ddof=1)) if all(len(v) > 1 for v in per_source) else float(
            "nan")
        out.append((s, plot_x(s), value, error))
    return out


def draw_series(ax, series, color, label):
    """Unstructured sparsities as one line, each N:M pattern as an open marker of its own."""
    line = [(x, y, e) for s, x, y, e in series if ":" not in s and math.isfinite(y)]
    if line:
        ax.errorbar([p[0] for p in line], [p[1] for p in line],
                    yerr=[0 if not math.isfinite(p[2]) else p[2] for p in line], marker="o",
                    color=color, label=label, capsize=3, linewidth=1.2, markersize=4)
    for s, x, y, e in series:
        if ":" in s and math.isfinite(y):
            ax.errorbar([x], [y], yerr=[e if math.isfinite(e) else 0], color=color,
                        marker=PATTERN_MARKERS.get(s, "D"), markerfacecolor="none",
                        linestyle="none", capsize=3, markersize=6,
                        label=None if line else label)


def sparsity_axis(ax, sparsities):
    import matplotlib.lines as mlines

    ticks = sorted({100 * sparsity_value(s) for s in sparsities})
    if ticks:
        ax.set_xticks(ticks, [f"{t:.0f} %" for t in ticks])
        ax.set_xlim(min(ticks) - 4, max(ticks) + 4)
    ax.set_xlabel("sparsity (open markers: N:M patterns, at their sparsity)")
    ax.grid(alpha=0.3)
    handles, _ = ax.get_legend_handles_labels()
    for s in sparsities:
        if ":" in s:
            handles.append(mlines.Line2D([], [], color="gray", marker=PATTERN_MARKERS.get(s, "D"),
                                         markerfacecolor="none", linestyle="none",
                                         label=f"{s} ({100 * sparsity_value(s):.0f} %)"))
    ax.legend(handles=handles, fontsize=7)


def write_plots(results, groups, dense_flat, methods, sparsities, calibrations, has_zero_shot):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    sources = [c for c in calibrations if c != "none"]
    out = []
    errors = ("Error bars: the standard error over seeds of each point (standard deviation of "
              "the per-seed values / √seeds); where a point has one seed (magnitude), the "
              "run's own standard error; the grey band is the dense model's standard error.")

    panels = [("wt2_ppl", "WikiText-2 test perplexity", True, 1.0, "ppl_vs_sparsity.png"),
              ("js_text", "JS divergence from dense, C4 held-out (nats)", True, 1.0,
               "js_vs_sparsity.png")]
    if has_zero_shot:
        panels.append(("zs_avg", "zero-shot average accuracy (%)", False, 100.0,
                       "accuracy_vs_sparsity.png"))
    panels.append(("f1", "Alpaca token F1 (%)", False, 100.0, "alpaca_f1_vs_sparsity.png"))
    for key, ylabel, log, scale, name in panels:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), sharey=True)
        for i, m in enumerate(methods):
            draw_series(axes[0], plot_series(groups, lambda k, m=m: k[0] == m, key, sparsities,
                                             scale), f"C{i}", m)
        for i, c in enumerate(sources):
            draw_series(axes[1], plot_series(groups, lambda k, c=c: k[2] == c
                                             and k[0] != "magnitude", key, sparsities, scale),
                        f"C{i}", CALIBRATION_NAMES.get(c, c))
        for ax, t in ((axes[0], "per method (mean over calibration sources and seeds)"),
                      (axes[1], "per calibration source (mean over calibrated methods, seeds)")):
            if key in dense_flat:
                d = dense_flat[key] * scale
                ax.axhline(d, color="black", linestyle="--", linewidth=1, label="dense")
                se = dense_flat.get(STANDARD_ERROR_OF.get(key, ""))
                if se:
                    ax.axhspan(d - se * scale, d + se * scale, color="gray", alpha=0.15)
            ax.set_title(t, fontsize=9)
            if log:
                ax.set_yscale("log")
            sparsity_axis(ax, sparsities)
        axes[0].set_ylabel(ylabel)
        fig.tight_layout()
        fig.savefig(results / name, dpi=110)
        plt.close(fig)
        out.append((name, f"{ylabel} against sparsity: left one line per method, right one "
                          f"line per calibration source. {errors}"))

    calibrated = [m for m in methods if m != "magnitude"]
    if len(sources) > 1 and calibrated:
        spread_keys = [("wt2_ppl", "WikiText-2 ppl: max / min over sources", True, 1.0)]
        if has_zero_shot:
            spread_keys.insert(0, ("zs_avg", "zero-shot avg accuracy: max − min over sources "
                                             "(points)", False, 100.0))
        spread_keys.append(("f1", "Alpaca F1: max − min over sources (points)", False, 100.0))
        fig, axes = plt.subplots(1, len(spread_keys), figsize=(5 * len(spread_keys), 4.2))
        axes = np.atleast_1d(axes)
        for ax, (key, title, ratio, scale) in zip(axes, spread_keys):
            for i, m in enumerate(methods):
                if m == "magnitude":
                    continue
                draw_series(ax, spread_series(groups, m, key, sparsities, sources, ratio, scale),
                            f"C{i}", m)
            ax.set_title(title, fontsize=9)
            sparsity_axis(ax, sparsities)
        fig.tight_layout()
        fig.savefig(results / "calibration_spread.png", dpi=110)
        plt.close(fig)
        out.append(("calibration_spread.png", "Calibration-source spread against sparsity, one "
                                              "line per method; error bars: bootstrap standard "
                                              "error over seeds (each source's seeds resampled, "
                                              "200 times)."))

    # damage scatter
    flat = [r for g in groups.values() for r in g]
    dkey, dname, dscale = (("zs_avg", "zero-shot avg accuracy drop (points)", 100.0)
                           if has_zero_shot else ("f1", "Alpaca F1 drop (points)", 100.0))
    pts = [(r["js_text"], r["wt2_ppl"], (dense_flat[dkey] - r[dkey]) * dscale) for r in flat
           if "js_text" in r and dkey in r]
    if pts:
        a = np.array(pts)
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        axes[0].scatter(a[:, 0], a[:, 2], s=12)
        axes[0].set_xlabel("JS divergence, C4 held-out (nats)")
        axes[1].scatter(a[:, 1], a[:, 2], s=12)
        axes[1].set_xlabel("WikiText-2 perplexity")
        for ax in axes:
            ax.set_xscale("log")
            ax.set_ylabel(dname)
            ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(results / "damage_scatter.png", dpi=110)
        plt.close(fig)
        out.append(("damage_scatter.png", f"{dname} of every pruned run against its JS "
                                          f"divergence (left) and perplexity (right)."))
    return out
