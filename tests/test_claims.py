"""The claims report's logic on synthetic result tables: every claim holds, fails, or is inconclusive."""
import pandas as pd
import pytest

from cddbench import claims

STEPS = [1, 2, 4, 8]
FAMILY = ["cdd-init=random", "cdd-time_sampling=per_sample", "cdd-guidance.weight=0.0",
          "cdd-guidance.distance=l2_pixel", "cdd-guidance.distance=lpips"]


def _summary(good: float, bad: float, std: float, trend: float, ldm200: float) -> pd.DataFrame:
    """Ours-family rows at ``good`` FD/LPIPS, the rows the claims say are worse at ``bad``; ``trend`` > 0 makes
    sharpness fall and saturation rise with steps as the paper says (< 0: the opposite)."""
    rows = []

    def add(run, steps, value, sat=0.4, sharp=0.5):
        rows.append({"run": run, "steps": steps, "n_seeds": 2, "fd_proxy_mean": value, "fd_proxy_std": std,
                     "lpips_proxy_mean": value / 4, "lpips_proxy_std": std / 4, "saturation_mean": sat,
                     "saturation_std": 0.01, "sharpness_mean": sharp, "sharpness_std": 0.01})

    for i, s in enumerate(STEPS):
        drift = trend * i / 3
        add("cdd", s, good, sharp=0.5 - drift)
        add("cdd-regime=adapter", s, (good + bad) / 2 if trend else good)
        add("cdd-predictor=ddim_v", s, good)
        add("cdd-predictor=ddim_pretrained", s, bad)
        for run in FAMILY:
            add(run, s, bad, sat=0.4 + (trend if "weight" in run else drift if "lpips" in run else 0),
                sharp=0.5 - drift if "pixel" in run else 0.5)
    for run in claims.BASELINES_4:
        add(run, 4, bad)
    add("ldm_sr", 200, ldm200)
    return pd.DataFrame(rows)


@pytest.mark.parametrize("case, table, verdict", [
    ("holds", _summary(good=1.0, bad=2.0, std=0.01, trend=0.2, ldm200=0.9), claims.HOLDS),
    ("fails", _summary(good=2.0, bad=1.0, std=0.01, trend=-0.2, ldm200=0.9), claims.FAILS),
    ("overlap", _summary(good=1.8, bad=2.0, std=0.2, trend=0.0, ldm200=1.75), claims.UNSURE),
])
def test_every_claim_gets_the_verdict_its_numbers_give(case, table, verdict):
    out = claims.evaluate(table)
    assert list(out["claim"]) == [1, 2, 3, 4, 5, 6, 7]
    assert (out["verdict"] == verdict).all(), out[["claim", "verdict", "evidence"]].to_string()


def test_a_claim_whose_runs_are_missing_is_not_tested_and_names_them():
    table = _summary(good=1.0, bad=2.0, std=0.01, trend=0.2, ldm200=0.9)
    out = claims.evaluate(table[table["run"] != "cdd-init=random"]).set_index("claim")
    assert out.loc[3, "verdict"] == claims.UNTESTED and "missing cdd-init=random" in out.loc[3, "evidence"]
    assert out.loc[1, "verdict"] == claims.HOLDS


def test_real_metric_names_are_used_when_the_records_have_them():
    table = _summary(good=1.0, bad=2.0, std=0.01, trend=0.2, ldm200=0.9)
    real = table.rename(columns=lambda c: c.replace("fd_proxy", "fid").replace("lpips_proxy", "lpips"))
    out = claims.evaluate(real)
    assert (out["verdict"] == claims.HOLDS).all() and "fid@4" in out.loc[0, "evidence"]
    assert "fd_proxy" not in " ".join(out["evidence"])


def test_a_bootstrap_interval_widens_the_seed_interval():
    row = pd.Series({"fd_proxy_mean": 1.0, "fd_proxy_std": 0.01, "fd_proxy_ci_low": 0.8, "fd_proxy_ci_high": 1.2})
    assert claims.interval(row, "fd_proxy") == pytest.approx((0.8, 1.0, 1.2))
