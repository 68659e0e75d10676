"""Paired intervals for differences between runs evaluated on the same test images, with training and sampling
replicates.

Every metric record of a config is computed on the same test images, and its bootstrap resample b holds the same
images in every record (``metrics.bootstrap_indices``), so the value of any metric on resample b can be combined
across runs: the image-to-image spread that a per-run interval carries cancels in a difference. A *contrast* is a
weighted sum of (run, steps) cells of one metric, e.g. {A: +1, B: -1} for "A minus B".

Its variance has two parts, estimated separately (method of moments for a design whose replicates are crossed with
the test images):

1. **images** (and the per-image sampling noise): the variance over resamples b of the contrast computed on resample
   b, with every replicate of a cell averaged. Pairing happens here: the same images in every record.
2. **replicates** (training runs; sampling seeds when no cell has two training seeds): what a replicate shifts for
   *all* images at once, e.g. one training run being better than another. The replicate means D_u of the contrast
   (u: training seed, sampling seeds averaged) spread by s² = var_u(D_u), which also holds the per-image noise already
   counted in part 1; that noise is measured by the resamples (D_u^b - mean_u D_u^b: images cancel, noise stays) and
   subtracted, giving the systematic replicate variance sigma² (0 when the noise explains the spread). Cells that
   share their replicate seeds are paired by seed (the same seed: the same init, batch order and noise, a block);
   otherwise each cell's replicate variance adds up on its own. A cell with one replicate adds no part-2 variance
   (what it says is about that one run: ``n_replicates`` shows it).

The interval is estimate ± t x sqrt(images + sigma² / n), with Welch-Satterthwaite's degrees of freedom for the
replicate part (n - 1 for n replicates): two training runs whose results differ widely give a wide interval, which is
what a claim about a *method* has to face. This replaces a seed-level bootstrap, whose variance with two replicates
is half the sample variance and which counts the per-image noise twice.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from cddbench.evaluate import per_image_file

Cell = tuple[str, int]  # (run, steps)


@dataclass
class Replicate:
    """One evaluated sample folder: its seeds, metric values and per-metric bootstrap resamples."""
    seed: int  # sampling seed
    values: dict[str, float]
    resamples: dict[str, np.ndarray]
    train_seed: int = 0


def load(metric_files: list[str]) -> dict[Cell, list[Replicate]]:
    """The replicates of every (run, steps) cell from metric records and the ``.npz`` beside each."""
    cells: dict[Cell, list[Replicate]] = {}
    for path in metric_files:
        with open(path) as f:
            record = json.load(f)
        with np.load(per_image_file(path)) as arrays:
            resamples = {k[: -len("_resamples")]: arrays[k] for k in arrays.files if k.endswith("_resamples")}
        values = {k: v for k, v in record.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        cells.setdefault((record["run"], int(record["steps"])), []).append(
            Replicate(int(record["seed"]), values, resamples, int(record.get("train_seed", 0))))
    return {cell: sorted(reps, key=lambda r: (r.train_seed, r.seed)) for cell, reps in cells.items()}


def _units(reps: list[Replicate], level: str, metric: str) -> dict[int, tuple[float, np.ndarray]]:
    """{replicate unit: (mean value, mean resamples)}: a unit is a training seed (its sampling seeds averaged) or,
    at level "seed", a sampling seed."""
    groups: dict[int, list[Replicate]] = {}
    for r in reps:
        groups.setdefault(r.train_seed if level == "train_seed" else r.seed, []).append(r)
    return {u: (float(np.mean([r.values[metric] for r in g])), np.mean([r.resamples[metric] for r in g], axis=0))
            for u, g in sorted(groups.items())}


def _replicate_variance(units: dict[int, tuple[float, np.ndarray]]) -> tuple[float, float]:
    """(sigma², s²) of one series of replicate units: the systematic replicate variance (spread minus the per-image
    noise the resamples measure, floored at 0) and the raw sample variance."""
    n = len(units)
    values = np.array([v for v, _ in units.values()])
    res = np.stack([r for _, r in units.values()])  # units x resamples
    spread = float(values.var(ddof=1))
    noise = float((res - res.mean(axis=0)).var(axis=1, ddof=1).mean()) * n / (n - 1)  # within-unit noise variance
    return max(spread - noise, 0.0), spread


def contrast(cells: dict[Cell, list[Replicate]], weights: dict[Cell, float], metric: str, alpha: float) -> dict:
    """Estimate and (1 - alpha) interval of sum_c w_c x (mean over replicates of ``metric`` in cell c)."""
    reps = {c: cells[c] for c in weights}
    for c, rs in reps.items():
        missing = [(r.train_seed, r.seed) for r in rs if metric not in r.resamples]
        if missing:
            raise ValueError(f"{c[0]} at {c[1]} steps, (training, sampling) seeds {missing}: no bootstrap resamples "
                             f"of {metric} beside the metric record (evaluate.bootstrap must be > 0 for paired "
                             "comparisons)")
    n_boot = {len(r.resamples[metric]) for rs in reps.values() for r in rs}
    if len(n_boot) != 1:
        raise ValueError(f"records of {sorted(reps)} have different numbers of bootstrap resamples {sorted(n_boot)}")
    level = "train_seed" if any(len({r.train_seed for r in rs}) > 1 for rs in reps.values()) else "seed"
    units = {c: _units(rs, level, metric) for c, rs in reps.items()}
    estimate = sum(w * np.mean([v for v, _ in units[c].values()]) for c, w in weights.items())
    pooled = sum(w * np.mean([r for _, r in units[c].values()], axis=0) for c, w in weights.items())
    v_images = float(np.var(pooled, ddof=1))
    replicated = {c: u for c, u in units.items() if len(u) > 1}
    unit_sets = {tuple(u) for u in replicated.values()}
    if not replicated:
        components = []  # (variance of the estimate, degrees of freedom)
    elif len(unit_sets) == 1:  # paired by seed: the contrast per unit; single-replicate cells are constants
        (keys,) = unit_sets

        def at(c, k):
            return units[c][k] if c in replicated else next(iter(units[c].values()))

        per_unit = {k: (sum(w * at(c, k)[0] for c, w in weights.items()),
                        sum(w * at(c, k)[1] for c, w in weights.items())) for k in keys}
        components = [(_replicate_variance(per_unit)[0] / len(keys), len(keys) - 1)]
    else:
        components = [(weights[c] ** 2 * _replicate_variance(u)[0] / len(u), len(u) - 1)
                      for c, u in replicated.items()]
    v_reps = sum(v for v, _ in components)
    total = v_images + v_reps
    denom = sum(v * v / df for v, df in components if v > 0)
    df = total * total / denom if denom > 0 else math.inf  # Welch-Satterthwaite; the image part has many
    half = float(stats.t.ppf(1 - alpha / 2, df) * math.sqrt(total))
    return {"estimate": float(estimate), "low": estimate - half, "high": estimate + half, "half_width": half,
            "level": 1 - alpha, "df": df, "sd_images": math.sqrt(v_images), "sd_replicates": math.sqrt(v_reps),
            "replicate_level": level, "n_resamples": next(iter(n_boot)), "paired_replicates": len(unit_sets) <= 1,
            "n_replicates": {f"{c[0]}@{c[1]}": len(units[c]) for c in weights}}


def spread(reps: list[Replicate], metric: str) -> dict:
    """Where one cell's uncertainty comes from: the standard deviation of its metric over bootstrap resamples of the
    test images (replicates averaged), between sampling seeds within a training seed (averaged over training seeds),
    and between training seeds (of their sampling-seed means). nan where there is only one of a kind."""
    by_train: dict[int, list[Replicate]] = {}
    for r in reps:
        by_train.setdefault(r.train_seed, []).append(r)
    within = [np.std([r.values[metric] for r in g], ddof=1) for g in by_train.values() if len(g) > 1]
    means = [v for v, _ in _units(reps, "train_seed", metric).values()]
    return {"images": float(np.std(np.mean([r.resamples[metric] for r in reps], axis=0), ddof=1)),
            "sampling_seeds": float(np.mean(within)) if within else math.nan,
            "training_seeds": float(np.std(means, ddof=1)) if len(means) > 1 else math.nan,
            "n_train_seeds": len(by_train), "n_seeds": len({r.seed for r in reps})}
