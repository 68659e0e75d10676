"""Read and validate configs; resolve the device. Snakemake validates with the same schema (Snakefile)."""
from __future__ import annotations

import json
import os
from importlib import resources

import yaml

SCHEMA = resources.files("cddbench") / "config.schema.yaml"


def schema() -> dict:
    return yaml.safe_load(SCHEMA.read_text())


def validate(cfg: dict) -> dict:
    """Raise ValueError naming the offending key path when ``cfg`` does not match the schema."""
    import jsonschema

    errors = sorted(jsonschema.Draft202012Validator(schema()).iter_errors(cfg), key=lambda e: list(e.path))
    if errors:
        e = errors[0]
        key = ".".join(str(p) for p in e.absolute_path) or "(top level)"
        raise ValueError(f"invalid config at {key}: {e.message}")
    return cfg


def load(arg: str) -> dict:
    """``arg`` is a YAML file (validated in full) or the inline JSON subset a Snakemake rule passes."""
    if arg.lstrip().startswith("{"):
        return json.loads(arg)
    if not os.path.isfile(arg):
        raise FileNotFoundError(f"config file {arg!r} does not exist")
    with open(arg) as f:
        return validate(yaml.safe_load(f))


def device(cfg: dict) -> str:
    import torch

    wanted = cfg.get("device", "auto")
    if wanted == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device: cuda, but torch sees no CUDA device (use device: auto or cpu)")
    return "cuda" if wanted == "auto" and torch.cuda.is_available() else ("cpu" if wanted == "auto" else wanted)
