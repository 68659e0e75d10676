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
from cddbench.methods.common import (DiffusionLoss, concat_net, images_seen, load_training_set, scheduler_sampler,
                                     write_info)
from cddbench.train import checkpoint_at, fit, stream

DISPLAY = "GD"
SEEDED = True
STREAM = 6
LIMITS = [("steps", "max(steps)", "<=", "num_train_timesteps"),
          ("rounds", "steps[0] * 2 ** rounds", "<=", "num_train_timesteps")]  # the first teacher's steps


def nfe(steps: int) -> int:
    return steps


def ddim_grid(scheduler, steps: int) -> torch.Tensor:
    """The trailing DDIM timesteps for ``steps`` steps, then -1 (the clean end point)."""
    from diffusers import DDIMScheduler

    ddim = DDIMScheduler.from_config(scheduler.config, timestep_spacing="trailing")
    ddim.set_timesteps(steps)
    return torch.cat([ddim.timesteps.long(), torch.tensor([-1])])


class ProgressiveDistillationLoss:
    """One halving round of progressive distillation (Salimans & Ho 2022, Algorithm 2): the student's one DDIM step
    t -> t'' must land where the teacher's two steps t -> t' -> t'' land. Solved for the x the student should
    predict, weighted by max(SNR, 1) (their "truncated SNR" weighting). ``student_steps`` is the student's step
    count (the teacher takes twice as many); networks are unconditional callables ``net(z, t, None) -> output``."""

    def __init__(self, scheduler, *, student_steps: int):
        self.scheduler, self.student_steps = scheduler, student_steps
        self.fine, self.coarse = ddim_grid(scheduler, 2 * student_steps), ddim_grid(scheduler, student_steps)

    def __call__(self, student, teacher, x: torch.Tensor, g: torch.Generator) -> dict:
        sched = self.scheduler
        i = torch.randint(0, self.student_steps, (len(x),), generator=g)
        t, t1, t2 = (v.to(x.device) for v in (self.coarse[i], self.fine[2 * i + 1], self.coarse[i + 1]))
        eps = torch.randn(x.shape, generator=g).to(x.device)
        z_t = sched.add_noise(x, eps, t)
        with torch.no_grad():
            z_1 = schedule.ddim_step(*schedule.predict(teacher, z_t, t, None, sched), t1, sched)
            z_2 = schedule.ddim_step(*schedule.predict(teacher, z_1, t1, None, sched), t2, sched)
            a_t, s_t = schedule.alpha_sigma(sched, t, x.ndim)
            a_2, s_2 = schedule.alpha_sigma(sched, t2, x.ndim)
            x_target = (z_2 - s_2 / s_t * z_t) / (a_2 - s_2 / s_t * a_t)
            weight = (a_t**2 / s_t**2).clamp(min=1.0)
        x_hat, _ = schedule.predict(student, z_t, t, None, sched)
        return {"loss": (weight * (x_hat - x_target).pow(2)).mean()}


def train(ctx, out_dir: str, log_csv: str) -> dict:
    m, seed = ctx.mcfg, ctx.train_seed
    (steps,) = m["steps"]
    torch.manual_seed(seed)
    ts = load_training_set(ctx)
    teacher = ts.teacher
    g = stream(seed, STREAM)
    for r in range(m["rounds"]):
        student_steps = steps * 2 ** (m["rounds"] - 1 - r)
        student = copy.deepcopy(teacher).requires_grad_(True)
        loss, student_net, teacher_net = (ProgressiveDistillationLoss(ts.scheduler, student_steps=student_steps),
                                          concat_net(student), concat_net(teacher))
        # batch order of round r: seed + r (round 1 shares the fine-tune's, as in every earlier release)
        student = fit(student, lambda idx, k: loss(student_net, teacher_net, ts.x0[idx], g),
                      m["train"], len(ts.x0), seed + r, log_csv.removesuffix(".csv") + f".round{r + 1}.csv",
                      f"{ctx.run} round {r + 1}: {2 * student_steps} -> {student_steps} steps",
                      precision=ctx.cfg["precision"],
                      checkpoint=checkpoint_at(ctx.checkpoint_dir, f"round{r + 1}", ctx.cfg, g=g))
        teacher = student.requires_grad_(False)  # the next round's frozen teacher
    online = models.add_condition_channels(teacher, ts.cond.shape[1]).requires_grad_(True)
    grid = ddim_grid(ts.scheduler, steps)[:-1]
    finetune, online_net = DiffusionLoss(ts.scheduler, timesteps=grid), concat_net(online)
    unet = fit(online, lambda idx, k: finetune(online_net, ts.x0[idx], ts.cond[idx], g),
               m["finetune"], len(ts.x0), seed, log_csv, f"{ctx.run} conditional fine-tune", precision=ctx.cfg["precision"],
               checkpoint=checkpoint_at(ctx.checkpoint_dir, "finetune", ctx.cfg, g=g))
    models.save_model(unet, os.path.join(out_dir, "unet"))
    ts.scheduler.save_pretrained(os.path.join(out_dir, "scheduler"))
    seen = m["rounds"] * images_seen(m["train"]) + images_seen(m["finetune"])
    return write_info(out_dir, online, [online, ts.vae], images_seen=seen)


def load(ctx, model_dir: str):
    ddim = models.ddim_scheduler(models.load_scheduler(model_dir).config, "trailing")  # the grid it was distilled on
    return scheduler_sampler(ctx, model_dir, ddim)
