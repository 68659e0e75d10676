"""A model from outside the benchmark, put on its protocol: same test LR images, same metrics, Table 1, runs.csv, the
Pareto plot and paired comparisons (``cddbench.claims.external_comparisons``).

Two sources (``methods.external`` in the config, exactly one of):
  ``samples``   a folder of the model's HR outputs, ``<test image id>.png``, made elsewhere (ids: the ``id`` column of
                ``results/data/pairs/test``); no latency is known for them, so none is recorded;
  ``pipeline``  a diffusers pipeline folder, called as ``pipe(image=[PIL LR], num_inference_steps=steps,
                generator=[one per image], output_type="np")``; its class is found by ``DiffusionPipeline`` (classes
                inside diffusers) or is ``cddbench.pipeline.CDDSuperResolutionPipeline``.
``steps`` labels the row (its network evaluations per image, as the model's authors count them).
"""
from __future__ import annotations

import json
import os

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from cddbench import data

DISPLAY = "External"
SEEDED = True  # a model from elsewhere, sampled per seed


def nfe(steps: int) -> int:
    return steps


def timed(mcfg: dict) -> bool:
    """Whether sampling time is this model's latency (not for outputs read from a folder)."""
    return not mcfg.get("samples")


def load(ctx, model_dir=None):
    m = ctx.mcfg
    if bool(m.get("samples")) == bool(m.get("pipeline")):
        raise ValueError("invalid config at methods.external: give exactly one of 'samples' (a folder of "
                         "<test image id>.png) or 'pipeline' (a diffusers pipeline folder)")
    return folder_sampler(m["samples"], ctx.test_ids) if m.get("samples") else pipeline_sampler(m["pipeline"], ctx)


def folder_sampler(folder: str, ids: tuple[str, ...]):
    """The outputs in ``folder`` of the test images, in the order ``cddbench.sample.run`` asks for them (its batches
    go through the test set in order); every file checked before the first is used."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"methods.external.samples: {folder!r} is not a folder")
    missing = [i for i in ids if not os.path.isfile(os.path.join(folder, f"{i}.png"))]
    if missing:
        raise FileNotFoundError(f"methods.external.samples: {len(missing)} of {len(ids)} test images have no output "
                                f"in {folder}, e.g. {', '.join(f'{i}.png' for i in missing[:3])}")
    images = {i: _read(os.path.join(folder, f"{i}.png")) for i in ids}
    position = 0

    def sample(lr: torch.Tensor, steps: int, noise=None) -> torch.Tensor:
        nonlocal position
        batch = ids[position : position + len(lr)]
        position += len(lr)
        want = (lr.shape[-2] * 4, lr.shape[-1] * 4, 3)
        for i in batch:
            if images[i].shape != want:
                raise ValueError(f"methods.external.samples: {folder}/{i}.png is {images[i].shape[1]} x "
                                 f"{images[i].shape[0]}, the test image's 4x HR is {want[1]} x {want[0]}")
        return data.to_tensor([images[i] for i in batch])

    return sample


def _read(path: str) -> np.ndarray:
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f"methods.external.samples: {path} is not a readable image ({e})") from e


def pipeline_sampler(folder: str, ctx):
    """A diffusers pipeline on the test LR images, one generator per image seeded by that image's benchmark noise
    (so one stream per (seed, image), whatever the batch)."""
    from diffusers import DiffusionPipeline

    index = os.path.join(folder, "model_index.json")
    if not os.path.isfile(index):
        raise FileNotFoundError(f"methods.external.pipeline: {index} does not exist (not a diffusers pipeline folder)")
    with open(index) as f:
        name = json.load(f).get("_class_name")
    if name == "CDDSuperResolutionPipeline":
        from cddbench.pipeline import CDDSuperResolutionPipeline as cls
    else:
        cls = DiffusionPipeline
    pipe = cls.from_pretrained(folder).to(ctx.device)
    pipe.set_progress_bar_config(disable=True)

    def sample(lr: torch.Tensor, steps: int, noise: torch.Tensor) -> torch.Tensor:
        generators = [torch.Generator().manual_seed(data.stable_int(n.numpy().tobytes().hex())) for n in noise.cpu()]
        out = pipe(image=[Image.fromarray(a) for a in data.to_uint8(lr)], num_inference_steps=steps,
                   generator=generators, output_type="np").images
        return torch.from_numpy(np.asarray(out)).permute(0, 3, 1, 2).float().mul(2).sub(1).clamp(-1, 1)

    return sample
