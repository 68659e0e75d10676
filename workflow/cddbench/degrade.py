"""4x degradation of HR crops into aligned (LR, HR) patch pairs.

As in Real-ESRGAN, the degradation acts on whole crops (``data.crop_size``, its ``crop_pad_size``: 400 px) and the
training and test patches are cut from the degraded crop afterwards, each patch's LR the crop's LR at the patch's
place: the blur kernels (7-21 px), the resizes (down to 0.15 of the size) and JPEG's 8x8 blocks then act at their
intended scale relative to the content, not at 8-16x it, as they would on a 32 px patch degraded alone. Each crop's
degradation is drawn from a generator seeded by (config seed, crop id), so a test patch's LR is the same across runs,
machines, batch sizes and orders; the crop's drawn parameters are stored beside each of its patches.
``degradation.method`` picks the algorithm, and ``degradation.<method>`` holds its settings:
  ``simple``      Gaussian blur -> bicubic 4x down -> Gaussian noise -> JPEG
  ``realesrgan``  Real-ESRGAN's second-order pipeline (cddbench.realesrgan_degradation)
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
    from cddbench.realesrgan_degradation import degrade_realesrgan

    return degrade_realesrgan(hr, rng, cfg)


METHODS = {"simple": degrade_simple, "realesrgan": _realesrgan}


def degrade(hr: np.ndarray, seed: int, image_id: str, cfg: dict) -> tuple[np.ndarray, dict]:
    """``cfg`` is the config's ``degradation`` section."""
    method = cfg["method"]
    if method not in METHODS:
        raise ValueError(f"degradation.method={method!r}: expected one of {sorted(METHODS)}")
    return METHODS[method](hr, image_rng(seed, image_id), cfg[method])


def build_pairs(patch_dir: str, crop_dir: str, out_dir: str, seed: int, cfg: dict) -> int:
    """Degrade every HR crop of a crop dataset as a whole and cut each listed patch's (HR, LR) pair from it; save
    (id, source, crop, hr, lr, the crop's drawn parameters) to ``out_dir``."""
    import json

    import datasets

    lr_crops = {}
    for row in datasets.load_from_disk(crop_dir):
        lr, params = degrade(np.array(row["image"].convert("RGB")), seed, row["crop"], cfg)
        lr_crops[row["crop"]] = (lr, json.dumps(params, sort_keys=True))
    rows = []
    for row in datasets.load_from_disk(patch_dir):
        hr = np.asarray(row["image"].convert("RGB"))
        lr_crop, params = lr_crops[row["crop"]]
        _, origin = row["crop"].rsplit("#", 1)
        _, at = row["id"].rsplit("@", 1)
        (cy, cx), (y, x) = map(int, origin.split(",")), map(int, at.split(","))
        # HR offsets inside the crop are multiples of the factor (crop sides and strides are), so the LR is aligned
        ly, lx, n = (y - cy) // SCALE, (x - cx) // SCALE, hr.shape[0] // SCALE
        rows.append({"id": row["id"], "source": row["source"], "crop": row["crop"], "hr": row["image"],
                     "lr": Image.fromarray(np.ascontiguousarray(lr_crop[ly : ly + n, lx : lx + n])),
                     "degradation": params})
    features = datasets.Features({"id": datasets.Value("string"), "source": datasets.Value("string"),
                                  "crop": datasets.Value("string"), "hr": datasets.Image(), "lr": datasets.Image(),
                                  "degradation": datasets.Value("string")})
    datasets.Dataset.from_list(rows, features=features).save_to_disk(out_dir)
    return len(rows)
