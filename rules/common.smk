# Helpers shared by the rules: config subsets passed to the CLI, the (method, steps, seed) grid, paths.
import json
import os

from cddbench import methods as _methods

RESULTS = "results"
DATA = f"{RESULTS}/data"
MODELS = f"{RESULTS}/models"
LOGS = f"{RESULTS}/logs"
BENCH = f"{RESULTS}/benchmarks"
CONDA_ENV = "../envs/cddbench.yaml"  # used with --sdm conda only


def cfg_json(*keys):
    """The config restricted to `keys`, as JSON for `--config`: a rule reruns only when its own keys change."""
    unknown = [k for k in keys if k not in config]
    if unknown:
        raise ValueError(f"cfg_json: no config key {unknown}")
    return json.dumps({k: config[k] for k in keys}, sort_keys=True)


def method_cfg_json(method):
    """A method's config: the shared keys plus only its own `methods.<name>` entry."""
    sub = {k: config[k] for k in ("seed", "device", "threads", "sampler", "evaluate", "teacher")}
    sub["methods"] = {method: config["methods"][method]}
    return json.dumps(sub, sort_keys=True)


def runs():
    """Every (method, steps, seed) the config asks to sample and evaluate (deterministic methods: first seed only)."""
    return [(m, s, seed) for m, mcfg in config["methods"].items() for s in mcfg["steps"]
            for seed in (config["seeds"] if _methods.seeded(m) else config["seeds"][:1])]


def metric_files():
    return [f"{RESULTS}/metrics/{m}/{s}/seed{seed}.json" for m, s, seed in runs()]


def sample_inputs(w):
    inputs = {"pairs": f"{DATA}/pairs/test", "vae": f"{MODELS}/autoencoder", "teacher": f"{MODELS}/teacher"}
    if _methods.trains(w.method):
        inputs["model"] = model_dir(w.method)
    return inputs


def model_dir(method):
    """The trained weights a method samples from ('-' for training-free methods)."""
    return f"{MODELS}/{method}" if _methods.trains(method) else "-"


wildcard_constraints:
    method="|".join(_methods.METHODS),
    steps=r"\d+",
    seed=r"\d+",
    split="train|test",
