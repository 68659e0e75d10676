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
from cddbench.methods.common import (concat_net, consistency_distance, guided, images_seen, load_base,
                                     load_training_set, multistep_consistency, save_student, write_info)
from cddbench.train import EMA, checkpoint_at, fit, stream

DISPLAY = "CM"
SEEDED = True
BASE = "ldm_sr"  # distils the LDM-SR model of its training seed
STREAM = 5  # LCM's too
LIMITS = [("distill_steps", "distill_steps", "<=", "num_train_timesteps"),
          ("steps", "max(steps)", "<=", "distill_steps")]  # sampling runs on the model's grid


def nfe(steps: int) -> int:
    return steps


def f(net, z: torch.Tensor, t: torch.Tensor, cond: torch.Tensor, sched) -> torch.Tensor:
    """The consistency function of a network ``net(z, t, cond) -> output``: its boundary-scaled x prediction,
    f(z, 0) = z exactly."""
    return schedule.predict(net, z, t, cond, sched, space="x")[0]


class CMLoss:
    """Consistency distillation (Song et al. 2023, Algorithm 2) with LCM's skipping-step solver:
        L = d( f_theta(z_t, t, c), sg(f_ema(z_s, s, c)) ),   z_s = DDIM step of the teacher from z_t to s = t - k
    on the ``N``-point grid (k = 1000 / N), t per sample; d is ``distance`` (l2 | huber with ``huber_c``).
    Networks are callables ``net(z, t, cond) -> output``; with a per-sample guidance scale ``w`` (LCM,
    ``methods.lcm``) the teacher's step is the guidance-augmented one, x = x_c + w (x_c - x_null) and likewise eps."""

    def __init__(self, scheduler, *, N: int, distance: str, huber_c: float):
        self.scheduler, self.N, self.distance, self.huber_c = scheduler, N, distance, huber_c

    def __call__(self, online, target, teacher, x: torch.Tensor, cond: torch.Tensor, g: torch.Generator,
                 w: torch.Tensor | None = None) -> dict:
        sched = self.scheduler
        t, s = (v.to(x.device) for v in schedule.draw_grid_times(self.N, sched.config.num_train_timesteps, len(x),
                                                                 "per_sample", g))
        eps = torch.randn(x.shape, generator=g).to(x.device)
        z_t = sched.add_noise(x, eps, t)
        with torch.no_grad():  # the teacher's DDIM step to s, then the EMA target there
            # LCM's guidance-augmented ODE, x = x_c + w (x_c - x_null): guidance of scale 1 + w on the teacher's output
            teacher_net = teacher if w is None else guided(teacher, 1 + w)
            z_s = schedule.ddim_step(*schedule.predict(teacher_net, z_t, t, cond, sched), s, sched)
            ref = f(target, z_s, s, cond, sched)
        return {"loss": consistency_distance(f(online, z_t, t, cond, sched), ref, self.distance, self.huber_c)}


def train(ctx, out_dir: str, log_csv: str) -> dict:
    m, seed = ctx.mcfg, ctx.train_seed
    torch.manual_seed(seed)
    ts = load_training_set(ctx)
    teacher = load_base(ctx)
    lo, hi = m.get("guidance_range", (0.0, 0.0))  # LCM (methods.lcm); [0, 0]: CM, with no extra draw or layer
    online = models.add_guidance_embedding(teacher, m["embedding_dim"]) if hi > 0 else copy.deepcopy(teacher)
    online.requires_grad_(True)
    target = EMA(online, m["target_ema"])
    g = stream(seed, STREAM)
    loss = CMLoss(ts.scheduler, N=m["distill_steps"], distance=m["distance"], huber_c=m["huber_c"])
    teacher_net = concat_net(teacher)

    def step_loss(idx, step):
        if hi == 0:
            return loss(concat_net(online), concat_net(target.model), teacher_net, ts.x0[idx], ts.cond[idx], g)
        w = torch.empty(len(idx)).uniform_(lo, hi, generator=g)
        w_embedding = models.guidance_embedding(w, m["embedding_dim"]).to(ts.x0.device)
        return loss(concat_net(online, w_embedding), concat_net(target.model, w_embedding), teacher_net, ts.x0[idx],
                    ts.cond[idx], g, w.to(ts.x0.device).view(-1, 1, 1, 1))

    unet = fit(online, step_loss,
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

    lcm = unet.config.time_cond_proj_dim is not None  # LCM: the student takes the guidance scale it samples with

    @torch.no_grad()
    def sample(lr: torch.Tensor, steps: int, noise: torch.Tensor) -> torch.Tensor:
        cond = models.lr_condition(lr.to(ctx.device), noise.shape[-2:])
        w_emb = (models.guidance_embedding(torch.full((len(lr),), float(m["sample_guidance"])),
                                           unet.config.time_cond_proj_dim).to(ctx.device) if lcm else None)
        times = schedule.few_step_timesteps(sched.config.num_train_timesteps, m["distill_steps"], steps).tolist()
        net = concat_net(unet, w_emb)
        x = multistep_consistency(lambda z, t: f(net, z, torch.full((len(z),), t, device=z.device), cond, sched),
                                  times, noise.to(ctx.device), sched)
        return models.decode(vae, x)

    return sample
