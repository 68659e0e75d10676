"""Intervals over test photographs and training runs for contrasts of (run, steps) cells: the one rule behind every
claim verdict, the bicubic gate and Table 1's intervals (docs/statistics.md: why this rule, and its coverage).

The test set's independent units are its *photographs*, not its patches: patches of one photograph share its
content, and a method that suits a photograph suits most of its patches (the photo-level spread of a paired
difference is 2.6-7.9x the patch-level one on the default's records). A claim about a *method* also has to face its
*training runs*: the same method trained from another seed lands elsewhere. A contrast is a weighted sum of cells of
one metric, e.g. {A: +1, B: -1} for "A minus B"; with P test photographs and training seeds t (sampling seeds
averaged within a training seed), the rule is the moment version of
y = mu_cell + photo + method x photo + seed + seed x photo + noise:

1. **Estimate**: sum_c w_c mean_t M_{c,t}, with M_{c,t} the metric of cell c's training run t.
2. **Photographs** (the delete-one-photo jackknife): M^(-p), the metric with photograph p left out of a record (out
   of the outputs *and* the HR reference for FD / KD: ``metrics.frechet_distance_loo``); the jackknife variance of
   C is (P - 1) / P x sum_p (C^(-p) - their mean)^2. Pairing happens here: every record leaves out the same
   photograph, so what a photograph does to every method cancels in a difference.
3. **Training runs**: cells that share their training seeds are blocked by seed (the same seed: the same init and
   batch-order streams); the two-way random-effects ANOVA of runs x photographs, in jackknife form, gives
   V = (MS_P + MS_T - MS_E) / (P T): the photographs', the runs' and their interaction's variance, each counted
   once (``_crossed``). No noise is subtracted from the runs' spread and floored at 0 (with
   few runs that variance is 0 whenever they agree by chance, and the verdict flips with the machine); a component
   whose mean square falls below the interaction's is taken as 0, so V is never below any one of them / (P T).
   Cells trained from other seeds: the jackknife of the run-averaged contrast plus sum_c w_c^2 s_c^2 / T_c. A method
   that learns nothing (bicubic, an external model) has no training variance; a cell of a trained method with one
   training run has an unknown one, and the contrast is undecidable (an infinite interval), never decided on
   photographs alone.
4. **Degrees of freedom**: Satterthwaite's over the mean squares when every replicated cell has at least
   ``MIN_SATTERTHWAITE_SEEDS`` runs, min(P - 1, T - 1) below it (Satterthwaite trusts a variance from 2-4 runs more
   than it deserves); P - 1 without training runs.

``power`` and ``design_for_power`` scale the measured components to another design (photographs x training runs)
to say what it could detect.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from cddbench import methods
from cddbench.evaluate import per_image_file

Cell = tuple[str, int]  # (run, steps)
MIN_SATTERTHWAITE_SEEDS = 5  # below this many training runs: df = min(P - 1, T - 1)

# Where each metric lives: Table 1's intervals are built on a scale that maps that range onto the real line (log for
# (0, inf), logit for a bounded metric), so they never leave it. Metrics not named here: the plain scale.
POSITIVE = {"fid", "fd_proxy", "lpips", "lpips_proxy", "colour_error", "sharpness", "psnr"}
BOUNDED = {"saturation": (0.0, 1.0), "ssim": (-1.0, 1.0)}


@dataclass
class Replicate:
    """One evaluated sample folder: its seeds, metric values and leave-one-photo-out values per metric."""
    seed: int  # sampling seed
    values: dict[str, float]
    loo: dict[str, np.ndarray]  # metric -> (P,): the metric with test photograph p left out
    train_seed: int = 0
    trained: bool = True  # False: the method learns nothing (bicubic, external), so no training variance


@dataclass
class Estimate:
    """A contrast's estimate, standard error and degrees of freedom, with the variance components behind them: per
    photograph (sigma_p^2), per training run (sigma_t^2, for each seed part with its number of runs) and their
    interaction (sigma_e^2), so that ``power`` can scale them to another design."""
    estimate: float
    se: float
    df: float
    n_photos: int
    var_photo: float = 0.0  # sigma_p^2: the variance one photograph adds (V = sigma_p^2 / P + ...)
    seed_parts: list = field(default_factory=list)  # [(sigma_t^2, T)]: one part when the cells share their seeds
    var_interaction: float = 0.0  # sigma_e^2: photograph x training run (V = ... + sigma_e^2 / (P T))
    n_train_seeds: dict = field(default_factory=dict)  # "run@steps" -> training runs
    paired_seeds: bool = True
    reason: str = ""  # why the contrast is undecidable ("" when it is not)

    @property
    def var_photos(self) -> float:
        """The photographs' share of the variance of the estimate (with the interaction)."""
        t = self.seed_parts[0][1] if self.seed_parts else 1
        return self.var_photo / self.n_photos + self.var_interaction / (self.n_photos * t)

    @property
    def var_seeds(self) -> float:
        """The training runs' share of the variance of the estimate."""
        return sum(v / t for v, t in self.seed_parts) if not self.reason else math.nan

    def interval(self, level: float) -> tuple[float, float]:
        """Two-sided ``level`` interval, estimate +- t(df) x se."""
        half = self.quantile(1 - (1 - level) / 2) * self.se if self.se > 0 else 0.0
        return self.estimate - half, self.estimate + half

    def quantile(self, q: float) -> float:
        if math.isinf(self.se) or self.df <= 0:
            return math.inf
        return float(stats.t.ppf(q, self.df))

    def p_below(self, toward: float) -> float:
        """One-sided p-value that the contrast, oriented by ``toward`` (+1: larger is the claim's side), is not on
        the claim's side: small when the data put it there."""
        if math.isinf(self.se) or self.df <= 0:
            return 0.5
        if self.se == 0:
            return 0.0 if toward * self.estimate > 0 else 1.0
        return float(stats.t.sf(toward * self.estimate / self.se, self.df))


def load(metric_files: list[str]) -> dict[Cell, list[Replicate]]:
    """The replicates of every (run, steps) cell from metric records and the ``.npz`` beside each; every record must
    leave out the same photographs in the same order."""
    cells: dict[Cell, list[Replicate]] = {}
    photos, first = None, None
    for path in metric_files:
        with open(path) as f:
            record = json.load(f)
        with np.load(per_image_file(path)) as arrays:
            loo = {k[: -len("_loo")]: arrays[k] for k in arrays.files if k.endswith("_loo")}
            names = list(arrays["photos"]) if "photos" in arrays.files else None
        if names is not None:
            if photos is None:
                photos, first = names, path
            elif names != photos:
                raise ValueError(f"{path} leaves out other test photographs than {first}: the records come from "
                                 "different test sets; rerun the evaluate rule")
        values = {k: v for k, v in record.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        method = record.get("method", record["run"].split("-", 1)[0])
        trained = method not in methods.METHODS or methods.trains(method) or methods.base(method) is not None
        cells.setdefault((record["run"], int(record["steps"])), []).append(
            Replicate(int(record["seed"]), values, loo, int(record.get("train_seed", 0)), trained))
    return {cell: sorted(reps, key=lambda r: (r.train_seed, r.seed)) for cell, reps in cells.items()}


def _runs(reps: list[Replicate], metric: str) -> dict[int, tuple[float, np.ndarray]]:
    """{training seed: (value, leave-one-photo-out values)}, sampling seeds averaged."""
    groups: dict[int, list[Replicate]] = {}
    for r in reps:
        groups.setdefault(r.train_seed, []).append(r)
    return {t: (float(np.mean([r.values[metric] for r in g])), np.mean([r.loo[metric] for r in g], axis=0))
            for t, g in sorted(groups.items())}


def satterthwaite(terms: list[tuple[float, float]]) -> float:
    """Degrees of freedom of sum_i a_i MS_i, given [(a_i MS_i, df_i)] (Satterthwaite 1946)."""
    denom = sum(v * v / df for v, df in terms if v)
    return sum(v for v, _ in terms) ** 2 / denom if denom > 0 else math.inf


def _rule_df(n_photos: float, fewest_runs: int, terms: list[tuple[float, float]]) -> float:
    """Step 4 of the module docstring: min(P - 1, T - 1) below MIN_SATTERTHWAITE_SEEDS runs, else Satterthwaite."""
    if fewest_runs < MIN_SATTERTHWAITE_SEEDS:
        return float(min(n_photos - 1, fewest_runs - 1))
    return satterthwaite(terms)


def _jackknife(loo: np.ndarray) -> float:
    """The delete-one-group jackknife variance (P - 1) / P x sum_p (C^(-p) - their mean)^2 of a statistic C."""
    return float((len(loo) - 1) / len(loo) * ((loo - loo.mean()) ** 2).sum())


def _crossed(values: np.ndarray, loo: np.ndarray) -> tuple[float, float, float, float, float]:
    """(V, df, sigma_p^2, sigma_t^2, sigma_e^2) of the mean over training runs of a contrast, from its value C_t and
    leave-one-photo-out values C_t^(-p) in each run t: the two-way random-effects ANOVA's mean squares (method of
    moments) in jackknife form. MS_P = P T x the jackknife variance of the run-averaged contrast; MS_T = P x the
    runs' variance of C_t; MS_E from the per-run jackknife variances J_t: (mean_t J_t - V_P) P T / (T - 1). For a
    mean over images these are the ANOVA of the runs x photographs table; for FD they take the runs' spread from
    the FDs themselves, not from jackknife pseudo-values (whose bias correction inflates it).
    V = (MS_P + MS_T - MS_E) / (P T) counts the interaction once (the photo jackknife plus the runs' variance count
    it twice); a component whose mean square falls below MS_E is taken as 0, so V is never below any one mean square
    / (P T). Satterthwaite's df for T >= MIN_SATTERTHWAITE_SEEDS, min(P - 1, T - 1) below."""
    t, p = loo.shape
    v_p = _jackknife(loo.mean(axis=0))
    ms_p = p * t * v_p
    ms_t = p * float(values.var(ddof=1))
    ms_e = max(float(np.mean([_jackknife(row) for row in loo])) - v_p, 0.0) * p * t / (t - 1)
    var_p, var_t = max(ms_p - ms_e, 0.0) / t, max(ms_t - ms_e, 0.0) / p
    v = var_p / p + var_t / t + ms_e / (p * t)
    # v x P T as a sum of mean squares: each component is its mean square minus MS_E, or 0
    terms = [(ms_p, p - 1)] if ms_p > ms_e else []
    terms += [(ms_t, t - 1)] if ms_t > ms_e else []
    terms += [((1 - (ms_p > ms_e) - (ms_t > ms_e)) * ms_e, (p - 1) * (t - 1))]
    return v, _rule_df(p, t, terms), var_p, var_t, ms_e


def contrast(cells: dict[Cell, list[Replicate]], weights: dict[Cell, float], metric: str) -> Estimate:
    """sum_c weights[c] x (mean over training runs of ``metric`` in cell c), with the rule of the module docstring."""
    reps = {c: cells[c] for c in weights}
    empty = [f"{c[0]}@{c[1]}" for c, rs in reps.items() if not rs]
    if empty:  # e.g. a cell trained on one seed only, with that seed left out (claims' seed-drop check)
        return Estimate(float("nan"), math.inf, 0.0, 0, reason=f"no record of {', '.join(empty)}")
    for c, rs in reps.items():
        missing = [(r.train_seed, r.seed) for r in rs if metric not in r.loo]
        if missing:
            raise ValueError(f"{c[0]} at {c[1]} steps, (training, sampling) seeds {missing}: no leave-one-photo-out "
                             f"values of {metric} beside the metric record (written by the evaluate rule since the "
                             "photograph became the unit: rerun it, `snakemake --forcerun evaluate`)")
    runs = {c: _runs(rs, metric) for c, rs in reps.items()}
    sizes = {len(next(iter(u.values()))[1]) for u in runs.values()}
    if len(sizes) != 1:
        raise ValueError(f"records of {sorted(reps)} leave out different numbers of photographs {sorted(sizes)}")
    n_photos = sizes.pop()
    estimate = float(sum(w * np.mean([v for v, _ in runs[c].values()]) for c, w in weights.items()))
    trained = [c for c in weights if any(r.trained for r in reps[c])]
    seed_sets = {tuple(runs[c]) for c in trained}
    common = dict(estimate=estimate, n_photos=n_photos, paired_seeds=len(seed_sets) <= 1,
                  n_train_seeds={f"{c[0]}@{c[1]}": len(runs[c]) for c in weights})
    if n_photos < 2:
        return Estimate(se=math.inf, df=0.0, **common,
                        reason="one test photograph: the photographs' variance is unknown")
    unknown = [f"{c[0]}@{c[1]}" for c in trained if len(runs[c]) < 2]
    if unknown:
        return Estimate(se=math.inf, df=0.0, **common,
                        reason=f"one training run of {', '.join(unknown)}: its training variance is unknown")

    def at(c, k):  # cell c's (value, leave-one-photo-out values) in training run k (an untrained cell: its one run)
        return runs[c][k] if c in trained else next(iter(runs[c].values()))

    def combined(k):
        return sum(w * at(c, k)[0] for c, w in weights.items()), sum(w * at(c, k)[1] for c, w in weights.items())

    if not trained:  # no training variance: the jackknife over photographs alone, df P - 1
        var_p = _jackknife(combined(None)[1]) * n_photos
        return Estimate(se=math.sqrt(var_p / n_photos), df=float(n_photos - 1), var_photo=var_p, **common)
    if len(seed_sets) == 1:  # blocked by seed: the contrast in each training run
        keys = next(iter(seed_sets))
        values, loo = (np.array(x) for x in zip(*(combined(k) for k in keys)))
        v, df, var_p, var_t, var_e = _crossed(values, loo)
        return Estimate(se=math.sqrt(v), df=df, var_photo=var_p, seed_parts=[(var_t, len(keys))],
                        var_interaction=var_e, **common)
    # cells trained from other seeds: no blocks. The photographs' jackknife of the run-averaged contrast plus each
    # cell's own runs' variance (conservative: both hold the interaction)
    loo = sum(w * np.mean([l for _, l in runs[c].values()], axis=0) for c, w in weights.items())
    var_p = _jackknife(loo) * n_photos
    parts = [(weights[c] ** 2 * float(np.var([v for v, _ in runs[c].values()], ddof=1)), len(runs[c]))
             for c in trained]
    v = var_p / n_photos + sum(s / t for s, t in parts)
    df = _rule_df(n_photos, min(t for _, t in parts),
                  [(var_p / n_photos, n_photos - 1)] + [(s / t, t - 1) for s, t in parts])
    return Estimate(se=math.sqrt(v), df=df, var_photo=var_p, seed_parts=parts, **common)


def cell_interval(cells: dict[Cell, list[Replicate]], cell: Cell, metric: str, level: float = 0.95) -> tuple[float, float]:
    """One cell's ``level`` interval by the same rule, on a scale where the metric's range is the real line (log for
    a positive metric, logit for a bounded one; the delta method carries the standard error there), so it never
    leaves the range: an FD interval never goes below 0."""
    est = contrast(cells, {cell: 1.0}, metric)
    m, q = est.estimate, est.quantile(1 - (1 - level) / 2)
    if metric in POSITIVE and m > 0:
        half = q * est.se / m
        return m * math.exp(-half), m * math.exp(half)
    if metric in BOUNDED:
        lo, hi = BOUNDED[metric]
        u = (m - lo) / (hi - lo)
        if 0 < u < 1:
            half = q * est.se / ((hi - lo) * u * (1 - u))
            logit = math.log(u / (1 - u))
            return tuple(lo + (hi - lo) / (1 + math.exp(-(logit + s * half))) for s in (-1, 1))
    return est.interval(level)


def _variance_at(est: Estimate, n_photos: float, n_seeds: int) -> tuple[float, float]:
    """(variance, df) of the same contrast on ``n_photos`` photographs (inf: unlimited) x ``n_seeds`` training runs
    per cell, from the components measured here, with the degrees of freedom the rule would use there."""
    p, t = n_photos, n_seeds
    seed_var = sum(v / t for v, _ in est.seed_parts)
    if math.isinf(p):
        return seed_var, float(t - 1) if est.seed_parts else math.inf
    var = est.var_photo / p + seed_var + (est.var_interaction / (p * t) if est.seed_parts else 0.0)
    if not est.seed_parts:
        return var, float(p - 1)
    if not est.paired_seeds:
        return var, _rule_df(p, t, [(est.var_photo / p, p - 1)] + [(v / t, t - 1) for v, _ in est.seed_parts])
    # expected mean squares of the crossed table at (p, t)
    (var_t, _), var_e = est.seed_parts[0], est.var_interaction
    return var, _rule_df(p, t, [(t * est.var_photo + var_e, p - 1), (p * var_t + var_e, t - 1),
                                (-var_e, (p - 1) * (t - 1))])


def power(est: Estimate, effect: float, alpha: float, n_photos: float | None = None,
          n_seeds: float | None = None) -> float:
    """The probability that a one-sided level-``alpha`` test finds a true contrast of size ``effect`` (> 0, toward
    the claim) on a design of ``n_photos`` x ``n_seeds`` (default: this one), from the measured variances
    (noncentral t). nan where the training variance is unknown."""
    if est.reason or not effect > 0:
        return math.nan
    n_photos = est.n_photos if n_photos is None else n_photos
    n_seeds = (min(t for _, t in est.seed_parts) if est.seed_parts else 1) if n_seeds is None else n_seeds
    var, df = _variance_at(est, n_photos, n_seeds)
    if var == 0:
        return 1.0
    if df <= 0:
        return 0.0
    return float(stats.nct.sf(stats.t.ppf(1 - alpha, df), df, effect / math.sqrt(var)))


MAX_SEEDS, MAX_PHOTOS, AT_SEEDS = 1000, 100_000, 10


def _smallest(lo: int, hi: int, enough) -> float:
    """The smallest n in [lo, hi] with enough(n) (monotone: more photographs or runs never lose power); inf if none."""
    if not enough(hi):
        return math.inf
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if enough(mid) else (mid + 1, hi)
    return float(lo)


def design_for_power(est: Estimate, effect: float, alpha: float, target: float = 0.8) -> tuple[float, float]:
    """(training runs needed with unlimited photographs, photographs needed at AT_SEEDS runs) for ``target`` power at
    ``effect``; inf where no design up to MAX_SEEDS / MAX_PHOTOS reaches it, nan where it cannot be computed."""
    if est.reason or not effect > 0:
        return math.nan, math.nan
    if not est.seed_parts:  # no training variance: photographs alone
        return 1.0, _smallest(2, MAX_PHOTOS, lambda p: power(est, effect, alpha, p, 1) >= target)
    seeds = _smallest(2, MAX_SEEDS, lambda t: power(est, effect, alpha, math.inf, t) >= target)
    return seeds, _smallest(2, MAX_PHOTOS, lambda p: power(est, effect, alpha, p, AT_SEEDS) >= target)


def spread(reps: list[Replicate], metric: str) -> dict:
    """Where one cell's uncertainty comes from: the jackknife standard deviation over test photographs (training runs
    averaged), between sampling seeds within a training run (averaged over runs), and between training runs (of their
    sampling-seed means). nan where there is only one of a kind."""
    by_train: dict[int, list[Replicate]] = {}
    for r in reps:
        by_train.setdefault(r.train_seed, []).append(r)
    within = [np.std([r.values[metric] for r in g], ddof=1) for g in by_train.values() if len(g) > 1]
    runs = _runs(reps, metric)
    loo = np.mean([l for _, l in runs.values()], axis=0)
    means = [v for v, _ in runs.values()]
    return {"photos": math.sqrt(_jackknife(loo)),
            "sampling_seeds": float(np.mean(within)) if within else math.nan,
            "training_seeds": float(np.std(means, ddof=1)) if len(means) > 1 else math.nan,
            "n_train_seeds": len(by_train), "n_seeds": len({r.seed for r in reps}), "n_photos": len(loo)}
