import copy
import subprocess
import sys

import pytest
import yaml

from cddbench import config


@pytest.fixture(scope="module")
def default(repo):
    with open(f"{repo}/config.yaml") as f:
        return yaml.safe_load(f)


def test_default_config_is_valid(default):
    config.validate(default)


def _set(cfg, path, value):
    node = cfg
    *parents, last = path.split(".")
    for p in parents:
        node = node[p]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value


DELETE = object()
BAD = [
    ("seeds", [], "seeds"),
    ("seeds", [0, 0], "seeds"),
    ("seed", -1, "seed"),
    ("device", "tpu", "device"),
    ("data.patch_size", 30, "data.patch_size"),
    ("data.source", "s3://bucket", "data.source"),
    ("data.test_fraction", 1.5, "data.test_fraction"),
    ("degradation.method", "magic", "degradation.method"),
    ("teacher.schedule.prediction_type", "x0", "teacher.schedule.prediction_type"),
    ("teacher.train.steps", 0, "teacher.train.steps"),
    ("teacher.train.lr", "fast", "teacher.train.lr"),
    ("methods.ldm_sr.steps", [-4], "methods.ldm_sr.steps.0"),
    ("methods.unknown_method", {"steps": [4]}, "methods"),
    ("evaluate.metric_backend", "inception", "evaluate.metric_backend"),
    ("evaluate.batch_size", DELETE, "evaluate"),
    ("typo_key", 1, "(top level)"),
]


@pytest.mark.parametrize("path,value,named", BAD, ids=[b[0] for b in BAD])
def test_malformed_config_is_rejected_with_key_named(default, path, value, named):
    cfg = copy.deepcopy(default)
    _set(cfg, path, value)
    with pytest.raises(ValueError, match=f"invalid config at {named.replace('(', '[(]').replace(')', '[)]')}"):
        config.validate(cfg)


def test_snakemake_rejects_bad_config_before_any_job(repo, tmp_path):
    out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "-s", f"{repo}/Snakefile",
                          "-d", str(tmp_path), "--configfile", f"{repo}/config.yaml", "--config", "seeds=[]"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode != 0
    assert "seeds" in out.stdout + out.stderr and "validat" in (out.stdout + out.stderr).lower()
