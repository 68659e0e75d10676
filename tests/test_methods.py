"""The method registry: its parse-time facts are the modules' own, and a new method is its module plus its config
entry (and schema), nothing else (README "Adding a method")."""
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from cddbench import methods


@pytest.mark.parametrize("name", list(methods.METHODS))
def test_registry_matches_module(name):
    module = methods.get(name)
    assert methods.trains(name) == hasattr(module, "train")
    assert callable(module.load) and callable(module.nfe) and isinstance(module.DISPLAY, str)
    assert methods.seeded(name) is module.SEEDED
    assert methods.base(name) == getattr(module, "BASE", None)
    assert methods.METHODS[name]["stream"] == getattr(module, "STREAM", None)


def test_training_streams_are_distinct():
    from cddbench.pretrain import TEACHER_STREAM

    streams = [f["stream"] for f in methods.METHODS.values() if f["stream"] is not None] + [TEACHER_STREAM]
    assert len(streams) == len(set(streams)) >= 8


def test_limits_are_read_never_executed_and_name_the_key(repo):
    """Every method's LIMITS holds on the default and peer configs and fails where broken, naming the key; an
    expression outside the small grammar is refused (the registry evaluates a syntax tree, it runs no code)."""
    with open(f"{repo}/config.yaml") as f:
        cfg = yaml.safe_load(f)
    with open(f"{repo}/configs/peers.yaml") as f:
        cfg["methods"].update(yaml.safe_load(f)["methods"])
    checked = 0
    for name, m in cfg["methods"].items():
        if methods.METHODS[name]["limits"]:
            assert methods.config_problems(name, m, 1000) == []
            bad = {**m, "warmup_steps": 10**6} if name == "esrgan" else {**m, "steps": [5000]}
            assert {key for key, _ in methods.config_problems(name, bad, 1000)} & {"steps", "warmup_steps"}
            checked += 1
    assert checked >= 7
    assert methods.limit_value("steps[0] * 2 ** rounds", {"steps": [4], "rounds": 3}, 1000) == 32
    assert methods.limit_value("train.steps", {"train": {"steps": 7}}, 1000) == 7
    with pytest.raises(ValueError, match="is not a name"):
        methods.limit_value("__import__('os')", {}, 1000)


def test_unknown_method_is_named():
    with pytest.raises(ValueError, match="unknown method 'magic'"):
        methods.get("magic")


DUMMY = '''"""Nearest: nearest-neighbour upsampling (a test's method: the whole of what adding one takes)."""
import torch.nn.functional as F

DISPLAY = "Nearest"
SEEDED = False


def nfe(steps):
    return 0


LIMITS = [("steps", "max(steps)", "<=", "0")]  # no network: step count 0 only


def load(ctx, model_dir=None):
    return lambda lr, steps, noise=None: F.interpolate(lr, scale_factor=4, mode="nearest")
'''


def test_a_new_method_is_its_module_and_its_config_entry(repo, tmp_path):
    """A copy of the workflow with one module added, its config entry and its schema entry: the config validates and
    checks it, its sampler runs, and Snakemake plans its sampling jobs, with no other file touched."""
    from test_workflow import SNAKEMAKE, _workdir

    wd = _workdir(repo, str(tmp_path))
    pkg = os.path.join(wd, "workflow", "cddbench")
    shutil.rmtree(os.path.join(pkg, "__pycache__"), ignore_errors=True)
    with open(os.path.join(pkg, "methods", "nearest.py"), "w") as f:
        f.write(DUMMY)
    with open(os.path.join(pkg, "config.schema.yaml")) as f:
        schema = yaml.safe_load(f)
    entries = schema["properties"]["methods"]["properties"]
    entries["nearest"] = {"type": "object", "additionalProperties": False, "required": ["steps"],
                          "properties": {"steps": {"type": "array", "items": {"type": "integer"}}}}
    with open(os.path.join(pkg, "config.schema.yaml"), "w") as f:
        yaml.safe_dump(schema, f, sort_keys=False)
    with open(os.path.join(wd, "config.yaml")) as f:
        cfg = yaml.safe_load(f)
    cfg["methods"]["nearest"] = {"steps": [0]}
    with open(os.path.join(wd, "config.yaml"), "w") as f:
        yaml.safe_dump(cfg, f, sort_keys=False)
    script = """
import torch, yaml
from cddbench import config, methods
assert methods.__file__.startswith({wd!r}), methods.__file__
cfg = yaml.safe_load(open("config.yaml"))
config.validate(cfg)
assert "nearest" in config.runs(cfg) and not methods.trains("nearest") and not methods.seeded("nearest")
assert methods.get("nearest").load(None)(torch.zeros(1, 3, 8, 8), 0).shape == (1, 3, 32, 32)
cfg["methods"]["nearest"] = {{"steps": [1]}}
try:
    config.validate(cfg)
except ValueError as e:
    print(e)
""".format(wd=wd)
    env = {**os.environ, "PYTHONPATH": os.path.join(wd, "workflow")}
    out = subprocess.run([sys.executable, "-c", script], cwd=wd, capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "invalid config at methods.nearest.steps: max(steps) at most 0 (0), got 1" in out.stdout
    dry = subprocess.run(SNAKEMAKE + ["-n", "results/runs.csv"], cwd=wd, capture_output=True, text=True, env=env,
                         timeout=300)
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert "wildcards: run=nearest" in dry.stdout, dry.stdout[-3000:]
