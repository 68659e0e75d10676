"""How much of the HR test patch the LR condition holds, with the degradation acting on whole crops (the DAG's, as
Real-ESRGAN does) against the same degradation acting on each 32 px patch alone (the project's data before [15]):
per patch, the PSNR of the LR bicubic-upsampled against the HR, the LR's mean-colour error against the HR's (grey
levels, 0-255, mean absolute over channels) and the correlation of the LR with the HR area-averaged to LR size.

    python workflow/scripts/lr_quality.py --results results --config config.yaml

Both sides use the config's degradation and seed; the per-patch side seeds each draw by the patch's id (as
`cddbench.degrade.degrade` did per patch), the crop side is the `degrade` rule's output. A diagnostic for the docs,
not a DAG output.
"""
from __future__ import annotations

import argparse

import numpy as np
from PIL import Image

from cddbench import config as config_mod
from cddbench import data
from cddbench.degrade import degrade


def scores(hr: np.ndarray, lr: np.ndarray) -> tuple[float, float, float]:
    up = np.asarray(Image.fromarray(lr).resize(hr.shape[1::-1], Image.BICUBIC), dtype=np.float64)
    h = hr.astype(np.float64)
    psnr = 10 * np.log10(255.0**2 / max(np.mean((up - h) ** 2), 1e-10))
    colour = float(np.abs(lr.reshape(-1, 3).mean(0) - h.reshape(-1, 3).mean(0)).mean())
    small = np.asarray(Image.fromarray(hr).reduce(hr.shape[0] // lr.shape[0]), dtype=np.float64).ravel()
    l = lr.astype(np.float64).ravel()
    corr = float(np.corrcoef(small, l)[0, 1]) if small.std() > 0 and l.std() > 0 else float("nan")
    return psnr, colour, corr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", default="results")
    ap.add_argument("--config", nargs="+", default=["config.yaml"])
    a = ap.parse_args()
    cfg = config_mod.load(*a.config)
    pairs = data.load_split(f"{a.results}/data/pairs/test")
    rows = {"whole crops (the DAG)": [], "each patch alone (before)": []}
    for r in pairs:
        hr, lr = np.asarray(r["hr"].convert("RGB")), np.asarray(r["lr"].convert("RGB"))
        rows["whole crops (the DAG)"].append(scores(hr, lr))
        alone, _ = degrade(hr.copy(), cfg["seed"], r["id"], cfg["degradation"])
        rows["each patch alone (before)"].append(scores(hr, alone))
    print(f"{len(pairs)} test patches of {len(set(pairs['source']))} photographs, degradation "
          f"{cfg['degradation']['method']}, crop_size {cfg['data']['crop_size']}\n")
    print("| LR made from | bicubic PSNR (dB), mean | median | mean-colour error (grey levels), mean | "
          "correlation with area-averaged HR, median |\n| --- | --- | --- | --- | --- |")
    for name, v in rows.items():
        v = np.asarray(v)
        print(f"| {name} | {v[:, 0].mean():.2f} | {np.median(v[:, 0]):.2f} | {v[:, 1].mean():.2f} | "
              f"{np.nanmedian(v[:, 2]):.3f} |")


if __name__ == "__main__":
    main()
