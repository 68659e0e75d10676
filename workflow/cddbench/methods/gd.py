"""GD: guided / progressive distillation, "distillation first" (Salimans & Ho 2022; Meng et al. 2023).

The unconditional teacher is distilled by repeated halving: in each round a student learns to do in one DDIM
step what its frozen teacher does in two, and then becomes the next round's teacher, until the student takes
``steps`` steps. The 4-step student is then fine-tuned on the (LR, HR) pairs as a conditional model (the LR
concatenated to the latent, as in LDM-SR) with the diffusion loss at its own sampling timesteps.
The step grids are DDIM's ``trailing`` spacing (4 steps: 999, 749, 499, 249 -> clean), training and sampling alike.
"""
from __future__ import annotations

import copy
import os

import torch

from cddbench import models, schedule
from cddbench.methods.common import diffusion_loss, images_seen, load_training_set, scheduler_sampler, write_info
from cddbench.train import checkpoint_at, fit, stream

DISPLAY = "GD"


def nfe(steps: int) -> int:
    return steps


def ddim_grid(scheduler, steps: int) -> torch.Tensor:
    """The trailing DDIM timesteps for ``steps`` steps, then -1 (the clean end point)."""
    from diffusers import DDIMScheduler

    ddim = DDIMScheduler.from_config(scheduler.config, timestep_spacing="trailing")
    ddim.set_timesteps(steps)
    return torch.cat([ddim.timesteps.long(), torch.tensor([-1])])


def uncond_x_eps(unet, z, t, sched):
    return schedule.pred_to_x_eps(models.unet_forward(unet, z, t), z, t, sched)


def halving_loss(student, teacher, sched, x, student_steps: int, g: torch.Generator) -> dict:
    """Progressive distillation (Salimans & Ho, Algorithm 2): the student's one DDIM step t -> t'' must land where
    the teacher's two steps t -> t' -> t'' land. Solved for the x the student should predict, weighted by
    max(SNR, 1) (their "truncated SNR" weighting)."""
    fine, coarse = ddim_grid(sched, 2 * student_steps), ddim_grid(sched, student_steps)
    i = torch.randint(0, student_steps, (len(x),), generator=g)
    t, t1, t2 = (v.to(x.device) for v in (coarse[i], fine[2 * i + 1], coarse[i + 1]))
    eps = torch.randn(x.shape, generator=g).to(x.device)
    z_t = sched.add_noise(x, eps, t)
    with torch.no_grad():
        z_1 = schedule.ddim_step(*uncond_x_eps(teacher, z_t, t, sched), t1, sched)
        z_2 = schedule.ddim_step(*uncond_x_eps(teacher, z_1, t1, sched), t2, sched)
        a_t, s_t = schedule.alpha_sigma(sched, t, x.ndim)
        a_2, s_2 = schedule.alpha_sigma(sched, t2, x.ndim)
        x_target = (z_2 - s_2 / s_t * z_t) / (a_2 - s_2 / s_t * a_t)
        weight = (a_t**2 / s_t**2).clamp(min=1.0)
    x_hat, _ = uncond_x_eps(student, z_t, t, sched)
    mse = (weight * (x_hat - x_target).pow(2)).mean()
    return {"loss": mse}


def train(ctx, out_dir: str, log_csv: str) -> dict:
    m, seed = ctx.mcfg, ctx.train_seed
    (steps,) = m["steps"]
    torch.manual_seed(seed)
    ts = load_training_set(ctx)
    teacher = ts.teacher
    g = stream(seed, "gd")
    for r in range(m["rounds"]):
        student_steps = steps * 2 ** (m["rounds"] - 1 - r)
        student = copy.deepcopy(teacher).requires_grad_(True)
        # batch order of round r: seed + r (round 1 shares the fine-tune's, as in every earlier release)
        student = fit(student, lambda idx, k: halving_loss(student, teacher, ts.scheduler, ts.x0[idx], student_steps, g),
                      m["train"], len(ts.x0), seed + r, log_csv.removesuffix(".csv") + f".round{r + 1}.csv",
                      f"{ctx.run} round {r + 1}: {2 * student_steps} -> {student_steps} steps",
                      precision=ctx.cfg["precision"],
                      checkpoint=checkpoint_at(ctx.checkpoint_dir, f"round{r + 1}", ctx.cfg, g=g))
        teacher = student.requires_grad_(False)  # the next round's frozen teacher
    online = models.add_condition_channels(teacher, ts.cond.shape[1]).requires_grad_(True)
    grid = ddim_grid(ts.scheduler, steps)[:-1]
    unet = fit(online, lambda idx, k: diffusion_loss(online, ts.scheduler, ts.x0[idx], ts.cond[idx], g, grid),
               m["finetune"], len(ts.x0), seed, log_csv, f"{ctx.run} conditional fine-tune", precision=ctx.cfg["precision"],
               checkpoint=checkpoint_at(ctx.checkpoint_dir, "finetune", ctx.cfg, g=g))
    models.save_model(unet, os.path.join(out_dir, "unet"))
    ts.scheduler.save_pretrained(os.path.join(out_dir, "scheduler"))
    seen = m["rounds"] * images_seen(m["train"]) + images_seen(m["finetune"])
    return write_info(out_dir, online, [online, ts.vae], images_seen=seen)


def load(ctx, model_dir: str):
    from diffusers import DDIMScheduler

    ddim = DDIMScheduler.from_config(models.load_scheduler(model_dir).config, clip_sample=False, set_alpha_to_one=True,
                                     timestep_spacing="trailing")  # the grid it was distilled on
    return scheduler_sampler(ctx, model_dir, ddim)
