"""Rank correlations (Spearman ρ, Kendall τ-b) with percentile bootstrap confidence intervals, in
numpy alone (the test suite checks them against scipy.stats where scipy is installed)."""

import numpy as np


def average_ranks(x):
    """Ranks 1..n with ties given their average rank (scipy.stats.rankdata's 'average')."""
    x = np.asarray(x, dtype=float)
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    ranks = np.empty(len(x), dtype=float)
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and sorted_x[j + 1] == sorted_x[i]:
            j += 1
        ranks[order[i:j + 1]] = 0.5 * (i + j) + 1.0
        i = j + 1
    return ranks


def spearman(x, y):
    """Pearson correlation of the average ranks; nan when either side is constant."""
    rx, ry = average_ranks(x), average_ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    d = np.sqrt((rx * rx).sum() * (ry * ry).sum())
    return float((rx * ry).sum() / d) if d > 0 else float("nan")


def kendall(x, y):
    """Kendall's τ-b: (concordant − discordant) / sqrt((n0 − n1)(n0 − n2)); nan when either side
    is constant."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    i, j = np.triu_indices(len(x), k=1)
    sx, sy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
    s = (sx * sy).sum()
    tx, ty = (sx != 0).sum(), (sy != 0).sum()
    d = np.sqrt(float(tx) * float(ty))
    return float(s / d) if d > 0 else float("nan")


def _bootstrap(n, resamples, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, n, size=(resamples, n))


def _interval(values):
    v = np.asarray([x for x in values if np.isfinite(x)])
    if len(v) == 0:
        return None, None
    lo, hi = np.percentile(v, [2.5, 97.5])
    return float(lo), float(hi)


def correlations_with_intervals(x, y, resamples=2000, seed=0):
    """{'spearman': (ρ, lo, hi), 'kendall': (τ, lo, hi)}: 95 % percentile bootstrap over the
    pairs (resamples with a constant side are left out)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    out = {}
    idx = _bootstrap(len(x), resamples, seed) if resamples > 0 else []
    for name, f in (("spearman", spearman), ("kendall", kendall)):
        lo, hi = _interval([f(x[k], y[k]) for k in idx]) if len(idx) else (None, None)
        out[name] = (f(x, y), lo, hi)
    return out


def paired_difference(a, b, y, resamples=2000, seed=0):
    """The correlation of a with y minus that of b with y, with a paired bootstrap interval (the
    same resampled runs for both): {'spearman': (d, lo, hi), 'kendall': (d, lo, hi)}."""
    a, b, y = (np.asarray(v, dtype=float) for v in (a, b, y))
    out = {}
    idx = _bootstrap(len(y), resamples, seed) if resamples > 0 else []
    for name, f in (("spearman", spearman), ("kendall", kendall)):
        lo, hi = _interval([f(a[k], y[k]) - f(b[k], y[k]) for k in idx]) if len(idx) else (
            None, None)
        out[name] = (f(a, y) - f(b, y), lo, hi)
    return out


def spread(means, ratio):
    """The spread of calibration sources' means: max / min when `ratio`, else max − min."""
    return max(means) / min(means) if ratio else max(means) - min(means)


def spread_growth(low, high, ratio, resamples=2000, seed=0):
    """How much the spread over calibration sources grows from one sparsity to another.

    `low` and `high` map each source to its per-seed values at the two sparsities, in the same
    seed order (a seed draws the same calibration data at both, so the pair is resampled
    together). The spread of a sparsity is max / min of the sources' seed means when `ratio`,
    else max − min; the growth is spread(high) − spread(low). Returns (growth, lo, hi): a 95 %
    percentile bootstrap over seeds, each source's seeds drawn with replacement on their own
    (lo and hi are None when no source has two seeds)."""
    sources = sorted(set(low) & set(high))
    pairs = {c: (np.asarray(low[c], dtype=float), np.asarray(high[c], dtype=float))
             for c in sources}
    for c, (a, b) in pairs.items():
        if len(a) != len(b) or len(a) == 0:
            raise ValueError(f"source {c}: {len(a)} values at the low sparsity, {len(b)} at the "
                             "high one; each seed needs both")

    def growth(draws):
        return (spread([pairs[c][1][draws[c]].mean() for c in sources], ratio)
                - spread([pairs[c][0][draws[c]].mean() for c in sources], ratio))

    value = float(growth({c: np.arange(len(pairs[c][0])) for c in sources}))
    if resamples <= 0 or all(len(pairs[c][0]) < 2 for c in sources):
        return value, None, None
    rng = np.random.default_rng(seed)
    boot = [growth({c: rng.integers(0, len(pairs[c][0]), len(pairs[c][0])) for c in sources})
            for _ in range(resamples)]
    lo, hi = _interval(boot)
    return value, lo, hi
