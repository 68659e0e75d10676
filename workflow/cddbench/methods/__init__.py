"""One module per method, each with the same face.

A method module defines:
  ``DISPLAY``                    the row name in Table 1
  ``train(ctx, out_dir, log_csv)`` fit the method's weights into ``out_dir``, the loss curve into ``log_csv``
                                 (omit for training-free methods)
  ``load(ctx, model_dir)``       return a sampler ``(lr, steps, noise) -> hr`` (tensors in [-1, 1])
  ``nfe(steps)``                 network evaluations per image at that step count
  ``NOTE``                       (optional) a caveat about its row, printed under the table
  ``timed(mcfg)``                (optional) False when sampling time is not the model's latency (outputs read from
                                 a folder: methods/external.py); ``ctx.test_ids`` names the images being sampled
A sampler's ``noise`` is the per-image initial noise; a sampler that needs more draws takes them with
``cddbench.sample.more_noise`` (seeded by that noise, so still one stream per (seed, image)).
A method built on another method's trained model names it as ``base`` below (the rules then pass that run's
model folder as ``ctx.base_dir``). A new method is a new module here, a line in ``METHODS`` and its entry under ``methods:`` in the config
(and the schema). A *run* is a method with its config; ``variants:`` adds runs that change one key
(``cddbench.config.runs``).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

# What the Snakefile must know at parse time, without importing torch/diffusers (seconds per `snakemake` call):
# does the method train, does its output depend on the sampling seed, and which run's model does it build on?
# tests/test_methods.py checks `trains` against the modules.
NULL_BRANCH_LDM_SR = "ldm_sr-condition_dropout=0.1"  # the guided peers' teacher: LDM-SR with a null branch
METHODS = {
    "bicubic": {"trains": False, "seeded": False},
    "esrgan": {"trains": True, "seeded": False},
    "ldm_sr": {"trains": True, "seeded": True},
    "dpm_solver": {"trains": False, "seeded": True, "base": "ldm_sr"},
    "cm": {"trains": True, "seeded": True, "base": "ldm_sr"},
    "gd": {"trains": True, "seeded": True},
    "cdd": {"trains": True, "seeded": True},
    "sid": {"trains": True, "seeded": True, "base": "ldm_sr"},  # distils the LDM-SR model of its training seed
    "lcm": {"trains": True, "seeded": True, "base": NULL_BRANCH_LDM_SR},  # CM with guidance (methods.lcm)
    "sid_lsg": {"trains": True, "seeded": True, "base": NULL_BRANCH_LDM_SR},  # SiD with guidance (methods.sid_lsg)
    "dmd2": {"trains": True, "seeded": True, "base": "ldm_sr"},  # distils the LDM-SR model of its training seed
    "external": {"trains": False, "seeded": True},  # a model from elsewhere (methods/external.py)
    "realesrgan_x4plus": {"trains": False, "seeded": False},  # the authors' released weights (configs/anchors.yaml)
}


@dataclass
class Context:
    """What a method may read: the config, its run's name and resolved entry, the paths of the stages before it."""
    cfg: dict
    train_set: str            # the encoded training pairs (``methods.common.encode_training_set``)
    vae_dir: str
    teacher_dir: str
    device: str = "cpu"
    run: str = ""
    mcfg: dict | None = None  # the run's resolved ``methods`` entry (variants applied)
    base_dir: str = ""        # the model folder of the run this method builds on (``base`` in METHODS)
    checkpoint_dir: str = ""  # where training checkpoints go ("": none); kept until the job has finished
    train_seed: int = 0       # seeds model init, batch order and every training random stream (config train_seeds)
    test_ids: tuple = ()      # the test images' ids in sampling order (set by cddbench.sample.run; methods.external)


def get(name: str):
    _entry(name)
    return importlib.import_module(f"cddbench.methods.{name}")


def _entry(name: str) -> dict:
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; known: {list(METHODS)}")
    return METHODS[name]


def trains(name: str) -> bool:
    return _entry(name)["trains"]


def base(name: str) -> str | None:
    """The run whose trained model this method samples or distils (None: it starts from the teacher)."""
    return _entry(name).get("base")


def seeded(name: str) -> bool:
    """False for deterministic methods: sampled once, not once per seed."""
    return _entry(name)["seeded"]
