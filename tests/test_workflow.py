"""The real DAG, run by snakemake on the smoke config in a temp folder, plus `snakemake --lint`."""
import json
import math
import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import yaml
from snakemake.utils import update_config

from cddbench import data

SNAKEMAKE = [sys.executable, "-m", "snakemake"]
# shell rules call `cddbench` and `papermill`: put this interpreter's bin first, activated venv or not
ENV = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")}


def _workdir(repo, tmp):
    for name in ("Snakefile", "config.yaml", "constraints.txt", "rules", "workflow", "envs", "profiles"):
        src = os.path.join(repo, name)
        (shutil.copytree if os.path.isdir(src) else shutil.copy)(src, os.path.join(tmp, name))
    shutil.copy(os.path.join(repo, "tests", "smoke.yaml"), os.path.join(tmp, "smoke.yaml"))
    return tmp


def reduced_config(repo, methods=("bicubic", "ldm_sr", "cdd")):
    """config.yaml + tests/smoke.yaml cut to one seed, no variants and ``methods``: Table 1 in about 20 jobs."""
    with open(f"{repo}/config.yaml") as f:
        cfg = yaml.safe_load(f)
    with open(f"{repo}/tests/smoke.yaml") as f:
        update_config(cfg, yaml.safe_load(f))
    cfg["methods"] = {k: cfg["methods"][k] for k in methods}
    cfg["variants"], cfg["train_seeds"], cfg["seeds"], cfg["ablation_seeds"] = {}, [0], [0], [0]
    return cfg


def test_lint_reports_no_errors(repo):
    out = subprocess.run(SNAKEMAKE + ["--lint", "-s", f"{repo}/Snakefile", "-d", repo],
                         capture_output=True, text=True, timeout=300, env=ENV)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]


@pytest.mark.e2e
def test_smoke_dag_end_to_end(repo, tmp_path):
    wd = _workdir(repo, str(tmp_path))
    cmd = SNAKEMAKE + ["--cores", "2", "--configfile", "smoke.yaml"]  # the default target: table, gates, figures
    out = subprocess.run(cmd, cwd=wd, capture_output=True, text=True, timeout=2400, env=ENV)
    assert out.returncode == 0, out.stderr[-5000:]

    table = pd.read_csv(os.path.join(wd, "results", "table1.csv"))
    # every row of the paper in its order (LDM-SR-200 is LDM-SR-5 here), StableSR marked, not invented; then the
    # external model (methods.external)
    assert list(table["row"]) == ["Bicubic", "Real-ESRGAN (1)", "StableSR (200)", "LDM-SR (4)", "DPM-Solver (4)",
                                  "DPM-Solver++ (4)", "CM (4)", "GD (4)", "Ours* (4)", "Ours (4)", "External (4)"]
    measured = table[table["run"] != "stablesr"]
    assert (measured["status"] == "measured").all() and table.loc[2, "status"].startswith("not run")
    assert math.isnan(table.loc[2, "fd_proxy_mean"]) and table.loc[2, "paper_fid"] == 24.44
    for col in ("fd_proxy_mean", "lpips_proxy_mean", "psnr_mean", "ssim_mean"):
        assert measured[col].map(math.isfinite).all(), col
    assert not [c for c in table.columns if "seconds" in c]  # wall clock: runs.csv only, Table 1 is reproducible
    runs = pd.read_csv(os.path.join(wd, "results", "runs.csv"))  # every run at every step count
    ablations = ["cdd-init=random", "cdd-time_sampling=per_sample", "cdd-guidance.weight=0.0",
                 "cdd-predictor=ddim_v", "cdd-predictor=ddim_pretrained", "cdd-guidance.distance=l2_pixel",
                 "cdd-guidance.distance=lpips"]
    assert set(zip(runs["run"], runs["steps"])) == {
        ("bicubic", 0), ("esrgan", 1), ("ldm_sr", 4), ("ldm_sr", 5), ("dpm_solver", 4),
        ("dpm_solver-algorithm_type=dpmsolver++", 4), ("cm", 1), ("cm", 4), ("gd", 4), ("cdd", 1), ("cdd", 4),
        ("cdd-regime=adapter", 1), ("cdd-regime=adapter", 4), ("external", 4), ("ldm_sr-init=random", 4),
        ("ldm_sr-init=random", 5)} | {(r, s) for r in ablations for s in (1, 4)}
    for col in ("fd_proxy_mean", "kd_proxy_mean", "lpips_proxy_mean", "psnr_mean", "ssim_mean",
                "seconds_per_image_mean"):
        assert runs[col].map(math.isfinite).all(), col
    assert (runs["metric_backend"] == "proxy").all() and "fid_mean" not in runs
    seeded = runs[~runs["method"].isin(["bicubic", "esrgan"])]  # seeds for Table 1, ablation_seeds ([0]) for the rest
    one_seed = ablations + ["external", "ldm_sr-init=random"]  # the gate's run samples as the ablations do
    assert seeded["n_seeds"].eq(seeded["run"].isin(one_seed).map({True: 1, False: 2})).all()
    # train_seeds ([0, 1]) for every run with a trained model (DPM-Solver: LDM-SR's), one for bicubic and external
    assert runs["n_train_seeds"].eq(runs["run"].isin(["bicubic", "external"]).map({True: 1, False: 2})).all()
    # an external model (methods.external): Table 1's last row, and its own family of paired comparisons
    table = pd.read_csv(os.path.join(wd, "results", "table1.csv"))
    assert table["run"].iloc[-1] == "external" and math.isfinite(table["fd_proxy_mean"].iloc[-1])
    params = runs.drop_duplicates("run").set_index("run")  # Ours* trains the encoder only
    assert 0 < params.loc["cdd-regime=adapter", "params_trained"] < params.loc["cdd", "params_trained"]
    assert params.loc["cdd-regime=adapter", "params_total"] == params.loc["cdd", "params_total"]
    # DPM-Solver samples the LDM-SR model: its params; CM counts LDM-SR's images too
    assert params.loc["dpm_solver", "params_total"] == params.loc["ldm_sr", "params_total"]
    assert params.loc["cm", "images_seen"] == params.loc["ldm_sr", "images_seen"] + 4 * 16
    for f in ("unet/diffusion_pytorch_model.safetensors", "controlnet/diffusion_pytorch_model.safetensors"):
        for t in (0, 1):
            assert os.path.isfile(os.path.join(wd, "results", "models", "cdd", f"train{t}", f)), (t, f)
    # no test photograph, and no test crop, in any training pair (the fine-tunes' data) or the teacher's patches
    pairs = {split: data.load_split(os.path.join(wd, "results", "data", "pairs", split)) for split in ("train", "test")}
    teacher_patches = data.load_split(os.path.join(wd, "results", "data", "patches", "train"))
    assert set(pairs["test"]["source"]).isdisjoint(set(pairs["train"]["source"]) | set(teacher_patches["source"]))
    assert set(pairs["test"]["crop"]).isdisjoint(pairs["train"]["crop"]) and len(set(pairs["test"]["crop"])) > 1
    gates = json.load(open(os.path.join(wd, "results", "quality_gates.json")))
    assert set(gates["prior_matters"]) >= {"fd_proxy", "lpips_proxy", "pass"}  # the gate's run was trained and scored
    # the figure notebooks ran under papermill and drew every figure
    for png in ("teacher_samples.png", "degradations.png", "fig5_ablations.png", "fig3_distance.png",
                "fig3_distance_grid.png", "fig6_qualitative.png", "pareto.png"):
        assert os.path.getsize(os.path.join(wd, "results", "figures", png)) > 10_000, png
    for nb in ("table1", "ablations", "qualitative", "pareto"):
        assert os.path.isfile(os.path.join(wd, "results", "notebooks", f"{nb}.ipynb")), nb
    ablation_rows = pd.read_csv(os.path.join(wd, "results", "ablations.csv"))
    assert set(ablation_rows["run"]) == set(ablations) | {"cdd"} and "not run" not in set(ablation_rows["status"])
    verdicts = pd.read_csv(os.path.join(wd, "results", "claims.csv")).set_index("claim")["verdict"]
    assert list(verdicts.index) == [1, 2, 3, 4, 5, 6, 7]
    # claims 2-7 have their runs here; claim 1 also needs LDM-SR-200, which the smoke config samples as LDM-SR-5
    assert set(verdicts.drop(1)) <= {"holds", "does not hold", "inconclusive"}
    comparisons = pd.read_csv(os.path.join(wd, "results", "claims_comparisons.csv"))
    approach = comparisons[(comparisons["claim"] == 1) & comparisons["comparison"].str.contains("closes")]
    assert len(approach) == 1 and (approach["verdict"] == "not tested").all()
    assert approach["reason"].str.contains("ldm_sr at 200").all()
    # without LDM-SR-200 claim 1 is not tested, unless one of its comparisons already contradicts it
    assert verdicts[1] == ("does not hold" if (comparisons[comparisons["claim"] == 1]["verdict"] == "does not hold").any()
                           else "not tested")
    ext = comparisons[comparisons["family"] == "external external"]
    assert len(ext) == 4 and set(ext["verdict"]) <= {"holds", "does not hold", "inconclusive", "not tested"}
    decided = comparisons[comparisons["verdict"] != "not tested"]
    assert len(decided) > 20 and (decided["ci_low"] <= decided["difference"]).all()
    assert (decided["ci_high"] >= decided["difference"]).all() and (decided["level"] == 0.9).all()
    # the smoke test set is one photograph: its variance is unknown, so nothing is decided (docs/statistics.md)
    assert (decided["verdict"] == "inconclusive").all() and decided["reason"].str.contains("one test photograph").all()

    # the HTML report gathers the table, figures and claims with their captions
    report = subprocess.run(SNAKEMAKE + ["--configfile", "smoke.yaml", "--report", "results/report.html"],
                            cwd=wd, capture_output=True, text=True, timeout=300, env=ENV)
    assert report.returncode == 0, report.stderr[-3000:]
    html = open(os.path.join(wd, "results", "report.html"), encoding="utf-8").read()
    for name in ("fig5_ablations.png", "fig6_qualitative.png", "pareto.png", "claims.csv", "table1.csv"):
        assert name in html, name

    # the maintainers' scripts (workflow/scripts/) on the finished run: the results page and the LR's quality
    page = subprocess.run([sys.executable, "workflow/scripts/results_page.py", "--results", "results", "--commit",
                           "test", "--command", "snakemake", "--wall-minutes", "1", "--date", "today"],
                          cwd=wd, capture_output=True, text=True, timeout=300, env=ENV)
    assert page.returncode == 0, page.stderr[-3000:]
    for heading in ("## Stage times", "## Quality gates", "## Table 1", "## Claims", "## Metric validation"):
        assert heading in page.stdout, heading
    lr = subprocess.run([sys.executable, "workflow/scripts/lr_quality.py", "--results", "results", "--config",
                         "config.yaml", "smoke.yaml"], cwd=wd, capture_output=True, text=True, timeout=300, env=ENV)
    assert lr.returncode == 0 and "| whole crops (the DAG) |" in lr.stdout, lr.stderr[-3000:]

    # A finished DAG plans nothing on a rerun.
    again = subprocess.run(SNAKEMAKE + ["-n", "--cores", "2", "--configfile", "smoke.yaml"],
                           cwd=wd, capture_output=True, text=True, timeout=300, env=ENV)
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.e2e
def test_pretrain_target_exports_a_loadable_teacher_with_its_card(repo, tmp_path):
    """configs/pretrain.yaml's target on the smoke config: the export (model card measurements included) runs and
    what it writes loads with plain diffusers (export-teacher once failed on a context without a device)."""
    wd = _workdir(repo, str(tmp_path))
    out = subprocess.run(SNAKEMAKE + ["results/pretrained/tiny-teacher", "--cores", "2", "--configfile", "smoke.yaml"],
                         cwd=wd, capture_output=True, text=True, timeout=1200, env=ENV)
    assert out.returncode == 0, out.stderr[-5000:]
    from cddbench import models  # noqa: F401  (the torchvision shim diffusers needs here)
    from diffusers import AutoencoderKL, UNet2DConditionModel

    root = os.path.join(wd, "results", "pretrained", "tiny-teacher")
    AutoencoderKL.from_pretrained(root, subfolder="vae")
    UNet2DConditionModel.from_pretrained(root, subfolder="unet")
    with open(os.path.join(root, "card.json")) as f:
        card = json.load(f)
    own = card["training_reference"]
    for value in (card["reconstruction_psnr"], card["reconstruction_fd_proxy"], card["unconditional_fd_proxy"],
                  own["teacher_fd_proxy"], own["autoencoder_fd_proxy"], own["data_fd_proxy"]):
        assert math.isfinite(value)
    assert card["factor_over_floor"] == pytest.approx(own["teacher_fd_proxy"] / own["autoencoder_fd_proxy"])
    assert own["autoencoder_fd_proxy"] > 0 and own["n_images"] > 0
