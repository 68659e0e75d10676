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
# (key set, value, the key the message must name, what the message must say was expected)
BAD = [
    ("seeds", [], "seeds", "should be non-empty"),
    ("seeds", [0, 0], "seeds", "non-unique elements"),
    ("seeds", "0,1", "seeds", "is not of type 'array'"),
    ("ablation_seeds", [], "ablation_seeds", "should be non-empty"),
    ("seed", -1, "seed", "less than the minimum of 0"),
    ("seed", 0.5, "seed", "is not of type 'integer'"),
    ("device", "tpu", "device", "is not one of ['auto', 'cpu', 'cuda']"),
    ("precision", "fp16", "precision", "is not one of ['fp32', 'bf16']"),
    ("threads", 0, "threads", "less than the minimum of 1"),
    ("checkpoint_every", 0, "checkpoint_every", "less than the minimum of 1"),
    ("data.patch_size", 30, "data.patch_size", "is not a multiple of 4"),
    ("data.patch_size", 36, "data.patch_size", "a multiple of 16 (the autoencoder's and the UNet's downsampling)"),
    ("data.source", "s3://bucket", "data.source", "does not match"),
    ("data.test_source", "ftp://x", "data.test_source", "does not match"),
    ("data.test_fraction", 1.5, "data.test_fraction", "greater than or equal to the maximum of 1"),
    ("data.min_patch_std", -1, "data.min_patch_std", "less than the minimum of 0"),
    ("data.downsample", 0, "data.downsample", "less than the minimum of 1"),
    ("data.max_test_patches_per_source", DELETE, "data", "'max_test_patches_per_source' is a required property"),
    ("degradation.method", "magic", "degradation.method", "is not one of ['simple', 'realesrgan']"),
    ("degradation.simple.blur_sigma", [3.0, 0.2], "degradation.simple.blur_sigma", "needs low <= high"),
    ("degradation.simple.jpeg_quality", [30, 101], "degradation.simple.jpeg_quality.1", "maximum of 100"),
    ("degradation.realesrgan.kernel_sizes", [8], "degradation.realesrgan.kernel_sizes.0", "should not be valid"),
    ("degradation.realesrgan.kernel_prob", [0.5, 0.5], "degradation.realesrgan.kernel_prob", "one probability per kernel_list entry (6)"),
    ("degradation.realesrgan.resize_prob", [0.5, 0.5, 0.5], "degradation.realesrgan.resize_prob", "summing to 1"),
    ("degradation.realesrgan.noise_range", [30.0, 1.0], "degradation.realesrgan.noise_range", "needs low <= high"),
    ("autoencoder.norm_num_groups", 24, "autoencoder.norm_num_groups", "a divisor of every block_out_channels"),
    ("teacher.schedule.prediction_type", "x0", "teacher.schedule.prediction_type", "is not one of"),
    ("teacher.schedule.beta_start", 0.02, "teacher.schedule.beta_start", "below beta_end"),
    ("teacher.schedule", {"num_train_timesteps": 1000, "beta_schedule": "scaled_linear", "beta_start": 0.00085,
                          "beta_end": 0.012, "prediction_type": "epsilon", "rescale_betas_zero_snr": True},
     "teacher.schedule.rescale_betas_zero_snr", "prediction_type: v_prediction"),
    ("teacher.unet.attention_levels", 5, "teacher.unet.attention_levels", "at most the number of levels (3)"),
    ("teacher.train.steps", 0, "teacher.train.steps", "less than the minimum of 1"),
    ("teacher.train.lr", "fast", "teacher.train.lr", "is not of type 'number'"),
    ("teacher.train.ema_decay", 1.0, "teacher.train.ema_decay", "greater than or equal to the maximum of 1"),
    ("teacher.prompt", "", "teacher.prompt", "a prompt needs teacher.pretrained"),
    ("methods.ldm_sr.steps", [-4], "methods.ldm_sr.steps.0", "less than the minimum of 1"),
    ("methods.ldm_sr.steps", [4, 2000], "methods.ldm_sr.steps", "at most num_train_timesteps (1000)"),
    ("methods.unknown_method", {"steps": [4]}, "methods", "'unknown_method' was unexpected"),
    ("methods.cdd.steps", [1, 64], "methods.cdd.steps", "at most distill_steps (50)"),
    ("methods.cdd.predictor", "ddim", "methods.cdd.predictor", "is not one of ['prev', 'ddim_v', 'ddim_pretrained']"),
    ("methods.cdd.guidance.distance", "l1", "methods.cdd.guidance.distance", "is not one of"),
    ("methods.cdd.guidance.weight", -1.0, "methods.cdd.guidance.weight", "less than the minimum of 0"),
    ("methods.gd.rounds", 9, "methods.gd.rounds", "at most num_train_timesteps (1000), got 2048"),
    ("methods.esrgan.warmup_steps", 600, "methods.esrgan.warmup_steps", "below train.steps (600)"),
    ("evaluate.metric_backend", "inception", "evaluate.metric_backend", "is not one of ['auto', 'standard', 'proxy']"),
    ("evaluate.batch_size", DELETE, "evaluate", "'batch_size' is a required property"),
    ("cluster.gres", "a100", "cluster.gres", "does not match"),
    ("cluster.train.runtime", 0, "cluster.train.runtime", "less than the minimum of 1"),
    ("typo_key", 1, "(top level)", "'typo_key' was unexpected"),
    ("variants.magic", {"lr": [1]}, "variants.magic", "no methods.magic entry to vary"),
    ("variants.cdd", {"learning_rate": [1]}, "variants.cdd.learning_rate", "has no key 'learning_rate'"),
    ("variants.cdd", {"guidance.scale": [1]}, "variants.cdd.guidance.scale", "has no key 'guidance.scale'"),
    ("variants.cdd", {"regime": ["full"]}, "variants.cdd.regime", "is the default value"),  # not a variant
    ("variants.cdd", {"steps": [[1, 64]]}, "methods.cdd.steps", "at most distill_steps"),  # checked per variant too
    # what `snakemake --config 'train_seeds=[0, 1]'` hands over: the error says how to give the list instead
    ("train_seeds", ["0", "1"], "train_seeds.0", "arrives as strings: put it in a --configfile overlay"),
]


# relations of the models built here: checked with teacher.pretrained: null (a shipped teacher brings its own sizes,
# and its recorded patch size is checked against data.patch_size instead: tests/test_teacher.py)
TRAINED_HERE = {"data.patch_size", "autoencoder.norm_num_groups", "teacher.unet.attention_levels", "teacher.prompt"}


@pytest.mark.parametrize("path,value,named,expected", BAD, ids=[f"{b[0]}={b[1]!r}" for b in BAD])
def test_malformed_config_is_rejected_naming_the_key_and_what_was_expected(default, path, value, named, expected):
    cfg = copy.deepcopy(default)
    if path in TRAINED_HERE:
        cfg["teacher"]["pretrained"] = None
    _set(cfg, path, value)
    with pytest.raises(ValueError) as err:
        config.validate(cfg)
    message = str(err.value)
    assert f"invalid config at {named}:" in message and expected in message, message


def test_the_malformed_configs_are_distinct_and_many():
    assert len({(path, repr(value)) for path, value, _, _ in BAD}) == len(BAD) >= 30


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
    from cddbench import paper

    runs = config.runs(config.validate(default))
    ablations = {run for _, panel in paper.FIG5_PANELS + paper.FIG3_PANELS for run in panel.values()} - {"cdd"}
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
    assert "invalid config at seeds: [] should be non-empty" in out.stdout + out.stderr


def test_standard_metrics_without_their_weights_stop_the_dag_before_any_job(repo, tmp_path):
    (tmp_path / "standard.yaml").write_text("evaluate: {metric_backend: standard, weights_dir: no-such-folder}\n")
    cmd = [sys.executable, "-m", "snakemake", "--cores", "1", "-s", f"{repo}/Snakefile", "-d", str(tmp_path),
           "--configfile", f"{repo}/config.yaml", str(tmp_path / "standard.yaml"), "--", "results/table1.csv"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    log = out.stdout + out.stderr
    assert out.returncode != 0 and "invalid config at evaluate.weights_dir" in log and "no-such-folder" in log, log[-2000:]
    assert "download_metric_weights" in log and not (tmp_path / "results" / "data").exists()  # no job ran
    plan = [sys.executable, "-m", "snakemake", "-n", "--configfile", "config.yaml", str(tmp_path / "standard.yaml")]
    planned = subprocess.run(plan, cwd=repo, capture_output=True, text=True, timeout=300)
    assert planned.returncode == 0, planned.stderr[-2000:]  # a dry run plans the download instead
    assert "download_metric_weights" in planned.stdout + planned.stderr


def test_the_paper_outputs_name_the_runs_a_config_lacks(repo, tmp_path):
    """A variant written [0] instead of [0.0] is another run: the paper's structure names what then goes missing."""
    from cddbench import paper

    with open(f"{repo}/config.yaml") as f:
        cfg = yaml.safe_load(f)
    assert paper.missing(config.runs(config.validate(copy.deepcopy(cfg)))) == {}  # the default has every run
    cfg["variants"]["cdd"]["guidance.weight"] = [0]
    missing = paper.missing(config.runs(config.validate(cfg)))
    assert missing == {"cdd-guidance.weight=0.0": ["claim 5", "Fig. 5 'conditional guidance'"]}
    (tmp_path / "overlay.yaml").write_text(yaml.safe_dump({"variants": {"cdd": {"guidance.weight": [0]}}}))
    out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "-s", f"{repo}/Snakefile", "-d", repo,
                          "--configfile", str(tmp_path / "overlay.yaml")], capture_output=True, text=True, timeout=300)
    assert "no run 'cdd-guidance.weight=0.0'; claim 5, Fig. 5 'conditional guidance'" in out.stdout + out.stderr
