"""The claims report on synthetic replicates: intervals over photographs and training runs decide every claim;
pairing, the intersection-union / Holm logic, power and the seed-drop check do what cddbench.claims says."""
import json

import numpy as np
import pandas as pd
import pytest

from cddbench import claims, paired, paper

STEPS = [1, 2, 4, 8]
FAMILY = ["cdd-init=random", "cdd-time_sampling=per_sample", "cdd-guidance.weight=0.0",
          "cdd-guidance.distance=l2_pixel", "cdd-guidance.distance=lpips"]
PHOTOS = 14
RUNS = 5


def _cells(good: float, bad: float, noise: float, trend: float, ldm200: float, common: float = 0.3,
           runs: int = RUNS):
    """Ours-family cells at ``good`` FD/LPIPS, the cells the claims say are worse at ``bad``, ``runs`` training
    runs each. Every record's leave-one-photo-out values share a photograph term of size ``common`` (the same
    photograph left out of every run) plus their own ``noise``, which also scatters the runs; ``trend`` > 0 makes
    sharpness fall and saturation rise with steps as the paper says."""
    rng = np.random.default_rng(0)
    photo_term = rng.normal(0, common, PHOTOS) / PHOTOS
    cells = {}

    def add(run, steps, value, sat=0.4, sharp=0.5):
        reps = []
        for t in range(runs):
            shift = rng.normal(0, noise)
            vals = {"fd_proxy": value, "lpips_proxy": value / 4, "saturation": sat, "sharpness": sharp}
            scale = {k: v / value if value else 1 for k, v in vals.items()}
            reps.append(paired.Replicate(0, {k: v + shift * scale[k] for k, v in vals.items()},
                                         {k: v + (shift + photo_term + rng.normal(0, noise, PHOTOS) / PHOTOS)
                                          * scale[k] for k, v in vals.items()}, train_seed=t))
        cells[(run, steps)] = reps

    for i, s in enumerate(STEPS):
        drift = trend * i / 3
        add("cdd", s, good, sharp=0.5 - drift)
        add("cdd-regime=adapter", s, (good + bad) / 2 if trend else good)
        add("cdd-predictor=ddim_v", s, good)
        add("cdd-predictor=ddim_pretrained", s, bad)
        for run in FAMILY:
            add(run, s, bad, sat=0.4 + (trend if "weight" in run else drift if "lpips" in run else 0),
                sharp=0.5 - drift if "pixel" in run else 0.5)
    for run in paper.BASELINES_4:
        add(run, 4, bad)
    add("ldm_sr", 200, ldm200)
    return cells


@pytest.mark.parametrize("case, cells, verdict", [
    ("holds", _cells(good=1.0, bad=2.0, noise=0.01, trend=0.2, ldm200=0.9), claims.HOLDS),
    ("fails", _cells(good=2.0, bad=1.0, noise=0.01, trend=-0.2, ldm200=0.9), claims.FAILS),
    ("overlap", _cells(good=1.98, bad=2.0, noise=0.3, trend=0.0, ldm200=1.97), claims.UNSURE),
])
def test_every_claim_gets_the_verdict_its_numbers_give(case, cells, verdict):
    table, comparisons = claims.evaluate(cells)
    assert list(table["claim"]) == [1, 2, 3, 4, 5, 6, 7]
    assert (table["verdict"] == verdict).all(), comparisons[["claim", "comparison", "verdict"]].to_string()
    # every comparison carries its difference, interval, level, p-values and power
    cols = ["difference", "ci_low", "ci_high", "level", "p_claim", "p_against_holm", "df"]
    assert comparisons[cols].notna().all().all()
    relative = ~comparisons["comparison"].str.contains("closes")  # "approaches" has no baseline to be relative to
    assert comparisons.loc[relative, "power_10pct"].notna().all() and comparisons.loc[~relative, "power_10pct"].isna().all()
    assert np.allclose(comparisons["level"], 1 - 2 * claims.ALPHA) and (comparisons["n_photos"] == PHOTOS).all()
    if case != "overlap":  # five runs, effects far beyond their spread: no one run carries a verdict
        assert comparisons["survives_seed_drop"].astype(bool).all()


def test_a_claim_whose_runs_are_missing_is_not_tested_and_names_them():
    cells = _cells(good=1.0, bad=2.0, noise=0.01, trend=0.2, ldm200=0.9)
    table, comparisons = claims.evaluate({c: r for c, r in cells.items() if c[0] != "cdd-init=random"})
    table = table.set_index("claim")
    assert table.loc[3, "verdict"] == claims.UNTESTED and table.loc[1, "verdict"] == claims.HOLDS
    assert comparisons[comparisons["claim"] == 3]["reason"].str.contains("missing cdd-init=random at 1 steps").any()


def test_pairing_removes_the_shared_photograph_spread():
    """Two runs 0.1 apart whose leave-one-photo-out values share a large photograph term: each run's own interval is
    wide (they overlap), the paired difference's is narrow and decides; with other photograph terms it does not."""
    rng = np.random.default_rng(1)
    shared = rng.normal(0, 0.5, PHOTOS)

    def cell(value, term):
        return [paired.Replicate(0, {"fd_proxy": value + d}, {"fd_proxy": value + d + term
                                                              + rng.normal(0, 0.005, PHOTOS)}, t)
                for t, d in enumerate(rng.normal(0, 0.002, RUNS))]

    cells = {("a", 4): cell(1.0, shared), ("b", 4): cell(1.1, shared)}
    own = paired.contrast(cells, {("a", 4): 1}, "fd_proxy").interval(0.95)
    assert own[1] - own[0] > 0.5  # the unpaired intervals overlap by far
    est = paired.contrast(cells, {("a", 4): 1, ("b", 4): -1}, "fd_proxy")
    low, high = est.interval(0.95)
    assert est.estimate == pytest.approx(-0.1, abs=0.003) and high < 0 and high - low < 0.06
    cells[("b", 4)] = cell(1.1, rng.normal(0, 0.5, PHOTOS))  # not the same photographs' effects: nothing cancels
    assert paired.contrast(cells, {("a", 4): 1, ("b", 4): -1}, "fd_proxy").interval(0.95)[1] > 0


def test_a_stricter_level_widens_the_interval():
    cells = _cells(good=1.0, bad=2.0, noise=0.05, trend=0.2, ldm200=0.9)
    est = paired.contrast(cells, {("cdd", 4): 1, ("cm", 4): -1}, "fd_proxy")
    (lo1, hi1), (lo2, hi2) = est.interval(0.95), est.interval(0.995)
    ratio = (hi2 - lo2) / (hi1 - lo1)
    assert ratio == pytest.approx(est.quantile(0.9975) / est.quantile(0.975)) and ratio > 1.4


def test_records_without_leave_one_photo_out_values_are_an_error_naming_the_run(tmp_path):
    record = {"run": "cdd", "steps": 4, "seed": 0, "fd_proxy": 1.0}
    (tmp_path / "seed0.json").write_text(json.dumps(record))
    np.savez(tmp_path / "seed0.npz", fd_proxy=np.ones(5))  # per-image values only: a record from before the rule
    cells = paired.load([str(tmp_path / "seed0.json")])
    with pytest.raises(ValueError, match=r"cdd at 4 steps, \(training, sampling\) seeds \[\(0, 0\)\]: no "
                                         r"leave-one-photo-out values of fd_proxy.*forcerun evaluate"):
        paired.contrast(cells, {("cdd", 4): 1}, "fd_proxy")


def test_records_of_different_test_photographs_are_an_error(tmp_path):
    for name, photos in (("a", ["x", "y"]), ("b", ["x", "z"])):
        (tmp_path / f"{name}.json").write_text(json.dumps({"run": name, "steps": 4, "seed": 0, "m": 1.0}))
        np.savez(tmp_path / f"{name}.npz", m_loo=np.ones(2), photos=np.array(photos))
    with pytest.raises(ValueError, match="b.json leaves out other test photographs than .*a.json"):
        paired.load([str(tmp_path / "a.json"), str(tmp_path / "b.json")])


def test_real_metric_names_are_used_when_the_records_have_them():
    cells = _cells(good=1.0, bad=2.0, noise=0.01, trend=0.2, ldm200=0.9)
    for reps in cells.values():
        for r in reps:
            for d in (r.values, r.loo):
                d["fid"], d["lpips"] = d.pop("fd_proxy"), d.pop("lpips_proxy")
    table, comparisons = claims.evaluate(cells)
    assert (table["verdict"] == claims.HOLDS).all() and (comparisons["metric"] == "fid").any()
    assert not comparisons["metric"].str.contains("proxy").any()


def test_one_training_run_carries_a_verdict_that_the_report_marks():
    """Ours beats CM far beyond the noise. With five runs the verdict holds and survives dropping any one run; with
    two it still holds (df 1), but dropping either run leaves one, whose training variance is unknown: the row says
    that one run carries it."""
    base = claims.beats("cdd", "cm", "fd_proxy", 4)
    five = claims.decide_family([base], _cells(good=1.0, bad=2.0, noise=0.01, trend=0.2, ldm200=0.9), "test")[0]
    assert five["verdict"] == claims.HOLDS and five["survives_seed_drop"] is True
    two = claims.decide_family([base], _cells(good=1.0, bad=2.0, noise=0.01, trend=0.2, ldm200=0.9, runs=2),
                               "test")[0]
    assert two["df"] == 1 and two["verdict"] == claims.HOLDS and two["survives_seed_drop"] is False
    md = claims._comparison_lines(pd.DataFrame([{**two, "family": "test"}]), "test")[0]
    assert "(one run carries it)" in md


def test_claims_name_their_metrics_and_report_effect_sizes_beside_the_paper_s():
    table, comparisons = claims.evaluate(_cells(good=1.0, bad=2.0, noise=0.01, trend=0.2, ldm200=0.9))
    assert table["metrics"].str.len().gt(20).all() and (table["decided"] == table["comparisons"]).all()
    assert table["survives_seed_drop"].astype(bool).all()
    assert table["median_effect_toward_claim"].gt(0).all()  # every claim holds here: its effects point its way
    row = comparisons.set_index("comparison").loc["fd_proxy@4: cdd beats ldm_sr"]
    assert row["relative"] == pytest.approx(-0.5, abs=0.01) and row["effect_toward_claim"] == -row["relative"]
    assert row["paper_relative"] == pytest.approx((19.64 - 30.99) / 30.99)  # Table 1: Ours-4 vs LDM-SR-4 FID
    # power at the paper's own effect (-36.6%) beats power at 10%, and 80% needs no more runs at 30% than at 10%
    assert row["power_paper"] >= row["power_10pct"] > 0 and row["seeds_for_80_30pct"] <= row["seeds_for_80_10pct"]
    ablation = comparisons[comparisons["comparison"].str.contains("cdd-init=random")]
    assert ablation["paper_relative"].isna().all()  # Fig. 5 gives no numbers to compare with
    assert "judged on FD and LPIPS" in claims.to_markdown(table, comparisons)


def test_each_peer_is_one_family_against_ours_at_its_own_step_counts():
    """SiD-1 better than Ours-1 holds; DMD2-4 worse than Ours-4 does not hold; DMD2-1 against an Ours-1 that is not
    there is not compared; results/peers.md lists both families, and says so when no peer ran."""
    cells = _cells(good=1.0, bad=2.0, noise=0.01, trend=0.2, ldm200=0.9)
    base = dict(cells)
    cells[("sid", 1)] = [paired.Replicate(r.seed, {k: v * 0.5 for k, v in r.values.items()},
                                          {k: v * 0.5 for k, v in r.loo.items()}, r.train_seed)
                         for r in cells[("cdd", 1)]]
    cells[("dmd2", 4)] = cells[("cdd-init=random", 4)]  # at `bad`: worse than Ours-4
    _, comparisons = claims.evaluate(cells)
    peers = comparisons[comparisons["family"].str.startswith("peer ")].set_index("comparison")
    assert set(peers["family"]) == {"peer sid", "peer dmd2"} and len(peers) == 4
    assert (peers.loc[["fd_proxy: sid-1 beats cdd-1", "lpips_proxy: sid-1 beats cdd-1"], "verdict"] == claims.HOLDS).all()
    assert (peers.loc[["fd_proxy: dmd2-4 beats cdd-4", "lpips_proxy: dmd2-4 beats cdd-4"], "verdict"] == claims.FAILS).all()
    assert np.allclose(peers["level"], 1 - 2 * claims.ALPHA)
    failing = peers.loc[["fd_proxy: dmd2-4 beats cdd-4", "lpips_proxy: dmd2-4 beats cdd-4"], "p_against_holm"]
    assert (failing <= claims.ALPHA).all()  # Holm-adjusted within its family of two
    md = claims.peers_markdown(comparisons)
    assert "## sid against cdd" in md and "## dmd2 against cdd" in md and "dmd2-4 beats cdd-4" in md
    assert "No peer ran" in claims.peers_markdown(claims.evaluate(base)[1])


@pytest.mark.parametrize("ours, spread, verdict", [
    (1.00, 0.001, claims.HOLDS),  # a tie, measured tightly
    (1.05, 0.001, claims.HOLDS),  # worse, but by less than TIE_MARGIN (10%)
    (1.00, 3.00, claims.UNSURE),  # an interval too wide to tell is not a tie
    (1.30, 0.001, claims.FAILS),  # worse by more than the margin
])
def test_a_tie_claim_is_the_contrast_a_minus_1_1_b(ours, spread, verdict):
    """PREv >= DDIM-v: holds when PREv - 1.1 x DDIM-v is below 0, DDIM-v's uncertainty included."""
    rng = np.random.default_rng(2)
    shared = rng.normal(0, 0.3, PHOTOS) / PHOTOS

    def cell(value, sd):  # five training runs sd apart
        return [paired.Replicate(0, {"fd_proxy": value + d}, {"fd_proxy": value + d + shared}, train_seed=t)
                for t, d in enumerate(np.linspace(-sd / 2, sd / 2, RUNS))]

    cells = {("cdd", 4): cell(ours, spread), ("cdd-predictor=ddim_v", 4): cell(1.0, 0.0)}
    comparison = claims.beats("cdd", "cdd-predictor=ddim_v", "fd_proxy", 4, tie_allowed=True)
    assert comparison.weights == {("cdd", 4): 1.0, ("cdd-predictor=ddim_v", 4): -1.1}
    row = claims.decide_family([comparison], cells, "test")[0]
    assert row["verdict"] == verdict, row


def test_dropping_the_only_run_of_a_cell_leaves_it_undecided_not_crashed():
    cells = _cells(good=1.0, bad=2.0, noise=0.01, trend=0.2, ldm200=0.9)
    cells[("cm", 4)] = cells[("cm", 4)][:1] + [r for r in cells[("cm", 4)][1:2]]  # runs 0 and 1 only
    cells[("gd", 4)] = [r for r in cells[("gd", 4)] if r.train_seed == 4]  # run 4 only: undecidable
    rows = claims.decide_family([claims.beats("cdd", "cm", "fd_proxy", 4), claims.beats("cdd", "gd", "fd_proxy", 4)],
                                cells, "test")
    assert rows[1]["verdict"] == claims.UNSURE and "one training run of gd@4" in rows[1]["reason"]
    assert rows[0]["df"] == 1  # fewest runs 2: df min(P - 1, T - 1)


def test_the_tiers_page_compares_only_claims_both_tiers_decided():
    images = pd.DataFrame({"claim": [1, 2, 3], "text": ["a", "b", "c"], "verdict": ["holds", "holds", "inconclusive"]})
    toy = pd.DataFrame({"claim": [1, 2, 3], "text": ["a", "b", "c"],
                        "verdict": ["holds", "does not hold", "holds"]})
    rows = [line for line in claims.tiers_markdown(images, toy).splitlines() if line.startswith("| ") and
            line[2].isdigit()]
    assert [r.rsplit("|", 2)[1].strip() for r in rows] == ["yes", "**no**", "—"]


def test_an_anchor_s_family_names_its_own_references_and_claim_numbers_stay_integers(tmp_path):
    """The released Real-ESRGAN (configs/anchors.yaml) is compared with esrgan-1 and bicubic-0, and claims.md's
    heading says so (not Ours-4 / LDM-SR-200, the references of other external models); its rows have no claim,
    and the CSV still writes the paper's claims as 1..7, not 1.0..7.0."""
    cells = _cells(good=1.0, bad=2.0, noise=0.01, trend=0.2, ldm200=0.9)
    cells[("esrgan", 1)] = cells[("cm", 4)]
    cells[("bicubic", 0)] = [paired.Replicate(0, r.values, r.loo, trained=False) for r in cells[("cm", 4)][:1]]
    cells[("realesrgan_x4plus", 1)] = [paired.Replicate(0, r.values, r.loo, trained=False)
                                       for r in cells[("cdd", 4)][:1]]
    table, comparisons = claims.evaluate(cells)
    md = claims.to_markdown(table, comparisons)
    assert "realesrgan_x4plus (an external model, not a claim of the paper) against esrgan-1 and bicubic-0" in md
    assert "against Ours-4" not in md
    comparisons.to_csv(tmp_path / "c.csv", index=False)
    written = pd.read_csv(tmp_path / "c.csv", dtype=str, keep_default_na=False)
    assert set(written["claim"]) == {"1", "2", "3", "4", "5", "6", "7", ""}
