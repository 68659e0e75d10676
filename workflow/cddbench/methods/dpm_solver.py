"""DPM-Solver / DPM-Solver++: the LDM-SR model sampled with diffusers' ``DPMSolverMultistepScheduler``.

No training: a faster ODE solver for the same model, the "better sampler" answer to few-step SR. The
``dpmsolver`` algorithm needs ``final_sigmas_type="sigma_min"`` in diffusers (its last step to sigma = 0 is
undefined); ``dpmsolver++`` uses the default ``zero``.
"""
from __future__ import annotations

from cddbench import models
from cddbench.methods.common import scheduler_sampler

DISPLAY = "DPM-Solver"
SEEDED = True
BASE = "ldm_sr"  # samples the LDM-SR model of its training seed
LIMITS = [("steps", "max(steps)", "<=", "num_train_timesteps")]


def nfe(steps: int) -> int:
    return steps  # multistep: one network evaluation per step


def load(ctx, model_dir=None):
    from diffusers import DPMSolverMultistepScheduler

    m = ctx.mcfg
    if not ctx.base_dir:
        raise ValueError(f"{ctx.run}: DPM-Solver samples the LDM-SR model; no base model folder was given (--base)")
    solver = DPMSolverMultistepScheduler.from_config(
        models.load_scheduler(ctx.base_dir).config, algorithm_type=m["algorithm_type"],
        solver_order=m["solver_order"], timestep_spacing=ctx.cfg["sampler"]["timestep_spacing"],
        final_sigmas_type="sigma_min" if m["algorithm_type"] == "dpmsolver" else "zero")
    return scheduler_sampler(ctx, ctx.base_dir, solver)
