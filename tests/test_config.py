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
    ("ablation_seeds", [], "ablation_seeds"),
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
    ("methods.cdd.predictor", "ddim", "methods.cdd.predictor"),
    ("methods.cdd.guidance.distance", "l1", "methods.cdd.guidance.distance"),
    ("variants.magic", {"lr": [1]}, "variants.magic"),
    ("variants.cdd", {"learning_rate": [1]}, "variants.cdd.learning_rate"),
    ("variants.cdd", {"guidance.scale": [1]}, "variants.cdd.guidance.scale"),
    ("variants.cdd", {"regime": ["full"]}, "variants.cdd.regime"),  # the default value: not a variant
]


@pytest.mark.parametrize("path,value,named", BAD, ids=[b[0] for b in BAD])
def test_malformed_config_is_rejected_with_key_named(default, path, value, named):
    cfg = copy.deepcopy(default)
    _set(cfg, path, value)
    with pytest.raises(ValueError, match=f"invalid config at {named.replace('(', '[(]').replace(')', '[)]')}"):
        config.validate(cfg)


def test_variant_with_an_invalid_value_is_rejected_naming_the_run(default):
    cfg = copy.deepcopy(default)
    cfg["variants"] = {"cdd": {"predictor": ["ddim"]}}
    with pytest.raises(ValueError, match="variant 'cdd-predictor=ddim': invalid config at methods.cdd.predictor"):
        config.validate(cfg)


def test_variants_differ_from_their_method_in_exactly_one_key(default):
    cfg = copy.deepcopy(default)
    cfg["variants"] = {"cdd": {"guidance.weight": [0.0], "init": ["random"]}}
    before = copy.deepcopy(cfg)
    runs = config.runs(config.validate(cfg))
    assert cfg == before  # resolving never mutates the config
    assert set(runs) == set(default["methods"]) | {"cdd-guidance.weight=0.0", "cdd-init=random"}
    assert runs["cdd-guidance.weight=0.0"]["config"]["guidance"] == {**default["methods"]["cdd"]["guidance"],
                                                                     "weight": 0.0}
    assert runs["cdd-init=random"]["method"] == "cdd"


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def test_each_default_ablation_differs_from_the_default_cdd_run_in_exactly_its_key(default):
    from cddbench import figures

    runs = config.runs(config.validate(default))
    ablations = {run for _, panel in figures.FIG5_PANELS + figures.FIG3_PANELS for run in panel.values()} - {"cdd"}
    assert len(ablations) == 7 and ablations <= set(runs)  # every Fig. 3 / Fig. 5 variant is in the default config
    for name, run in runs.items():
        if not run["changed"]:
            continue
        base, resolved = _flat(default["methods"][run["method"]]), _flat(run["config"])
        differing = {k for k in base.keys() | resolved.keys() if base.get(k) != resolved.get(k)}
        assert differing == set(run["changed"]), name
        assert name == f"{run['method']}-" + "".join(f"{k}={config._fmt(v)}" for k, v in run["changed"].items())


def test_a_method_without_the_run_it_builds_on_is_rejected(default):
    cfg = copy.deepcopy(default)
    del cfg["methods"]["ldm_sr"]
    cfg["variants"].pop("ldm_sr", None)
    with pytest.raises(ValueError, match="invalid config at methods.dpm_solver: it builds on the 'ldm_sr' run"):
        config.validate(cfg)


def test_snakemake_rejects_bad_config_before_any_job(repo, tmp_path):
    out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1", "-s", f"{repo}/Snakefile",
                          "-d", str(tmp_path), "--configfile", f"{repo}/config.yaml", "--config", "seeds=[]"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode != 0
    assert "seeds" in out.stdout + out.stderr and "validat" in (out.stdout + out.stderr).lower()
