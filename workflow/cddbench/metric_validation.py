"""Metric validation: what each metric rewards and penalises, measured on graded distortions of the HR test set.

Every distortion is scored by every metric exactly as a sample folder is (``evaluate.evaluate_images`` against the
HR test set and its reference features), so the table says how a proxy reacts to blur, noise, JPEG, a colour cast,
bicubic re-upsampling of the clean 4x downsample, and to "wrong but realistic" images: the HR patches shuffled among
the test images, a set with exactly the HR distribution and none of the pairing.
"""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
from PIL import Image, ImageFilter

from cddbench import metrics
from cddbench.evaluate import evaluate_images

# (family, parameter, levels in increasing strength). Blur starts at sigma 1: PIL's sigma 0.5 leaves 8-bit 32 px
# patches unchanged (measured: PSNR inf). Colour cast: +level grey levels on R, -level on B (the drift of the
# diffusion rows measured in issue [8] was R -7 / B +7).
GRADED = [("blur", "sigma", [1.0, 2.0, 3.0]), ("noise", "sigma", [5.0, 10.0, 20.0]),
          ("jpeg", "quality", [80, 50, 20]), ("colour_cast", "grey_levels", [4, 8, 16])]
SINGLE = [("bicubic_x4", "factor", 4), ("shuffled", "-", 0)]


def distort(hr: np.ndarray, family: str, level: float, seed: int) -> np.ndarray:
    """``hr`` (N, H, W, 3 uint8) with one distortion applied; seeded where random."""
    rng = np.random.default_rng(seed)
    if family == "blur":
        return np.stack([np.asarray(Image.fromarray(x).filter(ImageFilter.GaussianBlur(level))) for x in hr])
    if family == "noise":
        return np.clip(hr + rng.normal(0, level, hr.shape), 0, 255).round().astype(np.uint8)
    if family == "jpeg":
        def jpeg(x):
            buf = io.BytesIO()
            Image.fromarray(x).save(buf, format="JPEG", quality=int(level))
            return np.asarray(Image.open(buf).convert("RGB"))
        return np.stack([jpeg(x) for x in hr])
    if family == "colour_cast":
        shift = np.array([level, 0, -level])
        return np.clip(hr.astype(np.int16) + shift, 0, 255).astype(np.uint8)
    if family == "bicubic_x4":
        h, w = hr.shape[1:3]
        small = [Image.fromarray(x).resize((w // int(level), h // int(level)), Image.BICUBIC) for x in hr]
        return np.stack([np.asarray(s.resize((w, h), Image.BICUBIC)) for s in small])
    if family == "shuffled":  # every image replaced by another test image's HR (a derangement: none stays)
        perm = rng.permutation(len(hr))
        return hr[np.roll(perm, 1)][np.argsort(perm)]
    raise ValueError(f"unknown distortion {family!r}")


def validate_metrics(hr: np.ndarray, ref_feats: np.ndarray, backend: str, ecfg: dict, seed: int) -> pd.DataFrame:
    """One row per (distortion, level), plus the undistorted HR set: every metric of the backend."""
    cases = [("none", "-", 0, 0)] + [(f, p, lv, i + 1) for f, p, levels in GRADED for i, lv in enumerate(levels)]
    cases += [(f, p, lv, 1) for f, p, lv in SINGLE]
    rows = []
    for family, param, level, strength in cases:
        images = hr if family == "none" else distort(hr, family, level, seed)
        scores = evaluate_images(images, hr, ref_feats, backend, ecfg, seed)
        rows.append({"distortion": family, "parameter": param, "level": level, "strength": strength,
                     "metric_backend": backend, **scores})
    return pd.DataFrame(rows)


def figure(table: pd.DataFrame, out_png: str) -> None:
    """One panel per metric: its value against strength for each graded distortion (0 = the HR set itself), the
    single distortions as markers at strength 1."""
    from cddbench.figures import _plt

    plt = _plt()
    n = metrics.names(table["metric_backend"].iloc[0])
    cols = [n.fd, n.kd, n.lpips, "psnr", "ssim", "colour_error"]
    fig, axes = plt.subplots(1, len(cols), figsize=(3 * len(cols), 3))
    none = table[table["distortion"] == "none"].iloc[0]
    for ax, col in zip(axes, cols):
        for family, _, _ in GRADED:
            g = table[table["distortion"] == family].sort_values("strength")
            ax.plot([0] + list(g["strength"]), [none[col]] + list(g[col]), "o-", ms=3, label=family)
        for family, _, _ in SINGLE:
            ax.plot([1], table.loc[table["distortion"] == family, col], "s", ms=6, label=family)
        ax.set_title(col, fontsize=9)
        ax.set_xlabel("strength", fontsize=8)
    axes[0].legend(fontsize=6)
    fig.suptitle("metric validation: graded distortions of the HR test set", fontsize=9)
    fig.tight_layout()
    fig.savefig(out_png, dpi=120)
    plt.close(fig)
