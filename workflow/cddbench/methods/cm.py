"""CM: consistency distillation (Song et al. 2023) of the fine-tuned LDM-SR model ("fine-tuning first").

The frozen LDM-SR model is the teacher ODE: one DDIM step from t to s = t - k on the N-point skipping grid
(LCM's solver). The student starts as a copy of LDM-SR and learns f(z_t, t) = sg(f_ema(z_s, s)) with the
consistency-model boundary scalings, so f(z, 0) = z. Sampled by multistep consistency sampling: predict x,
re-noise to the next grid time with fresh noise, repeat.
"""
from __future__ import annotations

import copy
import os

import torch

from cddbench import models, schedule
from cddbench.methods.common import (consistency_distance, images_seen, load_base, load_training_set,
                                     save_student, write_info)
from cddbench.sample import more_noise
from cddbench.train import EMA, checkpoint_at, fit, stream

DISPLAY = "CM"


def nfe(steps: int) -> int:
    return steps


def f(unet, z: torch.Tensor, t: torch.Tensor, cond: torch.Tensor, sched) -> torch.Tensor:
    """The consistency function: the boundary-scaled x prediction of an LDM-SR-shaped model."""
    x_hat, _ = schedule.pred_to_x_eps(models.unet_forward(unet, z, t, cond), z, t, sched)
    return schedule.consistency_output(x_hat, z, t)


def loss(online, target, teacher, sched, x, cond, m: dict, g: torch.Generator) -> dict:
    t, s = (v.to(x.device) for v in schedule.draw_grid_times(m["distill_steps"], sched.config.num_train_timesteps,
                                                             len(x), "per_sample", g))
    eps = torch.randn(x.shape, generator=g).to(x.device)
    z_t = sched.add_noise(x, eps, t)
    with torch.no_grad():  # the teacher's DDIM step to s, then the EMA target there
        x_te, eps_te = schedule.pred_to_x_eps(models.unet_forward(teacher, z_t, t, cond), z_t, t, sched)
        z_s = schedule.ddim_step(x_te, eps_te, s, sched)
        ref = f(target, z_s, s, cond, sched)
    consistency = consistency_distance(f(online, z_t, t, cond, sched), ref, m["distance"], m["huber_c"])
    return {"loss": consistency}


def train(ctx, out_dir: str, log_csv: str) -> dict:
    m, seed = ctx.mcfg, ctx.train_seed
    torch.manual_seed(seed)
    ts = load_training_set(ctx)
    teacher = load_base(ctx)
    online = copy.deepcopy(teacher).requires_grad_(True)
    target = EMA(online, m["target_ema"])
    g = stream(seed, "cm")
    unet = fit(online, lambda idx, step: loss(online, target.model, teacher, ts.scheduler, ts.x0[idx], ts.cond[idx],
                                               m, g),
               m["train"], len(ts.x0), seed, log_csv, ctx.run, after_step=lambda: target.update(online),
               precision=ctx.cfg["precision"],
               checkpoint=checkpoint_at(ctx.checkpoint_dir, "train", ctx.cfg, target=target.model, g=g))
    base_images = save_student(unet, ts.scheduler, out_dir, ctx)
    return write_info(out_dir, online, [online, ts.vae],
                      images_seen=base_images + images_seen(m["train"]))


def load(ctx, model_dir: str):
    m = ctx.mcfg
    vae = models.load_autoencoder(ctx.vae_dir).to(ctx.device)
    unet = models.load_unet(os.path.join(model_dir, "unet")).to(ctx.device)
    sched = models.load_scheduler(model_dir)

    @torch.no_grad()
    def sample(lr: torch.Tensor, steps: int, noise: torch.Tensor) -> torch.Tensor:
        cond = models.lr_condition(lr.to(ctx.device), noise.shape[-2:])
        times = schedule.few_step_timesteps(sched.config.num_train_timesteps, m["distill_steps"], steps).tolist()
        z = noise.to(ctx.device)
        for i, t in enumerate(times):
            if i:  # re-noise the last prediction to time t (multistep consistency sampling)
                z = sched.add_noise(x, more_noise(noise, i).to(ctx.device), torch.tensor([t]))
            x = f(unet, z, torch.full((len(z),), t, device=z.device), cond, sched)
        return models.decode(vae, x)

    return sample
