"""The GPU check: the paper config's iterations timed on Stable Diffusion 1.5's architecture, without its weights.

    cddbench gpu-check --out docs/gpu_check_h200.json                  # on a GPU: SD-1.5 at 512 px, bf16
    cddbench gpu-check --arch tiny --device cpu --precision fp32 ...   # the same code end to end on a CPU

The networks are built from SD-1.5's published ``unet/config.json`` and ``vae/config.json`` with random weights (a GPU
machine without network still runs it; speed and memory do not depend on the weight values), the text input is a
random 77 x 768 stand-in for CLIP's encoding of the empty prompt. What is timed is the benchmark's own code, not a
copy: ``train.fit`` (AdamW, clipping, EMA, autocast) around ``methods.common.DiffusionLoss`` (LDM-SR) and
``methods.cdd.CDDLoss`` (Ours, Ours*), and the samplers of ``methods.common.concat_sampler`` (LDM-SR, DDIM) and
``methods.cdd.sampler`` (the pipeline's ``denoise``). Each iteration is timed between consecutive optimiser steps with the device
synchronised; the first ``warmup`` iterations (allocator, cuDNN autotuning) are not counted. Peak memory is
``torch.cuda.max_memory_allocated`` (what the tensors need, not the allocator's cache). The largest batch that fits
is found by doubling the paper config's batch until an out-of-memory error (or ``max_batch``).
"""
from __future__ import annotations

import datetime
import gc
import json
import os
import platform
import tempfile
import time

import torch
from diffusers import AutoencoderKL, DDIMScheduler, DDPMScheduler, UNet2DConditionModel

from cddbench import models
from cddbench.speed import iteration_gflop
from cddbench.methods import cdd
from cddbench.methods.common import DiffusionLoss, TrainingSet, concat_net, concat_sampler
from cddbench.train import EMA, autocast, fit

# stable-diffusion-v1-5/stable-diffusion-v1-5: unet/config.json, vae/config.json, scheduler/scheduler_config.json
SD15_UNET = dict(sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
                 block_out_channels=(320, 640, 1280, 1280),
                 down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                 up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
                 cross_attention_dim=768, attention_head_dim=8, norm_num_groups=32)
SD15_VAE = dict(in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2,
                block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
                up_block_types=("UpDecoderBlock2D",) * 4, norm_num_groups=32, sample_size=512)
SD15_SCHEDULER = dict(num_train_timesteps=1000, beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                      prediction_type="epsilon", clip_sample=False)
SD15_PROMPT_TOKENS = 77


def build_networks(arch: str, cfg: dict, device: str):
    """(vae, teacher unet, DDPM scheduler, HR side) of ``arch``: ``sd15`` (512 px) or ``tiny`` (config.yaml's)."""
    with torch.device(device):  # initialise on the device: SD-1.5's 860M parameters take minutes on one CPU core
        if arch == "sd15":
            vae, unet = AutoencoderKL(**SD15_VAE), UNet2DConditionModel(**SD15_UNET)
            sched, size = DDPMScheduler(**SD15_SCHEDULER), 512
            unet.prompt_embedding = torch.randn(1, SD15_PROMPT_TOKENS, SD15_UNET["cross_attention_dim"])
        elif arch == "tiny":
            size = cfg["data"]["patch_size"]
            vae = models.build_autoencoder(cfg["autoencoder"], size)
            unet = models.build_unet(cfg["teacher"]["unet"], size // 4, cfg["autoencoder"]["latent_channels"])
            sched = models.build_scheduler(cfg["teacher"]["schedule"])
        else:
            raise ValueError(f"--arch: unknown {arch!r} (sd15 | tiny)")
    return vae.eval().requires_grad_(False), unet.eval().requires_grad_(False), sched, size


def _sync(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def _fresh_peak(device: str) -> None:
    gc.collect()
    if torch.device(device).type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak_gib(device: str) -> float | None:
    return torch.cuda.max_memory_allocated() / 2**30 if torch.device(device).type == "cuda" else None


def _batch(vae, size: int, n: int, device: str, g: torch.Generator) -> TrainingSet:
    """``n`` random (latent, LR, HR) training items on ``device`` (values do not change the cost)."""
    f = 2 ** (len(vae.config.block_out_channels) - 1)
    lat = size // f
    hr = torch.rand(n, 3, size, size, generator=g).mul(2).sub(1).to(device)
    lr = torch.rand(n, 3, size // 4, size // 4, generator=g).mul(2).sub(1)
    x0 = torch.randn(n, vae.config.latent_channels, lat, lat, generator=g).to(device)
    return TrainingSet(vae, None, None, x0, models.lr_condition(lr, (lat, lat)).to(device), hr)


def time_training(name: str, teacher, vae, sched, size: int, batch: int, steps: int, warmup: int,
                  device: str, precision: str, ema_decay: float) -> dict:
    """Seconds per iteration and peak memory of ``steps`` iterations of ``name`` (ldm_sr | cdd | cdd_adapter)."""
    _fresh_peak(device)
    g = torch.Generator().manual_seed(0)
    ts = _batch(vae, size, 2 * batch, device, g)
    ts.teacher, ts.scheduler = teacher, sched
    after = []
    if name == "ldm_sr":
        with torch.device(device):  # build on the device (an SD-sized init on a CPU takes long)
            online = models.add_condition_channels(teacher, 3).requires_grad_(True)
        loss_fn = lambda idx, step: DiffusionLoss(sched)(concat_net(online), ts.x0[idx], ts.cond[idx], g)  # noqa: E731
    else:
        m = {"init": "pretrained", "regime": "full" if name == "cdd" else "adapter", "gate": False,
             "distill_steps": 50, "guidance": {"weight": 1.0}, "predictor": "prev", "predictor_weights": "target",
             "consistency_space": "eps", "distance": "l2", "huber_c": 0.001, "time_sampling": "shared"}
        with torch.device(device):
            online = cdd.build(ts, m).to(device)
        target = EMA(online, 0.999)
        loss = cdd.CDDLoss.from_config(m, concat_net(teacher), sched, cdd.guidance_distance("l2_latent", vae, {}))
        loss_fn = lambda idx, step: loss(online, target.model, ts.x0[idx], ts.cond[idx], ts.hr[idx], g)  # noqa: E731
        after.append(lambda: target.update(online))
    gflop = iteration_gflop(online, loss_fn, batch)
    stamps: list[float] = []

    def tick():
        for fn in after:
            fn()
        _sync(device)
        stamps.append(time.perf_counter())

    tcfg = {"steps": warmup + steps + 1, "batch_size": batch, "lr": 1e-5, "ema_decay": ema_decay, "log_every": 10**9}
    with tempfile.TemporaryDirectory() as tmp:  # fit's loss-curve CSV: not part of the check
        fit(online, loss_fn, tcfg, 2 * batch, 0, os.path.join(tmp, "loss.csv"), name, after_step=tick,
            precision=precision)
    per_iter = (stamps[-1] - stamps[warmup]) / steps  # between optimiser steps: forward, backward, step, EMA
    return {"batch_size": batch, "iterations_timed": steps, "seconds_per_iteration": per_iter,
            "images_per_second": batch / per_iter, "gflop_per_iteration": gflop, "peak_memory_gib": _peak_gib(device),
            "params_trained": models.count_params(online, trainable_only=True)}


def largest_batch(name: str, start: int, max_batch: int, **kw) -> dict:
    """Double the batch from ``start`` until out of memory (or ``max_batch``): the largest that ran, and the first
    that did not (None when ``max_batch`` ran)."""
    fits, batch, failed = None, start, None
    while batch <= max_batch:
        try:
            fits = time_training(name, batch=batch, steps=1, warmup=1, **kw)
        except torch.OutOfMemoryError:
            failed = batch
            break
        finally:
            _fresh_peak(kw["device"])
        batch *= 2
    return {"largest_batch_that_ran": fits and fits["batch_size"], "peak_memory_gib": fits and fits["peak_memory_gib"],
            "first_batch_out_of_memory": failed, "max_batch_tried": max_batch}


def time_sampling(sampler, size: int, latent_channels: int, f: int, batch: int, steps: int, repeats: int,
                  device: str, precision: str) -> dict:
    """Seconds per image of ``sampler`` at ``steps`` on a batch (one untimed warm-up call first)."""
    _fresh_peak(device)
    lr = torch.rand(batch, 3, size // 4, size // 4).mul(2).sub(1)
    noise = torch.randn(batch, latent_channels, size // f, size // f)
    times = []
    for i in range(repeats + 1):
        _sync(device)
        start = time.perf_counter()
        with autocast(device, precision):
            sampler(lr, steps, noise)
        _sync(device)
        times.append(time.perf_counter() - start)
    per_call = sum(times[1:]) / repeats
    return {"steps": steps, "batch_size": batch, "seconds_per_image": per_call / batch,
            "seconds_per_network_evaluation": per_call / batch / steps, "peak_memory_gib": _peak_gib(device)}


def run(cfg: dict, arch: str, device: str, precision: str, train_batch: dict[str, int], sample_batch: int,
        steps: int = 5, warmup: int = 2, max_batch: int = 256, sample_repeats: int = 1, out: str | None = None) -> dict:
    """The whole check: training iterations, sampling, largest batches; one JSON-ready record, written to ``out``
    after each measurement (a check stopped by a time limit keeps what it measured)."""
    torch.manual_seed(0)
    vae, teacher, sched, size = build_networks(arch, cfg, device)
    f = 2 ** (len(vae.config.block_out_channels) - 1)
    kw = dict(teacher=teacher, vae=vae, sched=sched, size=size, device=device, precision=precision)
    record = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "arch": arch, "hr_size": size, "latent_size": size // f, "device": device, "precision": precision,
              "machine": torch.cuda.get_device_name() if torch.device(device).type == "cuda" else platform.processor(),
              "torch": torch.__version__, "cuda": torch.version.cuda,
              "params": {"unet": models.count_params(teacher), "vae": models.count_params(vae)},
              "training": {}, "largest_batch": {}, "sampling": {}}
    for name in ("ldm_sr", "cdd", "cdd_adapter"):
        ema = 0.9999 if name == "ldm_sr" else 0.0  # paper.yaml: LDM-SR keeps an EMA; CDD's EMA is its target
        record["training"][name] = time_training(name, batch=train_batch[name], steps=steps, warmup=warmup,
                                                 ema_decay=ema, **kw)
        _report(record, out, name, record["training"][name])
    ddim = DDIMScheduler.from_config(sched.config, set_alpha_to_one=True, timestep_spacing="trailing")
    with torch.device(device):
        ldm = models.add_condition_channels(teacher, 3)
        net = cdd.build(TrainingSet(vae, teacher, sched, None, torch.zeros(1, 3, 1, 1), None),
                        {"init": "pretrained", "regime": "full", "gate": False}).to(device).eval()
    samplers = {"ldm_sr_200": (concat_sampler(vae, ldm, ddim), 200),
                "cdd_4": (cdd.sampler(vae, net, sched, {"distill_steps": 50, "consistency_space": "eps"}, device), 4)}
    for name, (sampler, n) in samplers.items():
        record["sampling"][name] = time_sampling(sampler, size, vae.config.latent_channels, f, sample_batch, n,
                                                 sample_repeats, device, precision)
        _report(record, out, name, record["sampling"][name])
    del ldm, net, samplers, sampler
    for name in ("ldm_sr", "cdd", "cdd_adapter"):
        ema = 0.9999 if name == "ldm_sr" else 0.0
        record["largest_batch"][name] = largest_batch(name, train_batch[name], max_batch, ema_decay=ema, **kw)
        _report(record, out, f"{name} largest batch", record["largest_batch"][name])
    return record


def _report(record: dict, out: str | None, what: str, value: dict) -> None:
    print(what, json.dumps(value), flush=True)
    if out:
        write(record, out)


def write(record: dict, path: str) -> None:
    with open(path, "w") as fh:
        json.dump(record, fh, indent=1)
