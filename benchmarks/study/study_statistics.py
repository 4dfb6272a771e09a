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
