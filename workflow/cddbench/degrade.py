"""4x degradation of HR patches into (LR, HR) pairs.

Each image's degradation is drawn from a generator seeded by (config seed, image id), so a test image's LR is the
same across runs, machines, batch sizes and orders; the drawn parameters are stored beside each image.
``degradation.method`` picks the algorithm, and ``degradation.<method>`` holds its settings:
  ``simple``      Gaussian blur -> bicubic 4x down -> Gaussian noise -> JPEG
  ``realesrgan``  Real-ESRGAN's second-order pipeline (cddbench.realesrgan)
Pairs are degraded once, in the ``degrade`` rule, for training and test alike (not on the fly).
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter

from cddbench.data import stable_int

SCALE = 4


def image_rng(seed: int, image_id: str) -> np.random.Generator:
    return np.random.default_rng([seed, stable_int(image_id)])


def degrade_simple(hr: np.ndarray, rng: np.random.Generator, cfg: dict) -> tuple[np.ndarray, dict]:
    h, w = hr.shape[:2]
    if h % SCALE or w % SCALE:
        raise ValueError(f"HR size {w}x{h} is not divisible by {SCALE}")
    params = {
        "blur_sigma": float(rng.uniform(*cfg["blur_sigma"])),
        "noise_sigma": float(rng.uniform(*cfg["noise_sigma"])),
        "jpeg_quality": int(rng.integers(cfg["jpeg_quality"][0], cfg["jpeg_quality"][1] + 1)),
    }
    im = Image.fromarray(hr).filter(ImageFilter.GaussianBlur(params["blur_sigma"]))
    lr = np.asarray(im.resize((w // SCALE, h // SCALE), Image.BICUBIC), dtype=np.float64)
    lr = np.clip(lr + rng.normal(0.0, params["noise_sigma"], lr.shape), 0, 255).round().astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(lr).save(buf, format="JPEG", quality=params["jpeg_quality"])
    lr = np.asarray(Image.open(buf).convert("RGB"), dtype=np.uint8)
    return lr, params


def _realesrgan(hr, rng, cfg):
    from cddbench.realesrgan import degrade_realesrgan

    return degrade_realesrgan(hr, rng, cfg)


METHODS = {"simple": degrade_simple, "realesrgan": _realesrgan}


def degrade(hr: np.ndarray, seed: int, image_id: str, cfg: dict) -> tuple[np.ndarray, dict]:
    """``cfg`` is the config's ``degradation`` section."""
    method = cfg["method"]
    if method not in METHODS:
        raise ValueError(f"degradation.method={method!r}: expected one of {sorted(METHODS)}")
    return METHODS[method](hr, image_rng(seed, image_id), cfg[method])


def build_pairs(patch_dir: str, out_dir: str, seed: int, cfg: dict) -> int:
    """Degrade every HR patch of a patch dataset; save (id, source, hr, lr, drawn parameters) to ``out_dir``."""
    import json

    import datasets

    rows = []
    for row in datasets.load_from_disk(patch_dir):
        lr, params = degrade(np.asarray(row["image"].convert("RGB")), seed, row["id"], cfg)
        rows.append({"id": row["id"], "source": row["source"], "hr": row["image"], "lr": Image.fromarray(lr),
                     "degradation": json.dumps(params, sort_keys=True)})
    features = datasets.Features({"id": datasets.Value("string"), "source": datasets.Value("string"),
                                  "hr": datasets.Image(), "lr": datasets.Image(),
                                  "degradation": datasets.Value("string")})
    datasets.Dataset.from_list(rows, features=features).save_to_disk(out_dir)
    return len(rows)
