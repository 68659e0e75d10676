"""Where an LDM-SR model's colour error comes from (docs/lab/experiments.md, "LDM-SR's training budget"): the per-image colour
error (`cddbench.metrics.colour_error`) of the bicubic LR, of the autoencoder's reconstruction, and of 1- and 4-step
DDIM samples, on the test pairs and on as many training pairs drawn at random. With trailing spacing a 1-step sample
starts at t = 999, where zero terminal SNR makes it the model's conditional mean E[x0 | LR]. Then the colour gain:
how far that mean's colour moves when every test LR is shifted by SHIFT grey levels (1: it follows the LR's colour;
below 1: it pulls towards the colours it learnt).

    python docs/colour_diagnostic.py results/models/ldm_sr/train0     # in a finished run's folder

A diagnostic for the docs, not a DAG output: the DAG's own colour error is in runs.csv.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler

from cddbench import data, metrics, models
from cddbench.methods.common import concat_sampler, load_pixels

SHIFT = 8  # grey levels added to every LR pixel for the colour gain


def ddim(sample, lr: torch.Tensor, channels: int, steps: int, seed: int, batch: int = 200) -> torch.Tensor:
    """``steps`` DDIM steps of every LR (the DAG's sampler, ``concat_sampler``), noise drawn from ``seed``."""
    noise = torch.randn((len(lr), channels, *lr.shape[-2:]), generator=torch.Generator().manual_seed(seed))
    return torch.cat([sample(lr[i:i + batch], steps, noise[i:i + batch]) for i in range(0, len(lr), batch)])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("--vae", default="workflow/pretrained/tiny-teacher/vae")
    ap.add_argument("--test-pairs", default="results/data/pairs/test")
    ap.add_argument("--train-set", default="results/data/train_set.pt")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(1)
    vae = models.load_autoencoder(a.vae)
    unet = models.load_unet(f"{a.model_dir}/unet")
    scheduler = DDIMScheduler.from_config(models.load_scheduler(a.model_dir).config, clip_sample=False,
                                          set_alpha_to_one=True, timestep_spacing="trailing")
    sample, channels = concat_sampler(vae, unet, scheduler), unet.config.out_channels
    test = data.load_split(a.test_pairs)
    test_lr, test_hr = data.to_tensor(test["lr"]), data.to_tensor(test["hr"])
    train_lr, train_hr = load_pixels(a.train_set)
    pick = torch.randperm(len(train_lr), generator=torch.Generator().manual_seed(a.seed))[:len(test_lr)]
    print("| pairs | bicubic LR | autoencoder | 1-step (E[x0 given LR]) | 4-step |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, lr, hr in (("test", test_lr, test_hr), ("training (random)", train_lr[pick], train_hr[pick])):
        with torch.no_grad():
            rec = torch.cat([models.decode(vae, models.encode(vae, hr[i:i + 500])) for i in range(0, len(hr), 500)])
        up = F.interpolate(lr, size=hr.shape[-2:], mode="bicubic", align_corners=False).clamp(-1, 1)
        cells = [up, rec] + [ddim(sample, lr, channels, steps, a.seed) for steps in (1, 4)]
        errors = [metrics.colour_error(data.to_uint8(x), data.to_uint8(hr)).mean() for x in cells]
        print(f"| {name} ({len(hr)}) | " + " | ".join(f"{e:.2f}" for e in errors) + " |", flush=True)
    shifted = (test_lr + SHIFT / 127.5).clamp(-1, 1)  # clamping at white: the gain divides by the shift that was made
    mean_colour = [data.to_uint8(x).astype(np.float64).mean(axis=(1, 2)) for x in
                   (ddim(sample, test_lr, channels, 1, a.seed), ddim(sample, shifted, channels, 1, a.seed),
                    test_lr, shifted)]
    gain = (mean_colour[1] - mean_colour[0]).sum(axis=0) / (mean_colour[3] - mean_colour[2]).sum(axis=0)
    print(f"\ncolour gain of the 1-step mean on the test LRs (+{SHIFT} grey levels), R G B: "
          + " ".join(f"{g:.2f}" for g in gain))


if __name__ == "__main__":
    main()
