"""The paper's structure, in one place: Table 1's rows, the runs each claim and figure reads, the figure layouts.

Run names are the config's (``cddbench.config.runs``): a ``methods`` entry, or ``<method>-<key>=<value>`` for a
``variants`` value. ``missing`` names the runs a config lacks and what needs them; the Snakefile warns with it while
the DAG is built, and the claims that lack a run say "not tested" and name it.
"""
from __future__ import annotations

from collections.abc import Iterable

# Table 1's rows that are variants, and the runs of the ablations (Fig. 3, Fig. 5), as config.yaml's `variants` name them
OURS, OURS_STAR = "cdd", "cdd-regime=adapter"
DPM_SOLVER_PP = "dpm_solver-algorithm_type=dpmsolver++"
BASELINES_4 = ["ldm_sr", "dpm_solver", DPM_SOLVER_PP, "cm", "gd"]  # the 4-step rows Ours and Ours* must beat
RANDOM_INIT = "cdd-init=random"
PER_SAMPLE_T = "cdd-time_sampling=per_sample"
NO_GUIDANCE = "cdd-guidance.weight=0.0"
DDIM_V, DDIM_PRETRAINED = "cdd-predictor=ddim_v", "cdd-predictor=ddim_pretrained"
L2_PIXEL, LPIPS_GUIDANCE = "cdd-guidance.distance=l2_pixel", "cdd-guidance.distance=lpips"

# Table 1 (real-world 4x SR) in the paper's row order: (run, steps, the paper's (FID, LPIPS)). Bicubic is not in
# the paper: the training-free reference every learned method must beat.
TABLE1 = [
    ("bicubic", 0, None), ("esrgan", 1, (37.64, 0.3112)), ("stablesr", 200, (24.44, 0.3114)),
    ("ldm_sr", 4, (30.99, 0.3070)), ("dpm_solver", 4, (30.12, 0.3077)), (DPM_SOLVER_PP, 4, (30.03, 0.3073)),
    ("cm", 4, (30.63, 0.3066)), ("gd", 4, (27.81, 0.3172)), (OURS_STAR, 4, (25.21, 0.2941)),
    (OURS, 4, (19.64, 0.2656)), ("ldm_sr", 200, (18.63, 0.2551)),
]
TABLE1_RUNS = {run for run, _, _ in TABLE1}
PAPER_VALUES = {(run, steps): v for run, steps, v in TABLE1 if v}  # {(run, steps): (FID, LPIPS)}
# Table 1's block "beyond the paper" (issue [11]), below the paper's rows when a peer ran (configs/peers.yaml): the
# field's newer few-step peers at (run, steps), each method's own entry (methods.<name>), with Ours-1 beside them.
PEERS = ["sid", "sid_lsg", "dmd2", "lcm"]
BEYOND = [(OURS, 1), ("sid", 1), ("sid_lsg", 1), ("dmd2", 1), ("dmd2", 4), ("lcm", 4)]
# ... and Fig. 6's extra columns after the paper's when the config runs them: (label, run, steps)
FIG6_PEER_COLUMNS = [("SiD-1", "sid", 1), ("SiD-LSG-1", "sid_lsg", 1), ("DMD2-1", "dmd2", 1), ("DMD2-4", "dmd2", 4),
                     ("LCM-4", "lcm", 4)]
# Row names of variants the paper names; other variants read "<method> [key=value]".
LABELS = {OURS_STAR: "Ours*", DPM_SOLVER_PP: "DPM-Solver++"}
# Rows of the paper this benchmark does not reproduce: shown with the paper's values and why they are not run.
NOT_RUN = {"stablesr": ("StableSR", "not run: a separate published system on a frozen Stable Diffusion; "
                                    "no tiny-profile equivalent")}

# The ablation figures as panels (title, {legend label: run}): the default CDD run beside the variants that each
# change one key.
FIG5_PANELS = [
    ("pretraining", {"pretrained": OURS, "random init": RANDOM_INIT}),
    ("time sampling", {"shared t": OURS, "per-sample t": PER_SAMPLE_T}),
    ("conditional guidance", {"lambda = 1": OURS, "lambda = 0": NO_GUIDANCE}),
    ("predictor", {"PREv": OURS, "DDIM-v": DDIM_V, "DDIM-pretrained": DDIM_PRETRAINED}),
]
FIG3_PANELS = [("guidance distance d_x", {"L2 latent": OURS, "L2 pixel": L2_PIXEL, "LPIPS": LPIPS_GUIDANCE})]
# Fig. 6's columns between LR and HR: (label, run, steps)
FIG6_COLUMNS = [("bicubic", "bicubic", 0), ("LDM-SR-4", "ldm_sr", 4), ("GD-4", "gd", 4), ("CM-4", "cm", 4),
                ("Ours-4", OURS, 4), ("LDM-SR-200", "ldm_sr", 200)]

# The runs each of the seven claims compares (cddbench.claims builds the comparisons)
CLAIM_RUNS = {
    1: [OURS, *BASELINES_4, OURS_STAR], 2: [OURS_STAR, *BASELINES_4], 3: [OURS, RANDOM_INIT],
    4: [OURS, PER_SAMPLE_T], 5: [OURS, NO_GUIDANCE], 6: [OURS, DDIM_V, DDIM_PRETRAINED],
    7: [OURS, L2_PIXEL, LPIPS_GUIDANCE],
}


def needs() -> dict[str, list[str]]:
    """{run: the paper outputs that read it}."""
    out: dict[str, list[str]] = {}
    for run, _, _ in TABLE1:
        if run not in NOT_RUN:
            out.setdefault(run, []).append("Table 1")
    for claim, runs in CLAIM_RUNS.items():
        for run in runs:
            out.setdefault(run, []).append(f"claim {claim}")
    for fig, panels in (("Fig. 5", FIG5_PANELS), ("Fig. 3", FIG3_PANELS)):
        for title, runs in panels:
            for run in runs.values():
                out.setdefault(run, []).append(f"{fig} '{title}'")
    for label, run, _ in FIG6_COLUMNS:
        out.setdefault(run, []).append(f"Fig. 6 '{label}'")
    return {run: list(dict.fromkeys(uses)) for run, uses in out.items()}


def missing(runs: Iterable[str]) -> dict[str, list[str]]:
    """The runs the paper's outputs read that ``runs`` (a config's) lack, with what reads each."""
    have = set(runs)
    return {run: uses for run, uses in needs().items() if run not in have}
