"""Metrics of one sample folder against the HR test set, as one JSON record (the protocol included)."""
from __future__ import annotations

import json

import numpy as np

from cddbench import data, metrics
from cddbench.sample import read_folder


def hr_test_images(test_pairs: str) -> np.ndarray:
    return np.stack([np.asarray(im.convert("RGB")) for im in data.load_split(test_pairs)["hr"]])


def reference(cfg: dict, test_pairs: str, out_npz: str) -> dict:
    """Features of the HR test set (computed once) and the noise floor: FD/KD between two random halves."""
    ecfg = cfg["evaluate"]
    backend = metrics.resolve_backend(ecfg)
    hr = hr_test_images(test_pairs)
    feats = metrics.FeatureSpace(backend, ecfg)(hr, ecfg["batch_size"])
    perm = np.random.default_rng(cfg["seed"]).permutation(len(hr))
    a, b = feats[perm[: len(hr) // 2]], feats[perm[len(hr) // 2 :]]
    n = metrics.names(backend)
    floor = {f"{n.fd}_floor": metrics.frechet_distance(a, b), f"{n.kd}_floor": metrics.kernel_distance(a, b, cfg["seed"]),
             "hr_saturation": float(metrics.saturation(hr).mean()), "hr_sharpness": float(metrics.sharpness(hr).mean())}
    np.savez(out_npz, features=feats, backend=backend)
    return {"backend": backend, "n_images": len(hr), **floor}


def evaluate_images(images: np.ndarray, hr: np.ndarray, ref_feats: np.ndarray, backend: str, ecfg: dict,
                    seed: int, paired: bool = True) -> dict:
    """All metrics of ``images`` against the HR references (paired metrics only when ``paired``)."""
    n, n_boot = metrics.names(backend), ecfg.get("bootstrap", 0)
    feats = metrics.FeatureSpace(backend, ecfg)(images, ecfg["batch_size"])
    out = {n.fd: metrics.frechet_distance(feats, ref_feats), n.kd: metrics.kernel_distance(feats, ref_feats, seed)}
    if n_boot:
        out[f"{n.fd}_ci_low"], out[f"{n.fd}_ci_high"] = metrics.frechet_distance_bootstrap(feats, ref_feats, n_boot, seed)
    per_image = {"saturation": metrics.saturation(images), "sharpness": metrics.sharpness(images)}
    if paired:
        if images.shape != hr.shape:
            raise ValueError(f"samples {images.shape} and HR references {hr.shape} differ in shape")
        per_image[n.lpips] = metrics.Lpips(backend, ecfg)(images, hr, ecfg["batch_size"])
        per_image["colour_error"] = metrics.colour_error(images, hr)
        out["psnr"] = float(np.mean(metrics.psnr(images, hr)))
        out["ssim"] = float(np.mean(metrics.ssim(images, hr)))
    for name, values in per_image.items():  # means over test images, with their bootstrap 95% intervals
        out[name] = float(np.mean(values))
        if n_boot:
            out[f"{name}_ci_low"], out[f"{name}_ci_high"] = metrics.mean_bootstrap(values, n_boot, seed)
    return out


def evaluate_folder(cfg: dict, sample_dir: str, test_pairs: str, ref_npz: str, out_json: str) -> dict:
    ecfg = cfg["evaluate"]
    ref = np.load(ref_npz)
    backend = str(ref["backend"])
    if backend != metrics.resolve_backend(ecfg):
        raise RuntimeError(f"{ref_npz} was made with the {backend} backend; rerun the reference_features rule")
    with open(f"{sample_dir}/timing.json") as f:
        timing = json.load(f)
    images, hr = read_folder(sample_dir), hr_test_images(test_pairs)
    record = {**timing, "metric_backend": backend, "resolution": int(hr.shape[1]),
              "proxy_note": None if backend == "standard" else
              "fd_proxy/kd_proxy/lpips_proxy use a seeded random AlexNet; not comparable to published FID/LPIPS",
              **evaluate_images(images, hr, ref["features"], backend, ecfg, cfg["seed"])}
    with open(out_json, "w") as f:
        json.dump(record, f, indent=1)
    return record
