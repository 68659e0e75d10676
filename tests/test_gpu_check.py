"""The GPU check (cddbench.gpucheck) end to end on CPU with the tiny architecture, SD-1.5's architecture as published,
and the metrics' accelerator paths (torch, float64) against their numpy paths."""
import numpy as np
import pytest
import torch

from cddbench import config, gpucheck, metrics


def test_gpu_check_runs_end_to_end_on_cpu_with_the_tiny_architecture(repo):
    cfg = config.load(f"{repo}/config.yaml")
    rec = gpucheck.run(cfg, "tiny", "cpu", "fp32", {"ldm_sr": 4, "cdd": 4, "cdd_adapter": 4}, sample_batch=2,
                       steps=1, warmup=1, max_batch=8)
    for name in ("ldm_sr", "cdd", "cdd_adapter"):
        t = rec["training"][name]
        assert t["batch_size"] == 4 and t["seconds_per_iteration"] > 0 and t["params_trained"] > 0
        assert rec["largest_batch"][name] == {"largest_batch_that_ran": 8, "peak_memory_gib": None,
                                              "first_batch_out_of_memory": None, "max_batch_tried": 8}
    # Ours* trains the encoder only; Ours the encoder and the backbone
    assert rec["training"]["cdd_adapter"]["params_trained"] < rec["training"]["cdd"]["params_trained"]
    # FLOPs: CDD's 1 online + 2 no-grad passes cost more than a fine-tune's one pass; Ours* skips the backbone's
    # weight gradients
    gflop = {name: rec["training"][name]["gflop_per_iteration"] for name in rec["training"]}
    assert 0 < gflop["ldm_sr"] < gflop["cdd_adapter"] < gflop["cdd"]
    assert rec["sampling"]["ldm_sr_200"]["steps"] == 200 and rec["sampling"]["cdd_4"]["steps"] == 4
    assert all(s["seconds_per_image"] > 0 for s in rec["sampling"].values())


def test_the_sd15_networks_have_the_published_parameter_counts():
    vae, unet, sched, size = gpucheck.build_networks("sd15", {}, "meta")
    # stable-diffusion-v1-5: UNet 859,520,964 parameters, VAE 83,653,863
    assert sum(p.numel() for p in unet.parameters()) == 859_520_964
    assert sum(p.numel() for p in vae.parameters()) == 83_653_863
    assert size == 512 and unet.prompt_embedding.shape == (1, 77, 768) and sched.config.prediction_type == "epsilon"


def test_kd_block_sums_by_matrix_product_equal_the_per_subset_sums():
    """KD has one path for every device (torch, float64): its all-subsets-at-once products against each subset's
    block of the kernel matrices summed directly, with the same seeded draws."""
    rng = np.random.default_rng(0)
    f1, f2 = rng.normal(size=(60, 20)), rng.normal(0.3, 1.2, size=(70, 20))
    m, n_sub, d = 40, 10, f1.shape[1]
    kxx, kyy, kxy = ((a @ b.T / d + 1) ** 3 for a, b in ((f2, f2), (f1, f1), (f2, f1)))
    draws, t = np.random.RandomState(7), 0.0
    for _ in range(n_sub):
        ix, iy = draws.choice(len(f2), m, replace=False), draws.choice(len(f1), m, replace=False)
        a = kxx[np.ix_(ix, ix)].sum() - kxx[ix, ix].sum() + kyy[np.ix_(iy, iy)].sum() - kyy[iy, iy].sum()
        t += a / (m - 1) - kxy[np.ix_(ix, iy)].sum() * 2 / m
    expected = t / n_sub / m
    assert metrics.kernel_distance(f1, f2, 7, num_subsets=n_sub, max_subset_size=m) == pytest.approx(expected, rel=1e-12)


def test_frechet_distance_works_with_a_scipy_whose_sqrtm_has_no_disp(monkeypatch):
    """scipy 1.18 removed sqrtm's ``disp`` that clean-fid passes (every FD failed on the GPU machine)."""
    from scipy import linalg

    rng = np.random.default_rng(0)
    f1, f2 = rng.normal(size=(80, 10)), rng.normal(0.2, 1.1, size=(90, 10))
    expected = metrics.frechet_distance(f1, f2)
    plain = linalg.sqrtm
    monkeypatch.setattr(linalg, "sqrtm", lambda a, blocksize=64: plain(a))  # scipy >= 1.18: no disp
    assert metrics.frechet_distance(f1, f2) == pytest.approx(expected, rel=1e-9)


def test_the_gpu_overlay_plans_the_whole_default_dag_on_cuda(repo):
    """configs/gpu.yaml: the default's runs and replicates, device cuda (checked when a job starts, not at planning)."""
    import subprocess

    from test_slurm import _job_stats
    from test_workflow import ENV, SNAKEMAKE

    cfg = config.load(f"{repo}/config.yaml", f"{repo}/configs/gpu.yaml")
    default = config.load(f"{repo}/config.yaml")
    assert cfg["device"] == "cuda" and config.runs(cfg).keys() == config.runs(default).keys()
    assert cfg["train_seeds"] == default["train_seeds"]
    out = subprocess.run(SNAKEMAKE + ["-n", "--configfile", "configs/gpu.yaml", "--cores", "16"], cwd=repo,
                         capture_output=True, text=True, timeout=300, env=ENV)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    jobs = _job_stats(out.stdout + out.stderr)
    assert jobs["table1"] == jobs["claims"] == 1 and jobs["evaluate"] == jobs["sample"] > 30  # one evaluation per sampling job


def test_the_paper_configs_cdd_batch_fits_an_80_gb_gpu_by_the_h200_measurement(repo):
    """The peaks measured at batches 32 and 64 (tests/data/gpu_check_h200.json, linear in the batch) put the paper
    config's CDD batch under 80 GB with 10% to spare."""
    import json

    with open(f"{repo}/tests/data/gpu_check_h200.json") as f:
        rec = json.load(f)
    cfg = config.load(f"{repo}/config.yaml", f"{repo}/configs/paper.yaml")
    for name, batch in (("cdd", cfg["methods"]["cdd"]["train"]["batch_size"]),
                        ("ldm_sr", cfg["methods"]["ldm_sr"]["train"]["batch_size"])):
        b1, p1 = rec["training"][name]["batch_size"], rec["training"][name]["peak_memory_gib"]
        b2, p2 = rec["largest_batch"][name]["largest_batch_that_ran"], rec["largest_batch"][name]["peak_memory_gib"]
        per_image = (p2 - p1) / (b2 - b1)
        assert p1 + per_image * (batch - b1) < 0.9 * 80 * 1e9 / 2**30, name


def test_iteration_gflop_counts_forward_and_backward_by_hand():
    from cddbench.speed import iteration_gflop

    layer, x = torch.nn.Linear(30, 20, bias=False), torch.randn(8, 30)
    # forward W x: 2 * 8 * 30 * 20 FLOPs; backward: the weight's gradient only (x needs none), as many again
    assert iteration_gflop(layer, lambda idx, step: layer(x[idx]).sum(), 8) == pytest.approx(4 * 8 * 30 * 20 / 1e9)
    assert layer.weight.grad is None  # the count leaves no gradient behind


def test_the_cdd_speed_benchmark_reports_time_and_flop_ratios(repo):
    from cddbench import speed as benchmark

    cfg = config.load(f"{repo}/config.yaml")
    cfg["methods"]["cdd"]["train"]["batch_size"] = 4
    out = benchmark.cdd_speed(cfg, iters=1, images=2)
    assert out["train_iteration_ratio"] > 0 and out["cdd_train_iteration_gflop"] > out["ldm_sr_train_iteration_gflop"]
    assert out["train_flop_ratio"] == pytest.approx(out["cdd_train_iteration_gflop"] / out["ldm_sr_train_iteration_gflop"])
