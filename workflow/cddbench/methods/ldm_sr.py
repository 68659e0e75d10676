"""LDM-SR: the pretrained unconditional teacher fine-tuned into an ordinary conditional diffusion model.

The LR image (resized to the latent grid) is concatenated to the noisy latent, as in the SD x4 upscaler,
through zero-initialised input channels, so fine-tuning starts from the teacher exactly. Trained with the
teacher's own diffusion objective; sampled with diffusers' DDIM (eta = 0).
"""
from __future__ import annotations

import json
import os

import torch
import torch.nn.functional as F

from cddbench import data, models, pretrain
from cddbench.train import fit

DISPLAY = "LDM-SR"


def nfe(steps: int) -> int:
    return steps


def lr_condition(lr: torch.Tensor, latent_hw: tuple[int, int]) -> torch.Tensor:
    if tuple(lr.shape[-2:]) == tuple(latent_hw):
        return lr
    return F.interpolate(lr, size=latent_hw, mode="bicubic", align_corners=False)


def train(ctx, out_dir: str, log_csv: str) -> dict:
    cfg, tcfg = ctx.cfg, ctx.cfg["methods"]["ldm_sr"]["train"]
    torch.manual_seed(cfg["seed"])
    vae = models.load_autoencoder(ctx.vae_dir)
    teacher = models.load_unet(os.path.join(ctx.teacher_dir, "unet"))
    sched = models.load_scheduler(ctx.teacher_dir)
    pairs = data.load_split(ctx.train_pairs)
    x0 = pretrain.encode(vae, data.to_tensor(pairs["hr"]))
    cond = lr_condition(data.to_tensor(pairs["lr"]), x0.shape[-2:])
    online = models.add_condition_channels(teacher, cond.shape[1])
    g = torch.Generator().manual_seed(cfg["seed"] + 3)
    unet = fit(online, lambda idx, step: pretrain.diffusion_loss(online, sched, x0[idx], cond[idx], g), tcfg,
               len(x0), cfg["seed"], log_csv, "ldm_sr")
    models.save_model(unet, os.path.join(out_dir, "unet"))
    sched.save_pretrained(os.path.join(out_dir, "scheduler"))
    info = {"params_trained": models.count_params(unet),
            "params_total": models.count_params(unet) + models.count_params(vae)}
    with open(os.path.join(out_dir, "info.json"), "w") as f:
        json.dump(info, f, indent=1)
    return info


def load(ctx, model_dir: str):
    from diffusers import DDIMScheduler

    vae = models.load_autoencoder(ctx.vae_dir).to(ctx.device)
    unet = models.load_unet(os.path.join(model_dir, "unet")).to(ctx.device)
    base = models.load_scheduler(model_dir)
    ddim = DDIMScheduler.from_config(base.config, timestep_spacing=ctx.cfg["sampler"]["timestep_spacing"],
                                     clip_sample=False, set_alpha_to_one=True)

    @torch.no_grad()
    def sample(lr: torch.Tensor, steps: int, noise: torch.Tensor) -> torch.Tensor:
        ddim.set_timesteps(steps)
        z = noise.to(ctx.device) * ddim.init_noise_sigma
        cond = lr_condition(lr.to(ctx.device), z.shape[-2:])
        emb = models.null_embedding(unet, len(z))
        for t in ddim.timesteps:
            out = unet(torch.cat([z, cond], dim=1), t, emb).sample
            z = ddim.step(out, t, z, eta=0.0).prev_sample
        return pretrain.decode(vae, z)

    return sample
