"""Why does bicubic beat LDM-SR-200 on fd_proxy? Re-score finished sample folders after removing their colour shift.

    python docs/diagnose_bicubic_gate.py --results results --config config.yaml

For each sample folder named below, prints the metrics as sampled and after two post-hoc colour corrections that
take the low frequencies from the bicubic row's own PNGs: `mean` (each image's mean colour set to the bicubic
upsample's) and `wavelet` (StableSR's wavelet colour fix: the output's high frequencies over the bicubic upsample's
5-level a-trous low-pass). If a corrected row still loses to bicubic, colour alone does not explain the gap.
Then, per row, how much of its colour shift its *initial noise* decides: the share of variance (R^2) of each
sample's mean-colour error (sample minus HR, RGB) explained by a linear fit on the per-channel means of its z_T
(re-drawn from the seed and image id, as sampling drew it). z_T is independent of the image, so any share above
~0.004 (8 regressors / 2,160 images) is colour the model leaves to the noise instead of taking it from the LR: the
colour spread of its learned p(HR | LR). (Not the terminal-SNR leak of SD's schedule: a zero-terminal-SNR fine-tune
keeps the same share, docs/results.md.)
A diagnosis only: no Table 1 row is corrected (docs/results.md has the reading).
"""
from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F

from cddbench import config, data, evaluate, metrics
from cddbench.sample import initial_noise, read_folder

RUNS = [("ldm_sr", 200), ("ldm_sr", 4), ("cdd", 4), ("cm", 4)]


def _t(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(x).permute(0, 3, 1, 2).double()


def _u8(x: torch.Tensor) -> np.ndarray:
    return x.clamp(0, 255).round().byte().permute(0, 2, 3, 1).numpy()


def mean_fix(images: np.ndarray, reference: np.ndarray) -> np.ndarray:
    s, c = _t(images), _t(reference)
    return _u8(s - s.mean((2, 3), keepdim=True) + c.mean((2, 3), keepdim=True))


def _a_trous_lowpass(x: torch.Tensor, levels: int = 5) -> torch.Tensor:
    # StableSR's wavelet_reconstruction: a 3x3 binomial kernel dilated 1, 2, 4, ... (replicate padding)
    k = torch.tensor([[1, 2, 1], [2, 4, 2], [1, 2, 1]], dtype=x.dtype) / 16
    k = k[None, None].repeat(x.shape[1], 1, 1, 1)
    for i in range(levels):
        d = 2 ** i
        x = F.conv2d(F.pad(x, (d, d, d, d), mode="replicate"), k, groups=k.shape[0], dilation=d)
    return x


def wavelet_fix(images: np.ndarray, reference: np.ndarray) -> np.ndarray:
    s, c = _t(images), _t(reference)
    return _u8(s - _a_trous_lowpass(s) + _a_trous_lowpass(c))


def noise_share(images: np.ndarray, hr: np.ndarray, z_t: torch.Tensor) -> float:
    """R^2 of the per-image mean-colour error (3 columns) on the per-channel means of z_T (least squares)."""
    err = images.astype(np.float64).mean((1, 2)) - hr.astype(np.float64).mean((1, 2))
    x = np.c_[z_t.double().mean((2, 3)).numpy(), np.ones(len(err))]
    fit = x @ np.linalg.lstsq(x, err, rcond=None)[0]
    return float(1 - ((err - fit) ** 2).sum() / ((err - err.mean(0)) ** 2).sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default="results")
    ap.add_argument("--config", default="config.yaml")
    ap.add_argument("--train-seed", type=int, default=0)
    args = ap.parse_args()
    cfg = config.load(args.config)
    ecfg = {**evaluate.with_device(cfg), "bootstrap": 0}
    ref = np.load(f"{args.results}/metrics/reference.npz")
    hr = evaluate.hr_test_images(f"{args.results}/data/pairs/test")
    bicubic = read_folder(f"{args.results}/samples/bicubic/train0/seed0/0")

    def row(name: str, images: np.ndarray) -> None:
        r = evaluate.evaluate_images(images, hr, ref["features"], str(ref["backend"]), ecfg, cfg["seed"])
        print(f"| {name} | {r['fd_proxy']:.3f} | {r['lpips_proxy']:.3f} | {r['psnr']:.2f} | {r['ssim']:.3f} | "
              f"{r['colour_error']:.2f} |", flush=True)

    ids = data.load_split(f"{args.results}/data/pairs/test")["id"]
    from diffusers import AutoencoderKL  # after cddbench: its import installs the torchvision shim

    vae = AutoencoderKL.load_config(f"{args.results}/models/autoencoder")
    c, f = vae["latent_channels"], 2 ** (len(vae["block_out_channels"]) - 1)
    z_t = initial_noise(ids, (c, hr.shape[1] // f, hr.shape[2] // f), 0)  # sampling seed 0's draws
    shares = [f"| bicubic/0 | {metrics.colour_error(bicubic, hr).mean():.2f} | {noise_share(bicubic, hr, z_t):.3f} |"]
    print("| samples | fd_proxy | lpips_proxy | PSNR | SSIM | colour error |\n| --- | --- | --- | --- | --- | --- |")
    row("bicubic", bicubic)
    for run, steps in RUNS:
        images = read_folder(f"{args.results}/samples/{run}/train{args.train_seed}/seed0/{steps}")
        run = f"{run}/{steps}"
        row(run, images)
        row(f"{run} + mean colour of bicubic", mean_fix(images, bicubic))
        row(f"{run} + wavelet colour fix", wavelet_fix(images, bicubic))
        shares.append(f"| {run} | {metrics.colour_error(images, hr).mean():.2f} | {noise_share(images, hr, z_t):.3f} |")
    print("\n| samples | colour error | share of its variance set by z_T's channel means (R^2) |\n| --- | --- | --- |")
    print("\n".join(shares))


if __name__ == "__main__":
    main()
