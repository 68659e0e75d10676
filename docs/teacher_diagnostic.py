"""Where a teacher's distance to its training patches sits (docs/lab/experiments.md, "Where the 48-photo teacher's distance
comes from"). The gate `teacher_near_autoencoder_floor` reads one number, fd_proxy(teacher samples, training
patches) over the autoencoder's floor; this splits it:

- the FD into its mean term |mu1 - mu2|^2 and its covariance term tr S1 + tr S2 - 2 tr sqrt(S1 S2), and
  tr S1 / tr S2 (the samples' spread in feature space against the patches');
- the same for the autoencoder's floor and for a second draw of patches (the sampling noise of n images);
- pixel statistics: per-patch contrast (standard deviation) and HSV saturation;
- the teacher sampled by other diffusers schedulers from the same initial noise (DDIM with more steps, DDPM's
  ancestral sampler), to tell the model's error from the sampler's. The gate itself stays DDIM at
  ``teacher.grid_steps``; this does not change it.

    python docs/teacher_diagnostic.py        # the shipped teacher, in a run's folder (results/data from its patches rule)
    python docs/teacher_diagnostic.py --teacher results/models/teacher --vae results/models/autoencoder \
        --config config.yaml configs/pretrain.yaml                  # a teacher pretrained in this folder

The training draws, the initial noise and the feature network are the gate's (``quality.training_draws``,
``sample.initial_noise``, ``metrics.FeatureSpace``), so the DDIM row at ``grid_steps`` repeats the gate's number.
A diagnostic for the docs, not a DAG output.
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import torch
from diffusers import DDIMScheduler, DDPMScheduler
from scipy import linalg

from cddbench import config, data, evaluate, metrics, models
from cddbench.methods import Context
from cddbench.quality import teacher_samples, training_draws

SCHEDULERS = {"ddim": (DDIMScheduler, {"set_alpha_to_one": True}), "ddpm": (DDPMScheduler, {})}


def fd_terms(f1: np.ndarray, f2: np.ndarray) -> dict:
    """Frechet distance split into its two terms (scipy's sqrtm, as clean-fid; the sum is clean-fid's FD)."""
    mu1, mu2 = f1.mean(axis=0), f2.mean(axis=0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    mean_term = float(((mu1 - mu2) ** 2).sum())
    cov_term = float(np.trace(s1) + np.trace(s2) - 2 * np.trace(linalg.sqrtm(s1 @ s2).real))
    return {"fd": mean_term + cov_term, "mean_term": mean_term, "cov_term": cov_term,
            "spread_ratio": float(np.trace(s1) / np.trace(s2))}


def pixels(images: np.ndarray) -> dict:
    return {"patch_contrast": float(images.astype(np.float64).std(axis=(1, 2, 3)).mean()),
            "saturation": float(metrics.saturation(images).mean())}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--teacher", default="workflow/pretrained/tiny-teacher", help="unet/ and scheduler/ inside")
    ap.add_argument("--vae", default="workflow/pretrained/tiny-teacher/vae")
    ap.add_argument("--config", nargs="+", default=["config.yaml"])
    ap.add_argument("--train-patches", default="results/data/patches/train")
    ap.add_argument("--test-pairs", default="results/data/pairs/test", help="the gate draws as many patches")
    ap.add_argument("--samplers", default="ddim-50,ddim-200,ddpm-50,ddpm-200")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = config.load(*a.config)
    ctx = Context(cfg=cfg, train_set="", vae_dir=a.vae, teacher_dir=a.teacher, device="cpu", run="", mcfg=None,
                  base_dir="", checkpoint_dir="", train_seed=0)
    seed = cfg["seed"]
    reference, other = training_draws(a.train_patches, len(data.load_split(a.test_pairs)), seed)
    vae = models.load_autoencoder(a.vae)
    other_recon = data.to_uint8(models.decode(vae, models.encode(vae, data.to_tensor(other))))
    space = metrics.FeatureSpace("proxy", {**evaluate.with_device(cfg), "device": "cpu"})
    ref = space(reference)

    def report(name: str, images: np.ndarray) -> None:  # one JSON line per image set, as soon as it is scored
        print(json.dumps({name: {**fd_terms(space(images), ref), **pixels(images)}}), flush=True)

    print(json.dumps({"reference": {"images": f"{len(reference)} training HR patches", **pixels(reference)}}))
    report("training patches (second draw)", other)
    report("autoencoder reconstructions (the floor)", other_recon)
    base = models.load_scheduler(a.teacher).config
    for name in a.samplers.split(","):
        kind, steps = name.split("-")
        cls, extra = SCHEDULERS[kind]
        scheduler = cls.from_config(base, clip_sample=False, timestep_spacing=cfg["sampler"]["timestep_spacing"],
                                    **extra)
        scheduler.set_timesteps(int(steps))
        torch.manual_seed(seed)  # DDPM's added noise comes from the global generator
        report(f"teacher, {kind.upper()}-{steps}", data.to_uint8(teacher_samples(ctx, len(reference), seed, scheduler)))


if __name__ == "__main__":
    main()
