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
    from cddbench import methods

    _check_schema(cfg)
    if cfg["teacher"]["prompt"] is not None and not cfg["teacher"]["pretrained"]:
        raise ValueError("invalid config at teacher.prompt: a prompt needs teacher.pretrained (its text encoder); "
                         "the teacher trained here takes no text (prompt: null)")
    for name in cfg["methods"]:
        base = methods.base(name)
        if base and base not in cfg["methods"]:
            raise ValueError(f"invalid config at methods.{name}: it builds on the {base!r} run's model; "
                             f"add a methods.{base} entry")
    for name, run in runs(cfg).items():  # each variant's resolved config must be valid too
        if name != run["method"]:
            try:
                _check_schema({**cfg, "methods": {**cfg["methods"], run["method"]: run["config"]}})
            except ValueError as e:
                raise ValueError(f"variant {name!r}: {e}") from None
    return cfg


def _check_schema(cfg: dict) -> None:
    import jsonschema

    errors = sorted(jsonschema.Draft202012Validator(schema()).iter_errors(cfg), key=lambda e: list(e.path))
    if errors:
        e = errors[0]
        key = ".".join(str(p) for p in e.absolute_path) or "(top level)"
        raise ValueError(f"invalid config at {key}: {e.message}")


def runs(cfg: dict) -> dict[str, dict]:
    """Every run the config asks for, ``{name: {"method", "config": the resolved methods entry, "changed"}}``
    (``changed``: ``{dotted key: value}`` of a variant, empty for a methods entry).

    Each ``methods`` entry is a run of its own name. Each ``variants.<method>.<key>: [values]`` adds one run
    per value, named ``<method>-<key>=<value>``: the method's entry with that single (dotted) key changed, so an
    ablation differs from its default in exactly the key it names.
    """
    out = {name: {"method": name, "config": mcfg, "changed": {}} for name, mcfg in cfg["methods"].items()}
    for method, keys in (cfg.get("variants") or {}).items():
        if method not in cfg["methods"]:
            raise ValueError(f"invalid config at variants.{method}: no methods.{method} entry to vary")
        for key, values in keys.items():
            for value in values:
                resolved = _with_key(cfg["methods"][method], key, value, f"variants.{method}.{key}")
                name = f"{method}-{key}={_fmt(value)}"
                if resolved == cfg["methods"][method]:
                    raise ValueError(f"invalid config at variants.{method}.{key}: {value!r} is the default value")
                out[name] = {"method": method, "config": resolved, "changed": {key: value}}
    return out


def _with_key(mcfg: dict, dotted: str, value, where: str) -> dict:
    import copy

    out = copy.deepcopy(mcfg)
    node = out
    parts = dotted.split(".")
    for p in parts[:-1]:
        if not isinstance(node.get(p), dict):
            raise ValueError(f"invalid config at {where}: {p!r} is not a section of the method's config")
        node = node[p]
    if parts[-1] not in node:
        raise ValueError(f"invalid config at {where}: the method's config has no key {dotted!r}")
    node[parts[-1]] = value
    return out


def _fmt(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


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
