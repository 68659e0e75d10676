"""LCM: Latent Consistency Models (Luo et al. 2023) as a variant of CM (``methods.cm``), as read from the official
code and diffusers' LCM distillation script.

The project's CM already has LCM's skip-step DDIM solver, boundary scalings, EMA target and L2 / pseudo-Huber
distance. LCM adds the guidance-augmented ODE: the teacher's DDIM step uses x = x_c + w (x_c - x_null) (likewise eps),
w ~ U[``guidance_range``] per sample, and the student and its target take w through a guidance-scale embedding
(``time_cond_proj_dim``) whose new projection starts at zero, so the student starts exactly at LDM-SR. The null branch
needs a teacher trained with condition dropout (``ldm_sr-condition_dropout=0.1``). With ``guidance_range: [0, 0]``
it is CM, bit for bit (no layer added, no draw; tested). Sampled by CM's multistep consistency sampling with
``sample_guidance``.
"""
from __future__ import annotations

from cddbench.methods import cm

DISPLAY = "LCM"
SEEDED = True
BASE = "ldm_sr-condition_dropout=0.1"  # the guided teacher: LDM-SR with a null branch
LIMITS = [("distill_steps", "distill_steps", "<=", "num_train_timesteps"),
          ("steps", "max(steps)", "<=", "distill_steps")]  # sampling runs on the model's grid
nfe, train, load = cm.nfe, cm.train, cm.load
