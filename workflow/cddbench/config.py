"""Read and validate configs; resolve the device. The DAG validates through ``validate`` (rules/common.smk)."""
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

    from cddbench import provenance

    _check_schema(cfg)
    _check_values(cfg)
    provenance.check_exported_teacher(cfg)  # a shipped teacher trained on other photos would leak test photos
    configured = runs(cfg)
    for name in cfg["methods"]:
        base = methods.base(name)
        if base and base not in configured:
            method, _, key = base.partition("-")
            how = (f"variants.{method}.{key.replace('=', ': [')}]" if key else f"a methods.{base} entry")
            raise ValueError(f"invalid config at methods.{name}: it builds on the {base!r} run's model; add {how}")
    for name, run in runs(cfg).items():  # each variant's resolved config must be valid too
        if name != run["method"]:
            try:
                resolved = {**cfg, "methods": {**cfg["methods"], run["method"]: run["config"]}}
                _check_schema(resolved)
                _check_values(resolved)
            except ValueError as e:
                raise ValueError(f"variant {name!r}: {e}") from None
    return cfg


def _check_values(cfg: dict) -> None:
    """What the schema cannot say: relations between keys. Each failure names the key and what it must be."""
    from cddbench import methods

    problems = []

    def need(ok: bool, key: str, what: str) -> None:
        if not ok:
            problems.append(f"invalid config at {key}: {what}")

    d = cfg["data"]
    if "debian-photos" in (d["source"], d["test_source"]):
        from cddbench import photos

        photos.selected(d["photo_packages"])  # an unknown package is an error naming it
        if d["source"] == "debian-photos" and not d["test_source"]:  # the held-out groups: photos or packages
            known = (d["photo_packages"] if d["split_by"] == "package"
                     else [p.name for p in photos.selected(d["photo_packages"])])
            absent = [g for g in d["test_sources"] if g not in known]
            need(not absent, "data.test_sources", f"{absent} are not {d['split_by']}s of data.photo_packages "
                 f"(data.split_by: {d['split_by']})")
    for k in ("crop_size", "train_stride", "test_stride"):  # every HR offset a multiple of the SR factor: aligned LR
        need(d[k] % 4 == 0, f"data.{k}", f"a multiple of 4 (the SR factor: each patch's LR is cut from its crop's LR "
             f"at HR offset / 4), got {d[k]}")
    need(d["crop_size"] >= d["patch_size"], "data.crop_size", f"at least data.patch_size ({d['patch_size']}), got "
         f"{d['crop_size']}")
    deg = cfg["degradation"]
    for section in ("simple", "realesrgan"):
        for k, v in deg[section].items():  # every [low, high] range, e.g. blur_sigma: [0.2, 3.0]
            if k.endswith(("sigma", "sigma2", "range", "range2", "quality", "betag", "betag2", "betap", "rotation")):
                need(v[0] <= v[1], f"degradation.{section}.{k}", f"a [low, high] range needs low <= high, got {v}")
    r = deg["realesrgan"]
    need(len(r["kernel_prob"]) == len(r["kernel_list"]), "degradation.realesrgan.kernel_prob",
         f"one probability per kernel_list entry ({len(r['kernel_list'])}), got {len(r['kernel_prob'])}")
    for k in ("kernel_prob", "resize_prob", "resize_prob2"):
        need(abs(sum(r[k]) - 1.0) < 1e-6, f"degradation.realesrgan.{k}", f"probabilities summing to 1, got {sum(r[k])}")
    t = cfg["teacher"]
    sched = t["schedule"]
    need(sched["beta_start"] < sched["beta_end"], "teacher.schedule.beta_start",
         f"below beta_end ({sched['beta_end']}), got {sched['beta_start']}")
    need(not sched["rescale_betas_zero_snr"] or sched["prediction_type"] == "v_prediction",
         "teacher.schedule.rescale_betas_zero_snr", "prediction_type: v_prediction (at zero terminal SNR alpha_T = 0, so "
         f"an epsilon model cannot give x at t = T), got prediction_type {sched['prediction_type']!r}")
    need(t["prompt"] is None or bool(t["pretrained"]), "teacher.prompt",
         "a prompt needs teacher.pretrained (its text encoder); the teacher trained here takes no text (prompt: null)")
    if not t["pretrained"]:  # the models built here: every size must divide down to whole latent pixels
        ae, unet, size = cfg["autoencoder"], t["unet"], cfg["data"]["patch_size"]
        factor = 2 ** (len(ae["block_out_channels"]) - 1) * 2 ** (len(unet["block_out_channels"]) - 1)
        need(size % factor == 0, "data.patch_size", f"a multiple of {factor} (the autoencoder's and the UNet's "
             f"downsampling), got {size}")
        for key, m in (("autoencoder", ae), ("teacher.unet", unet)):
            bad = [c for c in m["block_out_channels"] if c % m["norm_num_groups"]]
            need(not bad, f"{key}.norm_num_groups", f"a divisor of every block_out_channels, but not of {bad}")
        need(unet["attention_levels"] <= len(unet["block_out_channels"]), "teacher.unet.attention_levels",
             f"at most the number of levels ({len(unet['block_out_channels'])}), got {unet['attention_levels']}")
    for name, m in cfg["methods"].items():  # each method's own checks (its module's check_config)
        for key, what in methods.config_problems(name, m, sched["num_train_timesteps"]):
            need(False, f"methods.{name}.{key}", what)
    if problems:
        raise ValueError(problems[0] + (f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""))


def _check_schema(cfg: dict) -> None:
    import jsonschema

    errors = sorted(jsonschema.Draft202012Validator(schema()).iter_errors(cfg), key=lambda e: list(e.path))
    if errors:
        e = errors[0]
        key = ".".join(str(p) for p in e.absolute_path) or "(top level)"
        hint = ""
        in_list = bool(e.absolute_path) and isinstance(e.absolute_path[-1], int)
        number = e.validator == "type" and e.validator_value in ("integer", "number")
        if in_list and number and isinstance(e.instance, str):
            # snakemake --config KEY=[0, 1] hands list items over as strings (a scalar it parses as YAML)
            hint = " (a list given by `snakemake --config` arrives as strings: put it in a --configfile overlay)"
        raise ValueError(f"invalid config at {key}: {e.message}{hint}")


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


def load(arg: str, *overlays: str) -> dict:
    """``arg`` is a YAML file or the inline JSON subset a Snakemake rule passes; YAML ``overlays`` (e.g.
    configs/paper.yaml) are merged over it key by key, as Snakemake merges ``--configfile`` files. A YAML config is
    validated in full once merged."""
    if arg.lstrip().startswith("{"):
        return json.loads(arg)
    cfg: dict = {}
    for path in (arg, *overlays):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"config file {path!r} does not exist")
        with open(path) as f:
            merge(cfg, yaml.safe_load(f) or {})
    return validate(cfg)


def merge(cfg: dict, overlay: dict) -> dict:
    """``overlay`` into ``cfg`` in place: nested sections merge, any other value replaces (snakemake's update_config)."""
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            merge(cfg[key], value)
        else:
            cfg[key] = value
    return cfg


def device(cfg: dict) -> str:
    import torch

    wanted = cfg.get("device", "auto")
    if wanted == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device: cuda, but torch sees no CUDA device (use device: auto or cpu)")
    return "cuda" if wanted == "auto" and torch.cuda.is_available() else ("cpu" if wanted == "auto" else wanted)
