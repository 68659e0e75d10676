"""The paper's seven claims (../shared/METHOD.md), each tested on the results files, never written by hand.

A row's interval for a metric is mean ± max(2 x the std over seeds, the bootstrap 95% half-width over test images
when the record has one). "A beats B" *holds* when A's interval lies wholly below B's (lower is better for FD and
LPIPS), *does not hold* when it lies wholly above, and is *inconclusive* when they overlap. A claim made of several
comparisons holds when all hold, does not hold when any does not, and is otherwise inconclusive; a claim whose runs
the config did not ask for is *not tested* (the runs it needs are named).
"""
from __future__ import annotations

import math

import pandas as pd

HOLDS, FAILS, UNSURE, UNTESTED = "holds", "does not hold", "inconclusive (CIs overlap)", "not tested"
# Runs the claims read (config variants are named <method>-<key>=<value>, cddbench.config.runs).
OURS, OURS_STAR = "cdd", "cdd-regime=adapter"
BASELINES_4 = ["ldm_sr", "dpm_solver", "dpm_solver-algorithm_type=dpmsolver++", "cm", "gd"]
APPROACH = 0.5  # "approaches LDM-SR-200": Ours-4 closes at least half of LDM-SR-4's gap to LDM-SR-200 (FD means)


def metric_names(summary: pd.DataFrame) -> tuple[str, str]:
    """(FD, LPIPS) column stems of the backend the records used: fid/lpips, or the labelled proxies."""
    return ("fid", "lpips") if "fid_mean" in summary else ("fd_proxy", "lpips_proxy")


def interval(row: pd.Series, metric: str) -> tuple[float, float, float]:
    mean, std = row[f"{metric}_mean"], row.get(f"{metric}_std", math.nan)
    half = 0.0 if std != std else 2 * std
    lo, hi = row.get(f"{metric}_ci_low", math.nan), row.get(f"{metric}_ci_high", math.nan)
    if lo == lo and hi == hi:
        half = max(half, (hi - lo) / 2)
    return mean - half, mean, mean + half


def _row(summary, run, steps):
    hit = summary[(summary["run"] == run) & (summary["steps"] == steps)]
    return None if hit.empty else hit.iloc[0]


def compare(summary: pd.DataFrame, a: str, b: str, metric: str, steps: int, higher_is_better: bool = False):
    """(verdict, evidence) of "run a beats run b on metric at steps"."""
    ra, rb = _row(summary, a, steps), _row(summary, b, steps)
    if ra is None or rb is None or f"{metric}_mean" not in summary:
        missing = [r for r, x in ((a, ra), (b, rb)) if x is None] or [metric]
        return UNTESTED, f"{a} vs {b} at {steps} steps: missing {', '.join(missing)}"
    ia, ib = interval(ra, metric), interval(rb, metric)
    below, above = ia[2] < ib[0], ia[0] > ib[2]
    verdict = HOLDS if (above if higher_is_better else below) else FAILS if (below if higher_is_better else above) \
        else UNSURE
    return verdict, f"{metric}@{steps}: {a} {_fmt(ia)} vs {b} {_fmt(ib)}"


def _fmt(iv) -> str:
    return f"{iv[1]:.4g} [{iv[0]:.4g}, {iv[2]:.4g}]"


def combine(verdicts: list[str]) -> str:
    if FAILS in verdicts:
        return FAILS
    if UNTESTED in verdicts:
        return UNTESTED
    return HOLDS if all(v == HOLDS for v in verdicts) else UNSURE


def _all(parts: list[tuple[str, str]]) -> tuple[str, list[str]]:
    return combine([v for v, _ in parts]), list(dict.fromkeys(f"{e} -> {v}" for v, e in parts))


def _steps(summary, run) -> list[int]:
    return sorted(int(s) for s in summary.loc[summary["run"] == run, "steps"])


def _over_steps(summary, a, b, metrics) -> list[tuple[str, str]]:
    steps = _steps(summary, a) or [4]
    return [compare(summary, a, b, m, s) for s in steps for m in metrics]


def claim_1(summary):
    fd, lp = metric_names(summary)
    parts = [compare(summary, OURS, b, m, 4) for b in BASELINES_4 + [OURS_STAR] for m in (fd, lp)]
    ours, ldm4, ldm200 = (_row(summary, r, s) for r, s in ((OURS, 4), ("ldm_sr", 4), ("ldm_sr", 200)))
    if any(r is None for r in (ours, ldm4, ldm200)):
        parts.append((UNTESTED, "approach: needs Ours-4, LDM-SR-4 and LDM-SR-200"))
    else:
        gap4, gap = ldm4[f"{fd}_mean"] - ldm200[f"{fd}_mean"], ours[f"{fd}_mean"] - ldm200[f"{fd}_mean"]
        ok = gap4 > 0 and gap <= APPROACH * gap4
        parts.append((HOLDS if ok else FAILS, f"approach LDM-SR-200 on {fd}: Ours-4 gap {gap:.4g} vs LDM-SR-4 gap "
                                             f"{gap4:.4g} (needs <= {APPROACH:g}x)"))
    return _all(parts)


def claim_2(summary):
    fd, lp = metric_names(summary)
    return _all([compare(summary, OURS_STAR, b, m, 4) for b in BASELINES_4 for m in (fd, lp)])


def _variant_claim(variant):
    def check(summary):
        fd, lp = metric_names(summary)
        return _all(_over_steps(summary, OURS, variant, (fd, lp)))
    return check


def _trend(summary, run, stat, rising: bool) -> tuple[str, str]:
    """Does ``stat`` rise (or fall) from the fewest to the most sampling steps of ``run``, beyond the intervals?"""
    steps = _steps(summary, run)
    if len(steps) < 2 or f"{stat}_mean" not in summary:
        return UNTESTED, f"{stat} trend of {run}: needs {stat} at two or more step counts"
    first, last = interval(_row(summary, run, steps[0]), stat), interval(_row(summary, run, steps[-1]), stat)
    up, down = last[0] > first[2], last[2] < first[0]
    verdict = HOLDS if (up if rising else down) else FAILS if (down if rising else up) else UNSURE
    return verdict, (f"{stat} of {run} {'rises' if rising else 'falls'} with steps: {_fmt(first)} at {steps[0]} "
                     f"-> {_fmt(last)} at {steps[-1]}")


def claim_5(summary):
    fd, lp = metric_names(summary)
    parts = _over_steps(summary, OURS, "cdd-guidance.weight=0.0", (fd, lp))
    parts += [compare(summary, "cdd-guidance.weight=0.0", OURS, "saturation", s, higher_is_better=True)
              for s in _steps(summary, OURS) or [4]]  # lambda = 0 is the more saturated
    return _all(parts)


def claim_6(summary):
    fd, lp = metric_names(summary)
    ddim_v, pretrained = "cdd-predictor=ddim_v", "cdd-predictor=ddim_pretrained"
    # PREv >= DDIM-v: only a significant loss of PREv contradicts it (a tie is consistent with ">=")
    ge = [(HOLDS if v == UNSURE else v, e) for v, e in _over_steps(summary, OURS, ddim_v, (fd,))]
    return _all(ge + _over_steps(summary, ddim_v, pretrained, (fd, lp)))


def claim_7(summary):
    fd, _ = metric_names(summary)
    pixel, lpips = "cdd-guidance.distance=l2_pixel", "cdd-guidance.distance=lpips"
    parts = [compare(summary, OURS, other, fd, 4) for other in (pixel, lpips)]
    parts += [_trend(summary, run, "sharpness", rising=False) for run in (OURS, pixel)]  # blurrier with steps
    parts.append(_trend(summary, lpips, "saturation", rising=True))  # LPIPS over-saturates with steps
    return _all(parts)


CLAIMS = [
    (1, "Ours-4 beats every other 4-step row on FID and LPIPS, and approaches LDM-SR-200", claim_1),
    (2, "Ours*-4 beats the 4-step baselines while training only the encoder", claim_2),
    (3, "Pretrained init beats random init (Fig. 5)", _variant_claim("cdd-init=random")),
    (4, "One t per batch beats one t per sample (Fig. 5)", _variant_claim("cdd-time_sampling=per_sample")),
    (5, "CG (lambda = 1) beats lambda = 0; without CG results drift towards over-saturation (Fig. 5)", claim_5),
    (6, "PREv >= DDIM-v >> DDIM with the pretrained model (Fig. 5)", claim_6),
    (7, "d_x = L2 latent gives the best FID at 4 steps; L2 pixel/latent get blurrier and LPIPS over-saturated "
        "as steps grow (Fig. 3)", claim_7),
]


def evaluate(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per claim: its text, verdict and the numbers that decided it."""
    rows = []
    for number, text, check in CLAIMS:
        verdict, evidence = check(summary)
        rows.append({"claim": number, "text": text, "verdict": verdict, "evidence": "; ".join(evidence)})
    return pd.DataFrame(rows)


def to_markdown(claims: pd.DataFrame) -> str:
    lines = ["| # | claim | verdict |", "| --- | --- | --- |"]
    lines += [f"| {r.claim} | {r.text} | **{r.verdict}** |" for r in claims.itertuples()]
    lines.append("")
    lines += [f"- Claim {r.claim}: " + r.evidence.replace("; ", "; ") for r in claims.itertuples()]
    return "\n".join(lines)
