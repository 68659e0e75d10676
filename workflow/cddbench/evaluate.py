"""Metrics of one sample folder against the HR test set, as one JSON record (the protocol included)."""
from __future__ import annotations

import json
import os

import numpy as np

from cddbench import data, metrics
from cddbench.sample import read_folder


def hr_test_images(test_pairs: str) -> np.ndarray:
    return np.stack([np.asarray(im.convert("RGB")) for im in data.load_split(test_pairs)["hr"]])


def test_photos(test_pairs: str) -> list[str]:
    """The source photograph of every test image, in the test set's order: the unit of the intervals."""
    return list(data.load_split(test_pairs)["source"])


def with_device(cfg: dict) -> dict:
    """The ``evaluate`` section with the config's resolved ``device`` added: the metric networks and KD's kernel sums
    run there (a CUDA GPU when present; the same numbers to ~1e-12)."""
    from cddbench import config

    return {**cfg["evaluate"], "device": config.device(cfg)}


def reference(cfg: dict, test_pairs: str, out_npz: str) -> dict:
    """Features of the HR test set (computed once) and the noise floor: FD/KD between two random halves."""
    ecfg = with_device(cfg)
    backend = metrics.resolve_backend(ecfg)
    hr = hr_test_images(test_pairs)
    feats = metrics.FeatureSpace(backend, ecfg)(hr, ecfg["batch_size"])
    perm = np.random.default_rng(cfg["seed"]).permutation(len(hr))
    a, b = feats[perm[: len(hr) // 2]], feats[perm[len(hr) // 2 :]]
    n = metrics.names(backend)
    floor = {f"{n.fd}_floor": metrics.frechet_distance(a, b), f"{n.kd}_floor": metrics.kernel_distance(a, b, cfg["seed"], device=ecfg["device"]),
             "hr_saturation": float(metrics.saturation(hr).mean()), "hr_sharpness": float(metrics.sharpness(hr).mean())}
    np.savez(out_npz, features=feats, backend=backend)
    return {"backend": backend, "n_images": len(hr), **floor}


def measure_images(images: np.ndarray, hr: np.ndarray, ref_feats: np.ndarray, backend: str, ecfg: dict,
                   seed: int, paired: bool = True, photos: list[str] | None = None) -> tuple[dict, dict[str, np.ndarray]]:
    """All metrics of ``images`` against the HR references (paired metrics only when ``paired``): the record, and
    per metric its per-image values (``<metric>``, where it has them) and, given each image's source ``photos``,
    its value with each photograph left out in turn (``<metric>_loo``, in the order of ``photos``; FD and KD leave
    the photograph out of the reference too): what ``cddbench.paired``'s delete-one-photo jackknife reads."""
    n = metrics.names(backend)
    feats = metrics.FeatureSpace(backend, ecfg)(images, ecfg["batch_size"])
    device = ecfg.get("device", "cpu")  # set by the callers from the config's device (metrics.FeatureSpace)
    out = {n.fd: metrics.frechet_distance(feats, ref_feats)}
    if photos is not None and len(photos) != len(images):
        raise ValueError(f"{len(photos)} photo labels for {len(images)} images")
    names, groups = metrics.photo_groups(photos) if photos is not None else ([], [])
    if len(groups) < 2:  # else KD comes with its leave-one-photo-out values (one set of kernel matrices)
        out[n.kd] = metrics.kernel_distance(feats, ref_feats, seed, device=device)
    arrays: dict[str, np.ndarray] = {}
    per_image = {"saturation": metrics.saturation(images), "sharpness": metrics.sharpness(images)}
    if paired:
        if images.shape != hr.shape:
            raise ValueError(f"samples {images.shape} and HR references {hr.shape} differ in shape")
        per_image[n.lpips] = metrics.Lpips(backend, ecfg)(images, hr, ecfg["batch_size"])
        per_image["colour_error"] = metrics.colour_error(images, hr)
        per_image["psnr"], per_image["ssim"] = metrics.psnr(images, hr), metrics.ssim(images, hr)
    for name, values in per_image.items():  # means over test images
        arrays[name] = np.asarray(values, dtype=np.float64).ravel()
        out[name] = float(np.mean(values))
    if photos is not None:
        arrays["photos"] = np.array(names)
        if len(groups) < 2:  # one test photograph: nothing to leave out; the intervals say it is undecidable
            arrays |= {f"{name}_loo": np.full(1, np.nan) for name in (n.fd, n.kd, *per_image)}
        else:
            arrays[f"{n.fd}_loo"] = metrics.frechet_distance_loo(feats, ref_feats, groups)
            out[n.kd], arrays[f"{n.kd}_loo"] = metrics.kernel_distance_loo(feats, ref_feats, groups, seed, device)
            for name in per_image:
                arrays[f"{name}_loo"] = metrics.leave_one_out_means(arrays[name], groups)
    return out, arrays


def evaluate_images(images: np.ndarray, hr: np.ndarray, ref_feats: np.ndarray, backend: str, ecfg: dict,
                    seed: int, paired: bool = True) -> dict:
    """All metrics of ``images`` against the HR references, as one record (``measure_images`` without arrays)."""
    return measure_images(images, hr, ref_feats, backend, ecfg, seed, paired)[0]


def per_image_file(record_json: str) -> str:
    """Where a metric record's per-image and leave-one-photo-out values live: beside it, ``.npz``."""
    return record_json[: -len(".json")] + ".npz"


def evaluate_run(cfg: dict, samples_dir: str, steps: list[int], test_pairs: str, ref_npz: str, out_dir: str) -> dict:
    """Every step count of one sampling job (``samples_dir/<steps>/``) -> ``out_dir/<steps>.json`` (+ ``.npz``).

    One job per sampling job rather than per step count: the imports, the HR test set and the reference features are
    read once (the numbers are those of one folder at a time)."""
    ecfg = with_device(cfg)
    ref = np.load(ref_npz)
    backend = str(ref["backend"])
    if backend != metrics.resolve_backend(ecfg):
        raise RuntimeError(f"{ref_npz} was made with the {backend} backend; rerun the reference_features rule")
    hr, photos = hr_test_images(test_pairs), test_photos(test_pairs)
    os.makedirs(out_dir, exist_ok=True)
    return {k: _evaluate_folder(cfg, ecfg, f"{samples_dir}/{k}", hr, photos, ref["features"], backend,
                                f"{out_dir}/{k}.json") for k in steps}


def _evaluate_folder(cfg: dict, ecfg: dict, sample_dir: str, hr: np.ndarray, photos: list[str],
                     ref_feats: np.ndarray, backend: str, out_json: str) -> dict:
    with open(f"{sample_dir}/timing.json") as f:
        timing = json.load(f)
    record = {**timing, "metric_backend": backend, "resolution": int(hr.shape[1]),
              "proxy_note": metrics.NOTES[backend]}
    values, arrays = measure_images(read_folder(sample_dir), hr, ref_feats, backend, ecfg, cfg["seed"],
                                    photos=photos)
    record.update(values, n_photos=len(arrays["photos"]))
    with open(out_json, "w") as f:
        json.dump(record, f, indent=1)
    np.savez(per_image_file(out_json), **arrays)
    return record
