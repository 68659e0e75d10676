"""The paper's seven claims (docs: README "Claims"), each decided on the metric records, never written by hand.

Every claim is a family of *comparisons*, each a contrast of (run, steps) cells on one metric (``cddbench.paired``):
"A beats B on M at k steps" is M(A, k) - M(B, k); a trend is M(run, most steps) - M(run, fewest); "approaches
LDM-SR-200" is M(Ours-4) - M(LDM-SR-200) - APPROACH x (M(LDM-SR-4) - M(LDM-SR-200)). Each gets a paired bootstrap
interval (the same test-image resamples, and the same seed draws when the runs share seeds) at the family-wise
level 1 - FAMILY_ALPHA over the claim's comparisons (Bonferroni: each at 1 - FAMILY_ALPHA / m). A comparison
*holds* when its interval lies wholly on the claimed side of 0, *does not hold* when wholly on the other side, and is
*inconclusive* otherwise; its half-width is the smallest difference it could have detected. A ">=" comparison (a tie
is allowed) is a non-inferiority test: it holds when its interval excludes being worse by more than TIE_MARGIN of the
baseline's value, does not hold when the interval lies wholly beyond that margin, and is inconclusive otherwise (an
interval too wide to tell is not a tie). A claim holds when all its comparisons hold, does not hold when any does
not, and is otherwise inconclusive; a claim whose runs the config did not ask for is *not tested* (the runs it needs
are named).

FAMILY_ALPHA, APPROACH and the comparisons below were fixed before any run of this rule; they are not tuned.
TIE_MARGIN came later (2026-12-05), when a run showed the old ">=" rule calling an interval of +-3.1 around an FD of
0.43 a tie; no claim's verdict of that run depends on its value (docs/results.md).
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
FAMILY_ALPHA = 0.05  # family-wise error rate of each claim (Bonferroni over its comparisons)
APPROACH = 0.5  # "approaches LDM-SR-200": Ours-4 closes at least half of LDM-SR-4's gap to LDM-SR-200
TIE_MARGIN = 0.10  # ">=": at most 10% worse than the baseline counts as a tie (non-inferiority margin)


@dataclass
class Comparison:
    """The claim that sum_c weights[c] x metric(c) is below 0 (above 0 when ``higher_is_better``)."""
    name: str
    metric: str
    weights: dict[paired.Cell, float]
    higher_is_better: bool = False
    tie_allowed: bool = False  # ">=" claims: non-inferiority within TIE_MARGIN of the baseline (decide())
    baseline: paired.Cell | None = None  # the cell the difference is relative to (effect size)


def beats(a: str, b: str, metric: str, steps: int, higher_is_better: bool = False, **kw) -> Comparison:
    return Comparison(f"{metric}@{steps}: {a} beats {b}", metric, {(a, steps): 1.0, (b, steps): -1.0},
                      higher_is_better, baseline=(b, steps), **kw)


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
    standard = any("fid" in r.values for reps in cells.values() for r in reps)
    return ("fid", "lpips") if standard else ("fd_proxy", "lpips_proxy")


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


def external_comparisons(cells) -> dict[str, list[Comparison]]:
    """{external run: "it beats each reference" on FD and LPIPS at each of its step counts}, one family per run."""
    fd, lp = _names(cells)
    runs = sorted({r for r, _ in cells if r == "external" or r.startswith("external-")})
    return {run: [Comparison(f"{m}: {run}-{s} beats {ref}-{rs}", m, {(run, s): 1.0, (ref, rs): -1.0},
                             baseline=(ref, rs))
                  for s in _steps(cells, run) for ref, rs in EXTERNAL_REFERENCES for m in (fd, lp)]
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


def decide(comparison: Comparison, cells, alpha: float) -> dict:
    """One comparison's row: the contrast, its interval at level 1 - alpha, effect sizes and the verdict."""
    row = {"comparison": comparison.name, "metric": comparison.metric}
    missing = sorted({f"{r} at {s} steps" for r, s in comparison.weights if (r, s) not in cells})
    if missing:
        return {**row, "verdict": UNTESTED, "reason": f"missing {', '.join(missing)}"}
    est = paired.contrast(cells, comparison.weights, comparison.metric, alpha)
    base = comparison.baseline
    scale = abs(float(np.mean([r.values[comparison.metric] for r in cells[base]]))) if base else float("nan")
    margin = TIE_MARGIN * scale if comparison.tie_allowed else 0.0
    # the interval's bounds toward "worse" and toward "better", as amounts by which the claim's side is worse
    worst, best = (-est["low"], -est["high"]) if comparison.higher_is_better else (est["high"], est["low"])
    # with a margin (">="): worse by less than the margin holds, wholly beyond it does not (non-inferiority)
    verdict = HOLDS if worst < margin else FAILS if best > margin else UNSURE
    relative = est["estimate"] / scale
    return {**row, "difference": est["estimate"], "relative": relative,
            "effect_toward_claim": relative if comparison.higher_is_better else -relative,
            "mdd_relative": est["half_width"] / scale, "paper_relative": _paper_relative(comparison),
            "ci_low": est["low"], "ci_high": est["high"],
            "level": est["level"], "min_detectable": est["half_width"], "df": est["df"],
            "sd_images": est["sd_images"], "sd_replicates": est["sd_replicates"],
            "replicate_level": est["replicate_level"], "paired_replicates": est["paired_replicates"],
            "n_replicates": " ".join(f"{k}:{v}" for k, v in est["n_replicates"].items()),
            "n_resamples": est["n_resamples"], "verdict": verdict, "reason": ""}


def combine(verdicts: list[str]) -> str:
    if FAILS in verdicts:
        return FAILS
    if UNTESTED in verdicts:
        return UNTESTED
    return HOLDS if all(v == HOLDS for v in verdicts) else UNSURE


def evaluate(cells: dict[paired.Cell, list[paired.Replicate]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(claims, comparisons): one row per claim with its verdict, one row per comparison with the numbers."""
    claims, rows = [], []
    for number, text, check, judged_on in CLAIMS:
        parts = check(cells)
        comparisons = [p for p in parts if isinstance(p, Comparison)]
        alpha = FAMILY_ALPHA / max(len(comparisons), 1)
        found = [decide(c, cells, alpha) for c in comparisons]
        found += [{"comparison": p, "verdict": UNTESTED, "reason": p} for p in parts if isinstance(p, str)]
        rows += [{"claim": number, "family": f"claim {number}", **r} for r in found]
        effects = [r["effect_toward_claim"] for r in found if not math.isnan(r.get("effect_toward_claim", math.nan))]
        claims.append({"claim": number, "text": text, "verdict": combine([r["verdict"] for r in found]),
                       "metrics": judged_on, "comparisons": len(found),
                       "decided": sum(r["verdict"] in (HOLDS, FAILS) for r in found),
                       "median_effect_toward_claim": float(np.median(effects)) if effects else math.nan,
                       "family_level": 1 - FAMILY_ALPHA})
    for run, comparisons in external_comparisons(cells).items():  # not claims of the paper: rows of their own
        alpha = FAMILY_ALPHA / len(comparisons)
        rows += [{"claim": math.nan, "family": f"external {run}", **decide(c, cells, alpha)} for c in comparisons]
    for run, comparisons in peer_comparisons(cells).items():  # beyond the paper (results/peers.md)
        alpha = FAMILY_ALPHA / max(len(comparisons), 1)
        rows += [{"claim": math.nan, "family": f"peer {run}", **decide(c, cells, alpha)} for c in comparisons]
    return pd.DataFrame(claims), pd.DataFrame(rows)


def to_markdown(claims: pd.DataFrame, comparisons: pd.DataFrame) -> str:
    lines = [f"Paired intervals over test images and training / sampling replicates (`cddbench.paired`); each "
             f"claim's comparisons at family-wise level {1 - FAMILY_ALPHA:g} (Bonferroni). `rel`: the difference "
             "relative to the baseline cell; `mdd`: the half-width, the smallest difference the comparison could "
             "detect (relative in brackets); `paper`: the paper's own relative difference where its Table 1 has both "
             "rows.", "",
             "| # | claim | verdict | decided | median effect toward the claim |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {r.claim} | {r.text} | **{r.verdict}** | {r.decided} of {r.comparisons} | "
              + ("—" if math.isnan(r.median_effect_toward_claim) else f"{r.median_effect_toward_claim:+.1%}")
              + " |" for r in claims.itertuples()]
    sections = [(f"claim {r.claim}", f"Claim {r.claim} ({r.verdict}), judged on {r.metrics}:")
                for r in claims.itertuples()]
    sections += [(k, f"{k[len('external '):]} (an external model, not a claim of the paper) against Ours-4 and "
                     "LDM-SR-200, one family:") for k in dict.fromkeys(comparisons.get("family", []))
                 if k.startswith("external ")]
    for family, title in sections:
        lines += ["", title, *_comparison_lines(comparisons, family)]
    return "\n".join(lines)


def _comparison_lines(comparisons: pd.DataFrame, family: str) -> list[str]:
    lines = []
    for c in comparisons[comparisons["family"] == family].itertuples():
        if c.verdict == UNTESTED:
            lines.append(f"- {c.comparison}: {c.verdict} ({c.reason})")
            continue
        rel = "" if math.isnan(c.relative) else f" (rel {c.relative:+.1%})"
        mdd = "" if math.isnan(c.mdd_relative) else f" ({c.mdd_relative:.1%})"
        paper = "" if math.isnan(c.paper_relative) else f", paper {c.paper_relative:+.1%}"
        lines.append(f"- {c.comparison}: difference {c.difference:.4g}{rel} [{c.ci_low:.4g}, {c.ci_high:.4g}] "
                     f"at {c.level:.4f}, mdd {c.min_detectable:.3g}{mdd}{paper} -> {c.verdict}")
    return lines


def peers_markdown(comparisons: pd.DataFrame) -> str:
    """results/peers.md: each peer beyond the paper against Ours at the same step count, by the claims' rule."""
    families = [f for f in dict.fromkeys(comparisons.get("family", [])) if f.startswith("peer ")]
    lines = ["# The peers beyond the paper against Ours (CDD)", "",
             f"The claims' rule (`cddbench.claims`): paired intervals over test images and training / sampling "
             f"replicates (`cddbench.paired`), each peer's comparisons one family at level {1 - FAMILY_ALPHA:g} "
             "(Bonferroni). \"holds\": the peer is better than Ours at that step count (lower FD / LPIPS)."]
    if not families:
        return "\n".join(lines + ["", f"No peer ran in this config ({', '.join(PEERS)}; "
                                       "`--configfile configs/peers.yaml` adds them)."])
    for family in families:
        lines += ["", f"## {family[len('peer '):]} against {OURS}:", *_comparison_lines(comparisons, family)]
    return "\n".join(lines)
