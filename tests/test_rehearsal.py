"""The paper path's dress rehearsal: configs/paper.yaml + configs/rehearsal.yaml, the whole DAG on CPU, offline.

Every code path a cluster run takes but the real weights: a `hub:` parquet dataset, a Stable-Diffusion-shaped teacher
(CLIP text encoder, 4-channel f=8 VAE, PNDM scheduler config), bf16 autocast, the standard metric backend's loaders
(random stand-ins, labelled), every paper run, gate and figure. A crash here is a crash at hour 100 of a cluster run.
"""
import json
import math
import os
import shutil
import subprocess
import sys

import pandas as pd
import pytest
from safetensors.torch import load_file

from cddbench import config, data, methods, models
from test_workflow import ENV, SNAKEMAKE, _workdir

OFFLINE = {**ENV, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
CONFIGS = ["configs/paper.yaml", "configs/rehearsal.yaml"]


def _rehearsal_workdir(repo, tmp):
    _workdir(repo, tmp)  # the smoke test's copy of the workflow, plus the overlays
    shutil.copytree(os.path.join(repo, "configs"), os.path.join(tmp, "configs"))
    out = subprocess.run([sys.executable, "workflow/scripts/rehearsal_assets.py", "rehearsal"], cwd=tmp,
                         capture_output=True, text=True, timeout=300, env=OFFLINE)
    assert out.returncode == 0, out.stderr[-3000:]
    return tmp


def test_rehearsal_overlay_differs_from_the_paper_only_in_size(repo):
    """What the overlay changes: sizes, step counts, seeds, the stand-ins' paths; never a method's algorithm."""
    paper = config.load(f"{repo}/config.yaml", f"{repo}/configs/paper.yaml")
    rehearsal = config.load(f"{repo}/config.yaml", *[f"{repo}/{c}" for c in CONFIGS])
    assert config.runs(paper).keys() == config.runs(rehearsal).keys()  # every paper run, variant and gate run
    size_keys = {"train", "finetune", "generator", "discriminator", "warmup_steps"}
    for name, m in paper["methods"].items():
        same = {k: v for k, v in m.items() if k not in size_keys}
        assert same == {k: v for k, v in rehearsal["methods"][name].items() if k not in size_keys}, name
    for key in ("precision", "degradation", "variants", "train_seeds"):
        assert paper[key] == rehearsal[key], key
    assert (paper["teacher"]["prompt"], paper["evaluate"]["metric_backend"]) == ("", "standard")
    assert rehearsal["teacher"]["prompt"] == "" and rehearsal["evaluate"]["metric_backend"] == "standard"
    assert rehearsal["data"]["source"].startswith("hub:") and rehearsal["data"]["test_source"].startswith("hub:")


def test_rehearsal_assets_have_sd_and_div2k_forms_and_labelled_metric_stand_ins(tmp_path):
    """The script's folders load through the paper path's own loaders: SD-1.5's classes and layout (cross-attention,
    4 latent channels, f = 8, CLIP's 77 tokens), the `hub:` reader on a parquet dataset on disk, and metric weights
    that clean-fid and lpips load, resolved as the labelled `stand-in` backend, never as `standard`."""
    import numpy as np
    from diffusers import AutoencoderKL, UNet2DConditionModel

    from cddbench import metrics, pretrain

    out = subprocess.run([sys.executable, os.path.join("workflow", "scripts", "rehearsal_assets.py"), str(tmp_path)],
                         cwd=os.path.dirname(os.path.dirname(__file__)), capture_output=True, text=True, timeout=300,
                         env=OFFLINE)
    assert out.returncode == 0, out.stderr[-3000:]
    model = str(tmp_path / "sd-tiny")
    unet = UNet2DConditionModel.from_pretrained(model, subfolder="unet")
    vae = AutoencoderKL.from_pretrained(model, subfolder="vae")
    assert list(unet.config.down_block_types[:3]) == ["CrossAttnDownBlock2D"] * 3 and unet.config.in_channels == 4
    assert vae.config.latent_channels == 4 and 2 ** (len(vae.config.block_out_channels) - 1) == 8
    assert pretrain.encode_prompt(model, "").shape == (1, 77, unet.config.cross_attention_dim)
    images = data._hub_images(f"{tmp_path}/div2k-tiny:validation")
    assert len(images) == 2 and images[0][1].shape == (256, 256, 3)
    ecfg = {"metric_backend": "standard", "weights_dir": str(tmp_path / "metric-weights"), "proxy_seed": 0,
            "lpips_size": None, "device": "cpu"}
    assert metrics.resolve_backend(ecfg) == "stand-in" and metrics.NOTES["stand-in"].startswith("STAND-IN")
    hr = np.random.default_rng(0).integers(0, 255, (3, 64, 64, 3), dtype=np.uint8)
    assert metrics.FeatureSpace("stand-in", ecfg)(hr).shape == (3, 2048)  # clean-fid's Inception interface
    assert metrics.Lpips("stand-in", ecfg)(hr, hr[::-1]).shape == (3,)


@pytest.mark.e2e
def test_paper_path_dress_rehearsal_end_to_end(repo, tmp_path):
    wd = _rehearsal_workdir(repo, str(tmp_path))
    out = subprocess.run(SNAKEMAKE + ["--cores", "2", "--configfile", *CONFIGS], cwd=wd, capture_output=True,
                         text=True, timeout=2400, env=OFFLINE)
    assert out.returncode == 0, out.stderr[-6000:]
    res = os.path.join(wd, "results")

    # the teacher is the SD-shaped folder: its VAE (4 channels, f = 8), its UNet, the empty prompt through its CLIP
    teacher = load_file(os.path.join(res, "models", "teacher", "unet", "diffusion_pytorch_model.safetensors"))
    assert "prompt_embedding" not in teacher  # the prompt is saved beside the weights (models.PROMPT_FILE)
    prompt = load_file(os.path.join(res, "models", "teacher", "unet", models.PROMPT_FILE))
    assert next(iter(prompt.values())).shape == (1, 77, 32)  # 77 CLIP tokens x the text encoder's width
    runs = pd.read_csv(os.path.join(res, "runs.csv"))
    paper = config.load(os.path.join(wd, "config.yaml"), *[os.path.join(wd, c) for c in CONFIGS])
    expected = {(run, s) for run, spec in config.runs(paper).items() for s in spec["config"]["steps"]}
    assert set(zip(runs["run"], runs["steps"])) >= {(r, s) for r, s in expected if r != "stablesr"}
    # the standard code path ran with the labelled stand-ins: standard column names, the backend says stand-in
    assert (runs["metric_backend"] == "stand-in").all() and "fd_proxy_mean" not in runs
    for col in ("fid_mean", "kid_mean", "lpips_mean", "psnr_mean", "ssim_mean"):
        assert runs[col].map(math.isfinite).all(), col
    trained = runs[runs["method"].map(methods.trains)]
    assert (trained["n_train_seeds"] == 2).all()  # the paper's two training replicates
    # every trained run counts its trained parameters (Real-ESRGAN's EMA copy once counted 0 on this path)
    assert (trained["params_trained"] > 0).all(), trained.loc[trained["params_trained"] <= 0, "run"].tolist()
    table = pd.read_csv(os.path.join(res, "table1.csv"))
    assert (table["metric_backend"] == "stand-in").all() and "LDM-SR (200)" in set(table["row"])
    assert "STAND-IN metric networks" in open(os.path.join(res, "table1.md")).read()
    timing = json.load(open(os.path.join(res, "samples", "cdd", "train0", "seed0", "4", "timing.json")))
    assert timing["precision"] == "bf16"  # autocast on the paper path
    # the paper's 512 -> 128 geometry, scaled: 64 px HR from 16 px LR, the test set from the hub-form validation split
    test = data.load_split(os.path.join(res, "data", "pairs", "test"))
    assert test[0]["hr"].size == (64, 64) and test[0]["lr"].size == (16, 16)
    assert all(s.startswith("rehearsal/div2k-tiny:validation#") for s in set(test["source"]))
    verdicts = pd.read_csv(os.path.join(res, "claims.csv")).set_index("claim")["verdict"]
    assert list(verdicts.index) == [1, 2, 3, 4, 5, 6, 7]  # decided on two photographs: inconclusive, but computed
    gates = json.load(open(os.path.join(res, "quality_gates.json")))
    assert gates["metric_backend"] == "stand-in" and "fid" in gates["prior_matters"]  # the gates ran on this path
    for png in ("teacher_samples.png", "degradations.png", "fig5_ablations.png", "fig3_distance.png",
                "fig3_distance_grid.png", "fig6_qualitative.png", "pareto.png", "metric_validation.png"):
        assert os.path.getsize(os.path.join(res, "figures", png)) > 10_000, png
