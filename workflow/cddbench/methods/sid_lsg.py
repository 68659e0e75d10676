"""SiD-LSG: SiD with long-short guidance (Zhou et al., ICLR 2025; the official SiD-LSG code's LSG setting).

SiD (``methods.sid``) with classifier-free guidance of scale ``kappa`` on both score networks: the teacher's output and
the fake network's, in the fake network's training and in the generator's loss (kappa1 = kappa2 = kappa3 = kappa4;
SiD-LSG's script uses 2, its paper's best FID 1.5). Guidance needs a null-condition branch: the teacher is the LDM-SR
run trained with condition dropout 0.1 (``variants: ldm_sr: condition_dropout: [0.1]``), and the fake network drops
its conditions at the same rate. Data-free like SiD.
"""
from __future__ import annotations

from cddbench.methods import sid

DISPLAY = "SiD-LSG"
SEEDED = True
BASE = "ldm_sr-condition_dropout=0.1"  # the guided teacher: LDM-SR with a null branch
STREAM = 9
NOTE = ("SiD-LSG is data-free: it reads the LR conditions only (HR images seen: its LDM-SR teacher's, trained with "
        "condition dropout 0.1)")
nfe = sid.nfe
load = sid.load


def train(ctx, out_dir: str, log_csv: str) -> dict:
    return sid.train(ctx, out_dir, log_csv, stream_offset=STREAM)
