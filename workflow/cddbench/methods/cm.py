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
                                     load_training_set, save_student, write_info)
from cddbench.sample import more_noise
from cddbench.train import EMA, checkpoint_at, fit, stream

DISPLAY = "CM"


def nfe(steps: int) -> int:
    return steps


def f(unet, z: torch.Tensor, t: torch.Tensor, cond: torch.Tensor, sched,
      w_embedding: torch.Tensor | None = None) -> torch.Tensor:
    """The consistency function: the boundary-scaled x prediction of an LDM-SR-shaped model (LCM: conditioned on
    the guidance scale's embedding)."""
    x_hat, _ = schedule.pred_to_x_eps(models.unet_forward(unet, z, t, cond, w_embedding), z, t, sched)
    return schedule.consistency_output(x_hat, z, t)


def loss(online, target, teacher, sched, x, cond, m: dict, g: torch.Generator, w: torch.Tensor | None = None,
         w_embedding: torch.Tensor | None = None) -> dict:
    """CM's loss; with a per-sample guidance scale ``w`` (LCM, ``methods.lcm``) the teacher's ODE step is the
    guidance-augmented one, x = x_c + w (x_c - x_null) and likewise eps, and both networks see ``w_embedding``."""
    t, s = (v.to(x.device) for v in schedule.draw_grid_times(m["distill_steps"], sched.config.num_train_timesteps,
                                                             len(x), "per_sample", g))
    eps = torch.randn(x.shape, generator=g).to(x.device)
    z_t = sched.add_noise(x, eps, t)
    with torch.no_grad():  # the teacher's DDIM step to s, then the EMA target there
        # LCM's guidance-augmented ODE, x = x_c + w (x_c - x_null): guidance of scale 1 + w on the teacher's output
        teacher_net = concat_net(teacher) if w is None else guided(concat_net(teacher), 1 + w)
        x_te, eps_te = schedule.pred_to_x_eps(teacher_net(z_t, t, cond), z_t, t, sched)
        z_s = schedule.ddim_step(x_te, eps_te, s, sched)
        ref = f(target, z_s, s, cond, sched, w_embedding)
    consistency = consistency_distance(f(online, z_t, t, cond, sched, w_embedding), ref, m["distance"], m["huber_c"])
    return {"loss": consistency}


def train(ctx, out_dir: str, log_csv: str) -> dict:
    m, seed = ctx.mcfg, ctx.train_seed
    torch.manual_seed(seed)
    ts = load_training_set(ctx)
    teacher = load_base(ctx)
    lo, hi = m.get("guidance_range", (0.0, 0.0))  # LCM (methods.lcm); [0, 0]: CM, with no extra draw or layer
    online = models.add_guidance_embedding(teacher, m["embedding_dim"]) if hi > 0 else copy.deepcopy(teacher)
    online.requires_grad_(True)
    target = EMA(online, m["target_ema"])
    g = stream(seed, "cm")

    def step_loss(idx, step):
        if hi == 0:
            return loss(online, target.model, teacher, ts.scheduler, ts.x0[idx], ts.cond[idx], m, g)
        w = torch.empty(len(idx)).uniform_(lo, hi, generator=g)
        w_embedding = models.guidance_embedding(w, m["embedding_dim"]).to(ts.x0.device)
        return loss(online, target.model, teacher, ts.scheduler, ts.x0[idx], ts.cond[idx], m, g,
                    w.to(ts.x0.device).view(-1, 1, 1, 1), w_embedding)

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
        z = noise.to(ctx.device)
        for i, t in enumerate(times):
            if i:  # re-noise the last prediction to time t (multistep consistency sampling)
                z = sched.add_noise(x, more_noise(noise, i).to(ctx.device), torch.tensor([t]))
            x = f(unet, z, torch.full((len(z),), t, device=z.device), cond, sched, w_emb)
        return models.decode(vae, x)

    return sample
