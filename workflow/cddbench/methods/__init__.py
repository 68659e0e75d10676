"""One module per method, each with the same face.

A method module defines:
  ``DISPLAY``                    the row name in Table 1
  ``train(ctx, out_dir, log_csv)`` fit the method's weights into ``out_dir``, the loss curve into ``log_csv``
                                 (omit for training-free methods)
  ``load(ctx, model_dir)``       return a sampler ``(lr, steps, noise) -> hr`` (tensors in [-1, 1])
  ``nfe(steps)``                 network evaluations per image at that step count
  ``SEEDED``                     False for deterministic methods: sampled once, not once per seed
A new method is a new module here plus its entry under ``methods:`` in the config (and the schema).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

METHODS = ("bicubic", "ldm_sr")


@dataclass
class Context:
    """What a method may read: the resolved config and the paths of the stages before it."""
    cfg: dict
    train_pairs: str
    vae_dir: str
    teacher_dir: str
    device: str = "cpu"


def get(name: str):
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; known: {list(METHODS)}")
    return importlib.import_module(f"cddbench.methods.{name}")


def trains(name: str) -> bool:
    return hasattr(get(name), "train")


def seeded(name: str) -> bool:
    return getattr(get(name), "SEEDED", True)
