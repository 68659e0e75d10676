import math

import pandas as pd
import pytest

from cddbench import report


def _records(backend="proxy"):
    fd = "fd_proxy" if backend == "proxy" else "fid"
    rows = []
    for run, steps, nfe, vals in [("ldm_sr", 200, 200, [1.0, 1.2]), ("bicubic", 0, 0, [5.0]),
                                  ("cdd", 4, 4, [2.0, 2.2]), ("cdd", 1, 1, [4.0, 4.4]), ("ldm_sr", 4, 4, [3.0, 3.4]),
                                  ("cdd-regime=adapter", 4, 4, [2.5, 2.7]), ("cdd-init=random", 4, 4, [9.0, 9.9])]:
        for seed, v in enumerate(vals):
            rows.append({"run": run, "method": run.split("-")[0], "steps": steps, "seed": seed, "nfe": nfe, "n_images": 10,
                         "metric_backend": backend, fd: v, "psnr": 20 + v, "seconds_per_image": 0.1 * nfe})
    return pd.DataFrame(rows)


def test_table_aggregates_over_seeds_in_paper_order():
    t = report.table1(report.summarize(_records(), {"ldm_sr": {"params_trained": 5, "params_total": 7}}))
    assert list(zip(t["run"], t["steps"])) == [("bicubic", 0), ("stablesr", 200), ("ldm_sr", 4),
                                               ("cdd-regime=adapter", 4), ("cdd", 4), ("ldm_sr", 200)]
    assert list(t["row"]) == ["Bicubic", "StableSR (200)", "LDM-SR (4)", "Ours* (4)", "Ours (4)", "LDM-SR (200)"]
    assert t.iloc[1]["status"].startswith("not run") and math.isnan(t.iloc[1]["fd_proxy_mean"])
    assert t.iloc[1]["paper_fid"] == 24.44  # the paper's number beside an explicit "not run", no invented ours
    row = t.iloc[2]
    assert row["fd_proxy_mean"] == pytest.approx(3.2) and row["fd_proxy_std"] == pytest.approx(0.2828427, rel=1e-6)
    assert row["n_seeds"] == 2 and row["params_trained"] == 5 and row["row"] == "LDM-SR (4)"
    assert row["paper_fid"] == 30.99 and row["paper_lpips"] == 0.3070
    assert math.isnan(t.iloc[0]["paper_fid"]) and math.isnan(t.iloc[0]["fd_proxy_std"])
    assert "fid_mean" not in t.columns  # a proxy never appears under the real metric's name


def test_summary_keeps_every_run_and_step_count():
    s = report.summarize(_records(), {})
    assert len(s) == 7 and ("cdd", 1) in set(zip(s["run"], s["steps"]))
    assert s.set_index("run").loc["cdd-init=random", "row"] == "Ours [init=random] (4)"
    assert math.isnan(s[(s["run"] == "cdd") & (s["steps"] == 1)]["paper_fid"].iloc[0])


def test_markdown_names_the_backend_metric():
    md = report.to_markdown(report.table1(report.summarize(_records(), {})))
    assert "fd_proxy" in md and "| fid" not in md and "3.2 ± 0.28" in md
    assert "| StableSR (200) |" in md and "not run" in md


def test_a_training_free_method_reports_the_params_of_the_model_it_samples():
    recs = pd.concat([_records(), _records().query("run == 'ldm_sr'").assign(run="dpm_solver", method="dpm_solver")])
    s = report.summarize(recs, {"ldm_sr": {"params_trained": 5, "params_total": 7, "images_seen": 64}})
    row = s[s["run"] == "dpm_solver"].iloc[0]
    assert (row["params_trained"], row["params_total"], row["images_seen"]) == (5, 7, 64)


def test_mixed_backends_are_refused():
    mixed = pd.concat([_records("proxy"), _records("standard")])
    with pytest.raises(ValueError, match="mix metric backends"):
        report.summarize(mixed, {})


def test_notes_state_budgets_not_run_rows_and_method_caveats():
    recs = pd.concat([_records(), _records().query("run == 'bicubic'").assign(run="esrgan", method="esrgan", steps=1)])
    params = {"ldm_sr": {"images_seen": 64000}, "esrgan": {"images_seen": 32000}}
    notes = report.table_notes(report.table1(report.summarize(recs, params)), {})
    assert "LDM-SR (4) 64,000" in notes and "Real-ESRGAN (1) 32,000" in notes
    assert "- StableSR (200): not run" in notes
    assert "- Real-ESRGAN: its perceptual loss" in notes and "**proxy**" in notes


def test_cell_intervals_come_from_the_photograph_rule():
    row = report.summarize(_records(), {}, {("ldm_sr", 4): {"fd_proxy": (3.1, 3.5)}}).set_index(["run", "steps"])
    assert (row.loc[("ldm_sr", 4), "fd_proxy_ci_low"], row.loc[("ldm_sr", 4), "fd_proxy_ci_high"]) == (3.1, 3.5)
    md = report.to_markdown(report.table1(report.summarize(_records(), {}, {("ldm_sr", 4): {"fd_proxy": (3.1, 3.5)}})))
    assert "3.2 ± 0.28 [3.1, 3.5]" in md  # mean ± std over seeds [95% interval]


def test_peers_get_a_block_beyond_the_paper_with_ours_1_beside_them():
    """Without a peer the table is the paper's rows only (Ours-1 is not a Table 1 row); with SiD / DMD2 records a
    block follows LDM-SR (200): Ours (1), SiD (1), DMD2 (1), DMD2 (4), under a header row in the markdown."""
    assert ("cdd", 1) not in set(zip(*[report.table1(report.summarize(_records(), {}))[c] for c in ("run", "steps")]))
    peers = pd.concat([_records().query("run == 'cdd' and steps == 1").assign(run=r, method=r, steps=s)
                       for r, s in [("dmd2", 4), ("sid", 1), ("dmd2", 1)]])
    t = report.table1(report.summarize(pd.concat([_records(), peers]), {}))
    assert list(t["row"])[-5:] == ["LDM-SR (200)", "Ours (1)", "SiD (1)", "DMD2 (1)", "DMD2 (4)"]
    md = report.to_markdown(t).splitlines()
    header = next(i for i, line in enumerate(md) if "**beyond the paper**" in line)
    assert md[header - 1].startswith("| LDM-SR (200) ") and md[header + 1].startswith("| Ours (1) ")
