"""Speed benchmarks the issues set targets for (reported in the README, never asserted by a timed test).

``degrade_speed``: Real-ESRGAN degradations per second of 256x256 HR images on one thread (target >= 50/s).

``cdd_speed``: one CDD training iteration vs one LDM-SR fine-tuning iteration of the same backbone and batch
(target <= 2x), and 4-step CDD sampling vs 200-step LDM-SR sampling per image (target <= 1/40), measured in one
process on this machine with the configured architectures (randomly initialised: cost does not depend on weights).
"""
from __future__ import annotations

import os
import tempfile
import time

import numpy as np
import torch

from cddbench import models
from cddbench.methods import Context, cdd, ldm_sr
from cddbench.methods.common import DiffusionLoss, TrainingSet, concat_net
from cddbench.train import EMA, fit


def degrade_speed(cfg: dict, size: int = 256, images: int = 200) -> dict:
    from cddbench import data, realesrgan

    torch.set_num_threads(1)
    rng = np.random.default_rng(cfg["seed"])
    hr = [p for src in data.builtin_sources()[:6] for _, _, p in data.cut_patches(data.load_rgb(src.path)[0], size, size)]
    realesrgan.degrade_realesrgan(hr[0], rng, cfg["degradation"]["realesrgan"])  # warm-up
    start = time.perf_counter()
    for i in range(images):
        realesrgan.degrade_realesrgan(hr[i % len(hr)], rng, cfg["degradation"]["realesrgan"])
    seconds = time.perf_counter() - start
    return {"hr_size": size, "images": images, "threads": 1, "images_per_second": images / seconds,
            "target": ">= 50"}


def _timed_fit(model, loss_fn, batch: int, iters: int, after_step=None) -> float:
    tcfg = {"steps": iters, "batch_size": batch, "lr": 1e-4, "ema_decay": 0.0, "log_every": iters}
    with tempfile.TemporaryDirectory() as tmp:
        fit(model, loss_fn, {**tcfg, "steps": 2}, batch, 0, f"{tmp}/warmup.csv", "warmup", after_step)
        start = time.perf_counter()
        fit(model, loss_fn, tcfg, batch, 0, f"{tmp}/timed.csv", "timed", after_step)
        return (time.perf_counter() - start) / iters


def iteration_gflop(model, loss_fn, batch: int) -> float:
    """Floating-point operations of one training iteration's forward and backward (torch's FlopCounterMode:
    matmuls and convolutions), in GFLOP. Two methods' time ratio over their FLOP ratio is the overhead beyond their
    arithmetic (per-layer launches, copies): what a faster implementation could still win."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        out = loss_fn(torch.arange(batch), 0)
        (out["loss"] if isinstance(out, dict) else out).backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / 1e9


def _per_image_seconds(fn, images: int, repeats: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / (repeats * images)


def cdd_speed(cfg: dict, iters: int = 10, images: int = 100) -> dict:
    torch.manual_seed(cfg["seed"])
    m = cfg["methods"]["cdd"]
    batch, hr_size = m["train"]["batch_size"], cfg["data"]["patch_size"]
    n_levels = len(cfg["autoencoder"]["block_out_channels"])
    size, ch = hr_size // 2 ** (n_levels - 1), cfg["autoencoder"]["latent_channels"]
    vae = models.build_autoencoder(cfg["autoencoder"], hr_size).eval().requires_grad_(False)
    teacher = models.build_unet(cfg["teacher"]["unet"], size, ch).eval().requires_grad_(False)
    sched = models.build_scheduler(cfg["teacher"]["schedule"])
    ts = TrainingSet(vae, teacher, sched, torch.randn(batch, ch, size, size), torch.rand(batch, 3, size, size) * 2 - 1,
                     torch.rand(batch, 3, hr_size, hr_size) * 2 - 1)
    g = torch.Generator().manual_seed(0)
    sr = models.add_condition_channels(teacher, 3).requires_grad_(True)
    ldm_loss = lambda idx, step: DiffusionLoss(sched)(concat_net(sr), ts.x0[idx], ts.cond[idx], g)  # noqa: E731
    ldm_iter, ldm_gflop = _timed_fit(sr, ldm_loss, batch, iters), iteration_gflop(sr, ldm_loss, batch)
    online = cdd.build(ts, m)
    target = EMA(online, m["target_ema"])
    guidance = cdd.guidance_distance(m["guidance"]["distance"], vae, cfg["evaluate"])
    loss = cdd.CDDLoss.from_config(m, concat_net(teacher), sched, guidance)
    cdd_loss = lambda idx, step: loss(online, target.model, ts.x0[idx], ts.cond[idx], ts.hr[idx], g)  # noqa: E731
    cdd_iter = _timed_fit(online, cdd_loss, batch, iters, after_step=lambda: target.update(online))
    cdd_gflop = iteration_gflop(online, cdd_loss, batch)

    with tempfile.TemporaryDirectory() as tmp:
        models.save_model(vae, f"{tmp}/vae")
        models.save_model(sr, f"{tmp}/ldm_sr/unet")
        online.save(f"{tmp}/cdd")
        for d in ("ldm_sr", "cdd"):
            sched.save_pretrained(os.path.join(tmp, d, "scheduler"))
        ctx = Context(cfg=cfg, train_set="", vae_dir=f"{tmp}/vae", teacher_dir="", mcfg=m)
        lr = torch.rand(images, 3, hr_size // 4, hr_size // 4) * 2 - 1
        noise = torch.randn(images, ch, size, size)
        ldm_sample, cdd_sample = ldm_sr.load(ctx, f"{tmp}/ldm_sr"), cdd.load(ctx, f"{tmp}/cdd")
        ldm_200 = _per_image_seconds(lambda: ldm_sample(lr, 200, noise), images, 1)
        cdd_4 = _per_image_seconds(lambda: cdd_sample(lr, 4, noise), images, 5)
    # where the sampling time goes: one network evaluation of each model, and the shared VAE decode
    cond, t = torch.rand(images, 3, size, size) * 2 - 1, torch.full((images,), 500)
    with torch.inference_mode():
        breakdown = {name: 1000 * _per_image_seconds(fn, images, 5) for name, fn in {
            "ldm_sr_evaluation_ms": lambda: models.unet_forward(sr, noise, t, cond),
            "cdd_evaluation_ms": lambda: online(noise, t, cond),
            "vae_decode_ms": lambda: models.decode(vae, noise),
        }.items()}
    return {
        "threads": torch.get_num_threads(), "batch_size": batch, "latent": [ch, size, size],
        "ldm_sr_train_iteration_s": ldm_iter, "cdd_train_iteration_s": cdd_iter,
        "train_iteration_ratio": cdd_iter / ldm_iter, "train_iteration_target": "<= 2",
        "ldm_sr_train_iteration_gflop": ldm_gflop, "cdd_train_iteration_gflop": cdd_gflop,
        "train_flop_ratio": cdd_gflop / ldm_gflop,  # the ratio the arithmetic alone sets: time / FLOP ratio = overhead
        "ldm_sr_200_seconds_per_image": ldm_200, "cdd_4_seconds_per_image": cdd_4,
        "sampling_ratio": cdd_4 / ldm_200, "sampling_target": "<= 1/40 = 0.025", **breakdown,
        "network_only_sampling_ratio": 4 * breakdown["cdd_evaluation_ms"] / (200 * breakdown["ldm_sr_evaluation_ms"]),
        "predictor": m["predictor"], "predictor_weights": m["predictor_weights"],
        "guidance_distance": m["guidance"]["distance"],
    }
