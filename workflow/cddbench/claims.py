"""The paper's seven claims (docs: README "Claims"), each decided on the metric records, never written by hand.

Every claim is a family of *comparisons*, each a contrast of (run, steps) cells on one metric, with an interval over
test photographs and training runs (``cddbench.paired``): "A beats B on M at k steps" is M(A, k) - M(B, k); a trend
is M(run, most steps) - M(run, fewest); "approaches LDM-SR-200" is M(Ours-4) - M(LDM-SR-200) - APPROACH x
(M(LDM-SR-4) - M(LDM-SR-200)); the tie "A >= B" (claim 6) is the contrast M(A) - (1 + TIE_MARGIN) x M(B), B's
uncertainty included. Each comparison gets two one-sided tests:

- it *holds* when it is on the claim's side at one-sided level ALPHA. A claim *holds* when every comparison holds:
  an intersection-union test, whose level is ALPHA without any correction (it errs only if every part errs);
- it *does not hold* when it is on the wrong side by Holm's step-down procedure at family-wise level ALPHA over
  the claim's comparisons (one-sided). A claim *does not hold* when any comparison does not;
- otherwise it is *inconclusive*, and so is the claim. A claim whose runs the config did not ask for is *not tested*
  (the runs it needs are named). Nothing corrects across the seven claims: each claim's verdict is at its own level.

Beside each verdict: the power this design had to find the paper's own relative effect (where its Table 1 has both
rows) and a 10% / 30% relative effect, the photographs and training runs that 80% power would need, and whether the
verdict survives dropping any one training run (a verdict one run carries is marked).

ALPHA, APPROACH, TIE_MARGIN, POWER_EFFECTS and the comparisons below were fixed before any run of this rule (the
photograph as the unit, 2026-12-06); they are not tuned. TIE_MARGIN dates from 2026-12-05 (docs/results.md).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cddbench import paired
from cddbench.paper import (BASELINES_4, DDIM_PRETRAINED, DDIM_V, L2_PIXEL, LPIPS_GUIDANCE, NO_GUIDANCE, OURS,
                             OURS_STAR, PAPER_VALUES, PEERS, PER_SAMPLE_T, RANDOM_INIT)

HOLDS, FAILS, UNSURE, UNTESTED = "holds", "does not hold", "inconclusive", "not tested"
ALPHA = 0.05  # each comparison's one-sided level for "holds"; the family-wise (Holm) level for "does not hold"
APPROACH = 0.5  # "approaches LDM-SR-200": Ours-4 closes at least half of LDM-SR-4's gap to LDM-SR-200
TIE_MARGIN = 0.10  # ">=": at most 10% worse than the baseline counts as a tie (non-inferiority margin)
POWER_EFFECTS = (0.10, 0.30)  # relative effects (of the baseline's value) whose power every comparison reports
POWER_TARGET = 0.8


@dataclass
class Comparison:
    """The claim that sum_c weights[c] x metric(c) is below 0 (above 0 when ``higher_is_better``)."""
    name: str
    metric: str
    weights: dict[paired.Cell, float]
    higher_is_better: bool = False
    baseline: paired.Cell | None = None  # the cell the difference is relative to (effect size)
    margin: float = 0.0  # a tie allowed within this share of the baseline (">="), in the weights already


def beats(a: str, b: str, metric: str, steps: int, higher_is_better: bool = False, tie_allowed: bool = False
          ) -> Comparison:
    """A better than B; with ``tie_allowed``, not worse than B by more than TIE_MARGIN of B: the contrast
    A - (1 + TIE_MARGIN) B (lower is better; A - (1 - TIE_MARGIN) B when higher is)."""
    margin = TIE_MARGIN if tie_allowed else 0.0
    scale = 1 - margin if higher_is_better else 1 + margin
    name = f"{metric}@{steps}: {a} {'>= (within a tie)' if tie_allowed else 'beats'} {b}"
    return Comparison(name, metric, {(a, steps): 1.0, (b, steps): -scale}, higher_is_better, (b, steps), margin)


def trend(cells, run: str, metric: str, rising: bool) -> Comparison | str:
    steps = sorted(s for r, s in cells if r == run)
    if len(steps) < 2:
        return f"{metric} trend of {run}: needs {run} at two or more step counts"
    return Comparison(f"{metric} of {run} {'rises' if rising else 'falls'} from {steps[0]} to {steps[-1]} steps",
                      metric, {(run, steps[-1]): 1.0, (run, steps[0]): -1.0}, higher_is_better=rising,
                      baseline=(run, steps[0]))


def metric_names(summary: pd.DataFrame) -> tuple[str, str]:
    """(FD, LPIPS) column stems of a runs.csv summary: fid/lpips, or the labelled proxies."""
    return ("fid", "lpips") if "fid_mean" in summary else ("fd_proxy", "lpips_proxy")


def _names(cells) -> tuple[str, str]:
    """The metrics in FD's and LPIPS's roles: fid / lpips, the labelled proxies, or on the known-answer tier
    (cddbench.known_answer) the energy distance to the exact posterior and the sample mean's squared error."""
    values = [r.values for reps in cells.values() for r in reps]
    if any("energy_distance" in v for v in values):
        return "energy_distance", "mean_sq_error"
    return ("fid", "lpips") if any("fid" in v for v in values) else ("fd_proxy", "lpips_proxy")


def _steps(cells, run) -> list[int]:
    return sorted(s for r, s in cells if r == run)


def _over_steps(cells, a, b, metrics):
    return [beats(a, b, m, s) for s in _steps(cells, a) or [4] for m in metrics]


def claim_1(cells):
    fd, lp = _names(cells)
    approach = Comparison(f"{fd}: Ours-4 closes >= {APPROACH:g} of LDM-SR-4's gap to LDM-SR-200", fd,
                          {(OURS, 4): 1.0, ("ldm_sr", 200): APPROACH - 1.0, ("ldm_sr", 4): -APPROACH})
    return [beats(OURS, b, m, 4) for b in BASELINES_4 + [OURS_STAR] for m in (fd, lp)] + [approach]


def claim_2(cells):
    fd, lp = _names(cells)
    return [beats(OURS_STAR, b, m, 4) for b in BASELINES_4 for m in (fd, lp)]


def _variant_claim(variant):
    def check(cells):
        return _over_steps(cells, OURS, variant, _names(cells))
    return check


def claim_5(cells):
    parts = _over_steps(cells, OURS, NO_GUIDANCE, _names(cells))
    # lambda = 0 is the more saturated
    return parts + [beats(NO_GUIDANCE, OURS, "saturation", s, higher_is_better=True)
                    for s in _steps(cells, OURS) or [4]]


def claim_6(cells):
    fd, lp = _names(cells)
    ge = [beats(OURS, DDIM_V, fd, s, tie_allowed=True) for s in _steps(cells, OURS) or [4]]  # PREv >= DDIM-v
    return ge + _over_steps(cells, DDIM_V, DDIM_PRETRAINED, (fd, lp))


def claim_7(cells):
    fd, _ = _names(cells)
    parts = [beats(OURS, other, fd, 4) for other in (L2_PIXEL, LPIPS_GUIDANCE)]
    parts += [trend(cells, run, "sharpness", rising=False) for run in (OURS, L2_PIXEL)]  # blurrier with steps
    return parts + [trend(cells, LPIPS_GUIDANCE, "saturation", rising=True)]  # LPIPS over-saturates with steps


# (number, the paper's claim, its comparisons, the metrics it is judged on and why)
TABLE1_METRICS = "FD and LPIPS at 4 steps: the two metrics of the paper's Table 1, where the claim is made"
FIG5_METRICS = ("FD and LPIPS at every sampled step count: Fig. 5 plots both against the steps, and the claim is "
                "about the curves, not one point")
CLAIMS = [
    (1, "Ours-4 beats every other 4-step row on FID and LPIPS, and approaches LDM-SR-200", claim_1,
     TABLE1_METRICS + "; 'approaches' on FD only (the paper's headline number)"),
    (2, "Ours*-4 beats the 4-step baselines while training only the encoder", claim_2, TABLE1_METRICS),
    (3, "Pretrained init beats random init (Fig. 5)", _variant_claim(RANDOM_INIT), FIG5_METRICS),
    (4, "One t per batch beats one t per sample (Fig. 5)", _variant_claim(PER_SAMPLE_T),
     FIG5_METRICS),
    (5, "CG (lambda = 1) beats lambda = 0; without CG results drift towards over-saturation (Fig. 5)", claim_5,
     FIG5_METRICS + "; over-saturation as mean HSV saturation (the paper's word for what it shows)"),
    (6, "PREv >= DDIM-v >> DDIM with the pretrained model (Fig. 5)", claim_6,
     "FD for PREv >= DDIM-v (a tie, '>=', holds within TIE_MARGIN = 10% of DDIM-v's FD), FD and LPIPS for "
     "DDIM-v >> DDIM-pretrained, at every step count (Fig. 5)"),
    (7, "d_x = L2 latent gives the best FID at 4 steps; L2 pixel/latent get blurrier and LPIPS over-saturated "
        "as steps grow (Fig. 3)", claim_7,
     "FD at 4 steps (the claim names FID); blur as the mean Laplacian-variance sharpness and over-saturation as mean "
     "saturation from the fewest to the most steps (what Fig. 3 shows by eye)"),
]


# What an external model (methods.external) is compared with: the distilled model at the paper's step count and the
# many-step teacher-quality row, on the Table 1 metrics.
EXTERNAL_REFERENCES = [(OURS, 4), ("ldm_sr", 200)]
# A released model a user would pick instead (configs/anchors.yaml) is compared with the rows it stands beside: this
# project's Real-ESRGAN (the same architecture family, trained here at a laptop's budget) and bicubic.
ANCHOR_REFERENCES = {"realesrgan_x4plus": [("esrgan", 1), ("bicubic", 0)]}


def external_references(run: str) -> list[tuple[str, int]]:
    """The (run, steps) cells an external model or anchor is compared with."""
    return ANCHOR_REFERENCES.get(run, EXTERNAL_REFERENCES)


def external_comparisons(cells) -> dict[str, list[Comparison]]:
    """{external run: "it beats each reference" on FD and LPIPS at each of its step counts}, one family per run."""
    fd, lp = _names(cells)
    runs = sorted({r for r, _ in cells if r == "external" or r.startswith("external-") or r in ANCHOR_REFERENCES})
    return {run: [Comparison(f"{m}: {run}-{s} beats {ref}-{rs}", m, {(run, s): 1.0, (ref, rs): -1.0},
                             baseline=(ref, rs))
                  for s in _steps(cells, run) for ref, rs in external_references(run) for m in (fd, lp)]
            for run in runs}


def peer_comparisons(cells) -> dict[str, list[Comparison]]:
    """{peer run (paper.PEERS, issue [11]): "it beats Ours at the same step count" on FD and LPIPS}, one family
    per run, at each of its step counts that Ours was also sampled at."""
    fd, lp = _names(cells)
    runs = sorted({r for r, _ in cells if r.split("-", 1)[0] in PEERS})
    return {run: [Comparison(f"{m}: {run}-{s} beats {OURS}-{s}", m, {(run, s): 1.0, (OURS, s): -1.0},
                             baseline=(OURS, s))
                  for s in _steps(cells, run) if (OURS, s) in cells for m in (fd, lp)]
            for run in runs}


def _paper_relative(comparison: Comparison) -> float:
    """The paper's own relative difference for a Table 1 comparison (nan where the paper gives no numbers)."""
    column = 1 if "lpips" in comparison.metric else 0 if comparison.metric in ("fid", "fd_proxy") else None
    cells = list(comparison.weights)
    if column is None or comparison.baseline is None or len(cells) != 2 or not all(c in PAPER_VALUES for c in cells):
        return float("nan")
    a, b = (PAPER_VALUES[c][column] for c in cells)
    return (a - b) / b


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values: comparison i is rejected at family-wise level a when its value <= a."""
    order = np.argsort(p_values, kind="stable")
    m, adjusted, running = len(p_values), [math.nan] * len(p_values), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def family_verdicts(p_claim: list[float], p_against: list[float], alpha: float = ALPHA) -> list[str]:
    """Each comparison's verdict: holds at one-sided ``alpha`` (intersection-union: no correction), does not hold
    when Holm rejects "on the claim's side or equal" at family-wise ``alpha``, else inconclusive."""
    return [FAILS if h <= alpha else HOLDS if p < alpha else UNSURE for p, h in zip(p_claim, holm(p_against))]


def combine(verdicts: list[str]) -> str:
    if FAILS in verdicts:
        return FAILS
    if UNTESTED in verdicts:
        return UNTESTED
    return HOLDS if all(v == HOLDS for v in verdicts) else UNSURE


def _family(comparisons: list[Comparison], cells) -> list[dict]:
    """The estimates and verdicts of one family (not tested where a cell is missing)."""
    rows, tested = [], []
    for c in comparisons:
        missing = sorted({f"{r} at {s} steps" for r, s in c.weights if (r, s) not in cells})
        if missing:
            rows.append({"verdict": UNTESTED, "reason": f"missing {', '.join(missing)}"})
            continue
        if not all(c.metric in r.values for cell in c.weights for r in cells[cell]):  # e.g. saturation, toy tier
            rows.append({"verdict": UNTESTED, "reason": f"no {c.metric} on these records"})
            continue
        est = paired.contrast(cells, c.weights, c.metric)
        toward = 1.0 if c.higher_is_better else -1.0
        rows.append({"est": est, "p_claim": est.p_below(toward), "p_against": est.p_below(-toward),
                     "reason": est.reason})
        tested.append(rows[-1])
    for row, verdict in zip(tested, family_verdicts([r["p_claim"] for r in tested], [r["p_against"] for r in tested])):
        row["verdict"] = verdict
    return rows


def _drop_training_run(cells, seed: int):
    """The cells without training run ``seed`` (methods that learn nothing keep their one record)."""
    return {c: [r for r in reps if not (r.trained and r.train_seed == seed)] for c, reps in cells.items()}


def _scale(comparison: Comparison, cells) -> float:
    base = comparison.baseline
    return abs(float(np.mean([r.values[comparison.metric] for r in cells[base]]))) if base in cells else math.nan


def _power_columns(comparison: Comparison, est: paired.Estimate, scale: float, paper: float) -> dict:
    """Power at this design and the design 80% power needs, for the paper's effect and POWER_EFFECTS. An effect r
    is "A better than B by r x B"; for a tie contrast the margin adds to it (A = B is then a true effect)."""
    toward_paper = -paper if not comparison.higher_is_better else paper
    effects = {"paper": toward_paper, **{f"{round(100 * r)}pct": r for r in POWER_EFFECTS}}
    out = {}
    for name, r in effects.items():
        size = (r + comparison.margin) * scale if r == r and r > 0 else math.nan
        seeds, photos = paired.design_for_power(est, size, ALPHA, POWER_TARGET)
        out |= {f"power_{name}": paired.power(est, size, ALPHA), f"seeds_for_80_{name}": seeds,
                f"photos_for_80_{name}_at_{paired.AT_SEEDS}_seeds": photos}
    return out


def decide_family(comparisons: list[Comparison], cells, family: str, claim=math.nan) -> list[dict]:
    """One row per comparison of a family: the contrast, its interval at two-sided 1 - 2 ALPHA (its bounds are the
    one-sided tests' bounds), the p-values, power, the verdict and whether it survives dropping any one run."""
    found = _family(comparisons, cells)
    seeds = sorted({r.train_seed for c in comparisons for cell in c.weights for r in cells.get(cell, []) if r.trained})
    dropped = [_family(comparisons, _drop_training_run(cells, t)) for t in seeds] if len(seeds) > 1 else []
    adjusted = iter(holm([r["p_against"] for r in found if "est" in r]))
    rows = []
    for i, (c, r) in enumerate(zip(comparisons, found)):
        row = {"claim": claim, "family": family, "comparison": c.name, "metric": c.metric}
        if "est" not in r:
            rows.append({**row, "verdict": UNTESTED, "reason": r["reason"]})
            continue
        est: paired.Estimate = r["est"]
        scale, paper = _scale(c, cells), _paper_relative(c)
        low, high = est.interval(1 - 2 * ALPHA)
        decided = r["verdict"] in (HOLDS, FAILS)
        relative = est.estimate / scale
        rows.append({**row, "difference": est.estimate, "relative": relative,
                     "effect_toward_claim": relative if c.higher_is_better else -relative, "paper_relative": paper,
                     "ci_low": low, "ci_high": high, "level": 1 - 2 * ALPHA, "se": est.se, "df": est.df,
                     "p_claim": r["p_claim"], "p_against_holm": next(adjusted),
                     "sd_photos": math.sqrt(est.var_photos), "sd_seeds": math.sqrt(est.var_seeds),
                     "n_photos": est.n_photos, "paired_seeds": est.paired_seeds,
                     "n_train_seeds": " ".join(f"{k}:{v}" for k, v in est.n_train_seeds.items()),
                     **_power_columns(c, est, scale, paper), "verdict": r["verdict"],
                     "survives_seed_drop": (all(d[i]["verdict"] == r["verdict"] for d in dropped) if dropped
                                            else not seeds) if decided else math.nan,
                     "reason": r["reason"]})
    return rows


def evaluate(cells: dict[paired.Cell, list[paired.Replicate]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(claims, comparisons): one row per claim with its verdict, one row per comparison with the numbers."""
    claims, rows = [], []
    for number, text, check, judged_on in CLAIMS:
        parts = check(cells)
        found = decide_family([p for p in parts if isinstance(p, Comparison)], cells, f"claim {number}", number)
        found += [{"claim": number, "family": f"claim {number}", "comparison": p, "verdict": UNTESTED, "reason": p}
                  for p in parts if isinstance(p, str)]
        rows += found
        verdict = combine([r["verdict"] for r in found])
        effects = [r["effect_toward_claim"] for r in found if not math.isnan(r.get("effect_toward_claim", math.nan))]
        survives = [r["survives_seed_drop"] for r in found if r["verdict"] == verdict and verdict in (HOLDS, FAILS)]
        claims.append({"claim": number, "text": text, "verdict": verdict, "metrics": judged_on,
                       "comparisons": len(found), "decided": sum(r["verdict"] in (HOLDS, FAILS) for r in found),
                       # holds: every comparison must survive; does not hold: one failing comparison that survives
                       "survives_seed_drop": (all(survives) if verdict == HOLDS else any(survives))
                       if survives else math.nan,
                       "median_effect_toward_claim": float(np.median(effects)) if effects else math.nan,
                       "level": 1 - ALPHA})
    for run, comparisons in external_comparisons(cells).items():  # not claims of the paper: rows of their own
        rows += decide_family(comparisons, cells, f"external {run}")
    for run, comparisons in peer_comparisons(cells).items():  # beyond the paper (results/peers.md)
        rows += decide_family(comparisons, cells, f"peer {run}")
    rows = pd.DataFrame(rows)
    rows["claim"] = rows["claim"].astype("Int64")  # the families beyond the paper's claims have none (not 1.0, 2.0)
    return pd.DataFrame(claims), rows


RULE = ("Intervals over test photographs (delete-one-photo jackknife) and training runs (`cddbench.paired`; "
        "docs/statistics.md). A comparison *holds* when it is on the claim's side at one-sided level {a:g} (a claim "
        "holds when all its comparisons do: an intersection-union test), *does not hold* when it is on the wrong "
        "side by Holm's procedure at family-wise level {a:g} over the claim's comparisons, and is otherwise "
        "inconclusive. Nothing corrects across the seven claims. Intervals are two-sided {lv:.0%} (their bounds are "
        "the one-sided tests'). `power`: the chance this design had to decide a true effect of the paper's own size "
        "(where its Table 1 has both rows) / 10% / 30% of the baseline's value, from the measured photograph and "
        "training-run variances; `80% needs`: training runs with unlimited photographs, or photographs at "
        "{at} runs, for 80% power at 30%. *one run carries it*: the verdict changes when some one training run is "
        "left out.")


def _fmt(v, fmt="{:.2f}") -> str:
    if v != v:
        return "—"
    return "never" if math.isinf(v) else fmt.format(v)


def to_markdown(claims: pd.DataFrame, comparisons: pd.DataFrame, unit: str = "photos") -> str:
    """claims.md; ``unit``: what the test set's independent units are called in the comparison lines (the
    known-answer tier's are test conditions)."""
    lines = [RULE.format(a=ALPHA, lv=1 - 2 * ALPHA, at=paired.AT_SEEDS), "",
             "| # | claim | verdict | decided | survives dropping a training run | median effect toward the claim |",
             "| --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {r.claim} | {r.text} | **{r.verdict}** | {r.decided} of {r.comparisons} | "
              + ("—" if r.survives_seed_drop != r.survives_seed_drop else "yes" if r.survives_seed_drop
                 else "**no: one run carries it**") + " | "
              + ("—" if math.isnan(r.median_effect_toward_claim) else f"{r.median_effect_toward_claim:+.1%}")
              + " |" for r in claims.itertuples()]
    sections = [(f"claim {r.claim}", f"Claim {r.claim} ({r.verdict}), judged on {r.metrics}:")
                for r in claims.itertuples()]
    sections += [(k, f"{k.removeprefix('external ')} (an external model, not a claim of the paper) against "
                  + " and ".join(f"{r}-{s}" for r, s in external_references(k.removeprefix("external ")))
                  + ", one family:")
                 for k in dict.fromkeys(comparisons.get("family", [])) if k.startswith("external ")]
    for family, title in sections:
        lines += ["", title, *_comparison_lines(comparisons, family, unit)]
    return "\n".join(lines)


def _comparison_lines(comparisons: pd.DataFrame, family: str, unit: str = "photos") -> list[str]:
    lines = []
    for c in comparisons[comparisons["family"] == family].itertuples():
        if c.verdict == UNTESTED:
            lines.append(f"- {c.comparison}: {c.verdict} ({c.reason})")
            continue
        rel = "" if math.isnan(c.relative) else f" (rel {c.relative:+.1%})"
        paper = "" if math.isnan(c.paper_relative) else f", paper {c.paper_relative:+.1%}"
        power = "/".join(_fmt(getattr(c, f"power_{k}")) for k in ("paper", "10pct", "30pct"))
        needs = (f"{_fmt(c.seeds_for_80_30pct, '{:.0f}')} runs or "
                 f"{_fmt(getattr(c, f'photos_for_80_30pct_at_{paired.AT_SEEDS}_seeds'), '{:.0f}')} {unit}")
        carried = " (one run carries it)" if c.survives_seed_drop in (False, 0) else ""
        why = f"; {c.reason}" if c.reason else ""
        lines.append(f"- {c.comparison}: {c.difference:.4g}{rel} [{_fmt(c.ci_low, '{:.4g}')}, "
                     f"{_fmt(c.ci_high, '{:.4g}')}]{paper}; {c.n_photos:.0f} {unit}, runs {c.n_train_seeds}, df "
                     f"{_fmt(c.df, '{:.1f}')}; power {power}; 80% needs {needs} -> **{c.verdict}**{carried}{why}")
    return lines


def peers_markdown(comparisons: pd.DataFrame) -> str:
    """results/peers.md: each peer beyond the paper against Ours at the same step count, by the claims' rule."""
    families = [f for f in dict.fromkeys(comparisons.get("family", [])) if f.startswith("peer ")]
    lines = ["# The peers beyond the paper against Ours (CDD)", "",
             "The claims' rule (`cddbench.claims`), each peer's comparisons one family. \"holds\": the peer is "
             "better than Ours at that step count (lower FD / LPIPS). " + RULE.format(a=ALPHA, lv=1 - 2 * ALPHA,
                                                                                  at=paired.AT_SEEDS)]
    if not families:
        return "\n".join(lines + ["", f"No peer ran in this config ({', '.join(PEERS)}; "
                                       "`--configfile configs/peers.yaml` adds them)."])
    for family in families:
        lines += ["", f"## {family[len('peer '):]} against {OURS}:", *_comparison_lines(comparisons, family)]
    return "\n".join(lines)


def tiers_markdown(images: pd.DataFrame, known_answer: pd.DataFrame) -> str:
    """Each claim's verdict on the image tier beside the known-answer tier's (results/claims.csv and
    results/toy/claims.csv), and whether the two agree where both decided."""
    both = images.merge(known_answer, on="claim", suffixes=("_images", "_known_answer"))
    lines = ["# The paper's claims on both tiers", "",
             "The image tier (photographs as the unit, proxy metrics, a teacher trained here) beside the known-answer "
             "tier (independent test conditions, exact teacher, exact metrics; `cddbench.known_answer`), each by the "
             "same rule (`cddbench.claims`). *agree*: both decided and alike; where one tier is inconclusive or "
             "does not test a claim, nothing is compared.", "",
             "| # | claim | images | known answer | agree |", "| --- | --- | --- | --- | --- |"]
    for _, r in both.iterrows():
        a, b = r["verdict_images"], r["verdict_known_answer"]
        agree = ("yes" if a == b else "**no**") if {a, b} <= {HOLDS, FAILS} else "—"
        lines.append(f"| {r['claim']} | {r['text_images']} | {a} | {b} | {agree} |")
    return "\n".join(lines) + "\n"
