"""The figures' data and drawing on synthetic results (the notebooks themselves run in the smoke DAG)."""
import numpy as np
import pandas as pd
from PIL import Image

from cddbench import figures, paper


def _summary(runs):
    rows = [{"run": r, "row": r, "steps": s, "n_seeds": 1, "fd_proxy_mean": 1.0 / s, "fd_proxy_std": np.nan,
             "lpips_proxy_mean": 0.5, "lpips_proxy_std": np.nan, "saturation_mean": 0.3, "saturation_std": np.nan,
             "seconds_per_image_mean": 0.01 * s} for r in runs for s in (1, 2, 4, 8)]
    return pd.DataFrame(rows)


def test_ablation_table_has_every_variant_and_marks_the_ones_not_run():
    table = figures.ablation_table(_summary(["cdd", "cdd-init=random"]))
    pretraining = table[table["panel"] == "pretraining"]
    assert list(pretraining["variant"]) == ["pretrained"] * 4 + ["random init"] * 4
    missing = table[table["run"] == "cdd-time_sampling=per_sample"]
    assert len(missing) == 1 and missing["status"].iloc[0] == "not run"
    assert set(table["figure"]) == {"fig5", "fig3"} and (table.loc[table["figure"] == "fig3", "run"].nunique() == 3)


def test_figures_draw_with_missing_runs_and_empty_cells(tmp_path):
    summary = _summary(["cdd", "ldm_sr"])
    figures.steps_panels(summary, paper.FIG5_PANELS, ["fd_proxy", "saturation"], str(tmp_path / "f5.png"),
                         reference={"saturation": 0.35})
    figures.pareto(summary, "fd_proxy", str(tmp_path / "p.png"), runs={"ldm_sr"})
    rng = np.random.default_rng(0)
    folder = tmp_path / "samples"
    folder.mkdir()
    for i in range(5):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(folder / f"{i:05d}.png")
    figures.image_grid([("a", [figures.sample_image(str(folder), 0), None]), ("b", [None, None])],
                       str(tmp_path / "g.png"), crop=10, row_labels=["x", "y"])
    for name in ("f5.png", "p.png", "g.png"):
        assert Image.open(tmp_path / name).size[0] > 100, name


def test_spread_indices_cover_the_test_set():
    assert figures.spread_indices(459, 4) == [0, 153, 305, 458]
    assert figures.spread_indices(2, 4) == [0, 1]
