"""LDM-SR: the pretrained unconditional teacher fine-tuned into an ordinary conditional diffusion model.

The LR image (resized to the latent grid) is concatenated to the noisy latent, as in the SD x4 upscaler,
through zero-initialised input channels, so fine-tuning starts from the teacher exactly. Trained with the
teacher's own diffusion objective; sampled with diffusers' DDIM (eta = 0). ``init: random`` trains the same model
from fresh weights at the same budget: the ``prior_matters`` gate compares the two (cddbench.quality).
"""
from __future__ import annotations

import os

import torch

from cddbench import models
from cddbench.methods.common import (DiffusionLoss, backbone, concat_net, drop_condition, images_seen, load_training_set,
                                     scheduler_sampler, write_info)
from cddbench.train import checkpoint_at, fit, stream

DISPLAY = "LDM-SR"
SEEDED = True
STREAM = 3
LIMITS = [("steps", "max(steps)", "<=", "num_train_timesteps")]


def nfe(steps: int) -> int:
    return steps


def train(ctx, out_dir: str, log_csv: str) -> dict:
    torch.manual_seed(ctx.train_seed)
    ts = load_training_set(ctx)
    online = models.add_condition_channels(backbone(ts, ctx.mcfg["init"]), ts.cond.shape[1]).requires_grad_(True)
    g = stream(ctx.train_seed, STREAM)
    p = ctx.mcfg.get("condition_dropout", 0.0)  # > 0: a null-condition branch for guidance (SiD-LSG's teacher)
    loss, net = DiffusionLoss(ts.scheduler), concat_net(online)
    unet = fit(online, lambda idx, step: loss(net, ts.x0[idx], drop_condition(ts.cond[idx], p, g), g),
               ctx.mcfg["train"], len(ts.x0), ctx.train_seed, log_csv, ctx.run, precision=ctx.cfg["precision"],
               checkpoint=checkpoint_at(ctx.checkpoint_dir, "train", ctx.cfg, g=g))
    models.save_model(unet, os.path.join(out_dir, "unet"))
    ts.scheduler.save_pretrained(os.path.join(out_dir, "scheduler"))
    return write_info(out_dir, online, [online, ts.vae], images_seen=images_seen(ctx.mcfg["train"]))


def load(ctx, model_dir: str):
    ddim = models.ddim_scheduler(models.load_scheduler(model_dir).config, ctx.cfg["sampler"]["timestep_spacing"])
    return scheduler_sampler(ctx, model_dir, ddim)
