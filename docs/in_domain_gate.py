"""The bicubic gate's comparison on the photographs the model was trained on (docs/experiments.md, "Both levers together").

LDM-SR-200 does not beat bicubic on fd_proxy on the held-out package. Is that the model's capacity (it would not beat
bicubic on its own training photos either) or the gap between the photo packages (it would)? This scores an LDM-SR
model's DDIM samples and the bicubic upsampling on the test pairs, or on as many training pairs drawn at random,
each against the HR of the same pairs: fd_proxy of both, their paired difference over bootstrap resamples of the
images (one model, so no training-seed variance: narrower than the gate's interval), and PSNR.

    python docs/in_domain_gate.py results/models/ldm_sr/train0 --split training    # in a finished run's folder

Training pairs were seen in training, so a lead there can also be memorisation; no lead there is the decisive case.
A diagnostic for the docs, not a DAG output.
"""
from __future__ import annotations

import argparse

import torch
from diffusers import DDIMScheduler

from cddbench import config, data, evaluate, metrics, models
from cddbench.methods import bicubic
from cddbench.methods.common import concat_sampler, load_pixels


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("--split", choices=("test", "training"), default="test")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--config", default="config.yaml")
    ap.add_argument("--vae", default="workflow/pretrained/tiny-teacher/vae")
    ap.add_argument("--test-pairs", default="results/data/pairs/test")
    ap.add_argument("--train-set", default="results/data/train_set.pt")
    a = ap.parse_args()
    torch.set_num_threads(1)
    cfg = config.load(a.config)
    seed, n_boot = cfg["seed"], cfg["evaluate"]["bootstrap"]
    test = data.load_split(a.test_pairs)
    lr, hr = data.to_tensor(test["lr"]), data.to_tensor(test["hr"])
    if a.split == "training":
        train_lr, train_hr = load_pixels(a.train_set)
        pick = torch.randperm(len(train_lr), generator=torch.Generator().manual_seed(seed))[:len(lr)]
        lr, hr = train_lr[pick], train_hr[pick]
    vae, unet = models.load_autoencoder(a.vae), models.load_unet(f"{a.model_dir}/unet")
    scheduler = DDIMScheduler.from_config(models.load_scheduler(a.model_dir).config, clip_sample=False,
                                          set_alpha_to_one=True, timestep_spacing=cfg["sampler"]["timestep_spacing"])
    ldm_sr = concat_sampler(vae, unet, scheduler)
    noise = torch.randn((len(lr), unet.config.out_channels, *lr.shape[-2:]),
                        generator=torch.Generator().manual_seed(seed))
    batch = cfg["sampler"]["batch_size"]
    samples = {"bicubic": data.to_uint8(bicubic.load(None)(lr, 0, None)),
               f"LDM-SR-{a.steps}": data.to_uint8(torch.cat([ldm_sr(lr[i:i + batch], a.steps, noise[i:i + batch])
                                                        for i in range(0, len(lr), batch)]))}
    space = metrics.FeatureSpace("proxy", {**evaluate.with_device(cfg), "device": "cpu"})
    hr_bytes = data.to_uint8(hr)
    ref = space(hr_bytes)
    features = {k: space(v) for k, v in samples.items()}
    fd = {k: metrics.frechet_distance_resamples(f, ref, n_boot, seed) for k, f in features.items()}
    whole = {k: metrics.frechet_distance(f, ref) for k, f in features.items()}
    lo, hi = metrics.percentile_interval(fd[f"LDM-SR-{a.steps}"] - fd["bicubic"])
    print(f"{a.split} pairs: {len(lr)}, model {a.model_dir}")
    for k, v in samples.items():
        print(f"  {k}: fd_proxy {whole[k]:.4f}, PSNR {metrics.psnr(v, hr_bytes).mean():.2f} dB")
    print(f"  fd_proxy LDM-SR-{a.steps} - bicubic = {whole[f'LDM-SR-{a.steps}'] - whole['bicubic']:+.4f} "
          f"[{lo:+.4f}, {hi:+.4f}] (images only)")


if __name__ == "__main__":
    main()
