"""LCM (methods/lcm.py, CM's code with the guidance-augmented ODE): w = 0 is CM bit for bit; the student starts at its
teacher exactly; the guidance-scale embedding is LCM's."""
import math

import pandas as pd
import torch

from cddbench import models
from cddbench.methods import Context, cm, lcm

TINY = {"steps": 3, "batch_size": 4, "lr": 1e-3, "ema_decay": 0.0, "log_every": 1}
CM = {"steps": [1, 4], "distill_steps": 50, "distance": "l2", "huber_c": 0.001, "target_ema": 0.95, "train": TINY}


def test_the_guidance_embedding_is_lcms_formula():
    w, dim = torch.tensor([0.0, 0.25, 1.0]), 32
    half = dim // 2
    freqs = torch.exp(torch.arange(half) * -(math.log(10000.0) / (half - 1)))
    angles = (w * 1000.0)[:, None] * freqs[None]
    # float32 angles up to 1000 rad carry ~6e-5 of rounding, whatever the order of the products
    torch.testing.assert_close(models.guidance_embedding(w, dim), torch.cat([angles.sin(), angles.cos()], 1),
                               atol=1e-4, rtol=0)


def test_the_student_with_a_guidance_embedding_starts_at_its_teacher(ts, ldm_sr):
    student = models.add_guidance_embedding(ldm_sr, 32)
    z, t = torch.randn(2, 4, 8, 8), torch.tensor([999, 500])
    emb = models.guidance_embedding(torch.tensor([0.3, 0.9]), 32)
    assert torch.equal(models.unet_forward(student, z, t, ts.cond[:2], emb), models.unet_forward(ldm_sr, z, t, ts.cond[:2]))


def test_lcm_with_w_zero_is_cm_bit_for_bit_and_with_guidance_trains_and_samples(ts, repo, tmp_path):
    from conftest import save_tiny_job
    from safetensors.torch import load_file

    from cddbench.methods import ldm_sr

    cfg = save_tiny_job(tmp_path, ts, repo)

    def ctx(run, mcfg, base=""):
        return Context(cfg=cfg, train_set=str(tmp_path / "train_set.pt"), vae_dir=str(tmp_path / "vae"),
                       teacher_dir=str(tmp_path / "teacher"), run=run, mcfg=mcfg, base_dir=base)

    (tmp_path / "base").mkdir()
    ldm_sr.train(ctx("ldm_sr", {"steps": [4], "init": "pretrained", "condition_dropout": 0.1, "train": TINY}), str(tmp_path / "base"),
                 str(tmp_path / "base.csv"))
    base = str(tmp_path / "base")
    lcm_cfg = {**CM, "guidance_range": [0.0, 0.0], "sample_guidance": 0.0, "embedding_dim": 32}
    for name, module, mcfg in [("cm", cm, CM), ("lcm0", lcm, lcm_cfg),
                               ("lcm", lcm, {**lcm_cfg, "guidance_range": [0.0, 1.0], "sample_guidance": 0.5})]:
        (tmp_path / name).mkdir()
        module.train(ctx(name, mcfg, base), str(tmp_path / name), str(tmp_path / f"{name}.csv"))
    weights = {n: load_file(tmp_path / n / "unet/diffusion_pytorch_model.safetensors") for n in ("cm", "lcm0", "lcm")}
    assert weights["cm"].keys() == weights["lcm0"].keys()
    assert all(torch.equal(weights["cm"][k], weights["lcm0"][k]) for k in weights["cm"])
    assert "time_embedding.cond_proj.weight" in weights["lcm"] and weights["lcm"]["time_embedding.cond_proj.weight"].any()
    assert pd.read_csv(tmp_path / "lcm.csv")["loss"].map(math.isfinite).all()
    sample = lcm.load(ctx("lcm", {**lcm_cfg, "sample_guidance": 0.5}), str(tmp_path / "lcm"))
    out = sample(torch.rand(2, 3, 8, 8) * 2 - 1, 4, torch.randn(2, 4, 8, 8))
    assert out.shape == (2, 3, 16, 16) and torch.isfinite(out).all()


def test_guiding_the_teachers_output_is_lcms_augmented_x_and_eps(ts, ldm_sr):
    """cm.CMLoss guides the v output with scale 1 + w; on x_hat and eps_hat that is x_c + w (x_c - x_null) (LCM)."""
    from cddbench import schedule
    from cddbench.methods.common import concat_net, guided

    z, t, w = torch.randn(3, 4, 8, 8), torch.tensor([999, 500, 20]), torch.tensor([0.0, 0.5, 1.0]).view(-1, 1, 1, 1)
    net, cond = concat_net(ldm_sr), ts.cond[:3]
    x, eps = schedule.pred_to_x_eps(guided(net, 1 + w)(z, t, cond), z, t, ts.scheduler)
    x_c, eps_c = schedule.pred_to_x_eps(net(z, t, cond), z, t, ts.scheduler)
    x_n, eps_n = schedule.pred_to_x_eps(net(z, t, torch.zeros_like(cond)), z, t, ts.scheduler)
    torch.testing.assert_close(x, x_c + w * (x_c - x_n), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(eps, eps_c + w * (eps_c - eps_n), atol=1e-5, rtol=1e-5)
