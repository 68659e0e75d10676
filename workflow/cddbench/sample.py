"""Sample the test set with one (run, training seed, sampling seed) at each of its step counts: PNGs in dataset
order plus a timing record per step count."""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from cddbench import data, methods
from cddbench.train import autocast


def initial_noise(ids: list[str], shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """Per-image noise from (seed, image id): independent of batch size, order and worker count."""
    out = []
    for image_id in ids:
        g = torch.Generator().manual_seed(data.stable_int(f"{seed}/{image_id}"))
        out.append(torch.randn(shape, generator=g))
    return torch.stack(out)


def latent_shape(ctx: methods.Context, hr_size: int) -> tuple[int, int, int]:
    """The VAE's latent shape from its diffusers config.json, read as JSON: a job that needs no diffusers model
    (bicubic, Real-ESRGAN) does not pay diffusers' ~4 s import for it."""
    with open(os.path.join(ctx.vae_dir, "config.json")) as f:
        cfg = json.load(f)
    f = 2 ** (len(cfg["block_out_channels"]) - 1)
    return (cfg["latent_channels"], hr_size // f, hr_size // f)


def run(ctx: methods.Context, steps: list[int], seed: int, test_pairs: str, model_dir: str | None,
        out_dir: str, batch_size: int) -> dict[int, dict]:
    """The test set sampled at every step count in ``steps``: ``out_dir/<steps>/`` holds its PNGs and timing.json.

    One process for all of a run's step counts: the imports and the model load (~7 s of a 1-step job on one core)
    are paid once, and each step count draws the same per-image initial noise as a job of its own would."""
    from cddbench import config

    method = config.runs(ctx.cfg)[ctx.run]["method"]
    module = methods.get(method)
    pairs = data.load_split(test_pairs)
    ids, lr = pairs["id"], data.to_tensor(pairs["lr"])
    ctx = dataclasses.replace(ctx, test_ids=tuple(ids))
    sampler = module.load(ctx, model_dir)
    noise = initial_noise(ids, latent_shape(ctx, lr.shape[-1] * 4), seed)  # the same draws at every step count
    timed = getattr(module, "timed", lambda mcfg: True)(ctx.mcfg)  # outputs read from a folder have no latency here
    tmp = out_dir.rstrip("/") + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)  # a killed run's PNGs must never join this one's

    def sample_steps(k: int) -> dict:
        folder = os.path.join(tmp, str(k))
        os.makedirs(folder)
        seconds = 0.0
        for i in tqdm(range(0, len(ids), batch_size), desc=f"{ctx.run}-{k} seed {seed}", mininterval=5):
            start = time.perf_counter()
            with autocast(ctx.device, ctx.cfg.get("precision", "fp32")):
                # a copy: a sampler may scale its noise in place
                hr = sampler(lr[i : i + batch_size], k, noise[i : i + batch_size].clone()).float()
            seconds += time.perf_counter() - start
            for j, im in enumerate(data.to_uint8(hr)):
                Image.fromarray(im).save(os.path.join(folder, f"{i + j:05d}.png"))
        record = {"run": ctx.run, "method": method, "steps": k, "train_seed": ctx.train_seed, "seed": seed,
                  "nfe": module.nfe(k), "n_images": len(ids),
                  "seconds_per_image": seconds / len(ids) if timed else None, "batch_size": batch_size,
                  "device": ctx.device, "precision": ctx.cfg.get("precision", "fp32"),
                  "threads": torch.get_num_threads()}
        with open(os.path.join(folder, "timing.json"), "w") as f:
            json.dump(record, f, indent=1)
        return record

    records = {k: sample_steps(k) for k in steps}
    if os.path.isdir(out_dir):
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
    return records


def read_folder(folder: str) -> np.ndarray:
    """The PNGs of a sample folder, in name order, as uint8 N x H x W x 3."""
    files = sorted(f for f in os.listdir(folder) if f.endswith(".png"))
    if not files:
        raise FileNotFoundError(f"{folder}: no PNG samples")
    return np.stack([np.asarray(Image.open(os.path.join(folder, f)).convert("RGB")) for f in files])
