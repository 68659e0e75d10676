# Helpers shared by the rules: config subsets passed to the CLI, the (method, steps, seed) grid, paths.
import json
import os
import re

from snakemake.logging import logger

from cddbench import config as _config
from cddbench import methods as _methods
from cddbench import provenance as _provenance
from cddbench import paper as _paper

RESULTS = "results"
DATA = f"{RESULTS}/data"
MODELS = f"{RESULTS}/models"
LOGS = f"{RESULTS}/logs"
CHECKPOINTS = f"{RESULTS}/checkpoints"  # not a declared output: Snakemake keeps it when a job fails, so it resumes
BENCH = f"{RESULTS}/benchmarks"
CONDA_ENV = "../envs/cddbench.yaml"  # used with --sdm conda only


def cfg_json(*keys):
    """The config restricted to `keys`, as JSON for `--config`: a rule reruns only when its own keys change."""
    unknown = [k for k in keys if k not in config]
    if unknown:
        raise ValueError(f"cfg_json: no config key {unknown}")
    return json.dumps({k: config[k] for k in keys}, sort_keys=True)


RUNS = _config.runs(_config.validate(config))  # {run name: {"method", "config"}}: the methods entries plus their variants
# validate() refuses a shipped teacher trained on other photos or schedule than this config's; say what was checked
logger.info(_provenance.check_exported_teacher(config))
# runs the paper's outputs read that this config lacks (e.g. `guidance.weight: [0]` names its run "...=0", not "...=0.0")
for _run, _uses in _paper.missing(RUNS).items():
    logger.warning(f"config: no run {_run!r}; {', '.join(_uses)} will show it as not run / not tested")


def pretrained_teacher_dir():
    """teacher.pretrained as a DAG input when it is a local folder (a new teacher reruns what builds on it)."""
    ref = config["teacher"]["pretrained"]
    return [ref] if ref and os.path.isdir(ref) else []


def run_cfg_json(run):
    """A run's config: the shared keys plus only its method's entry and, for a variant, its one changed key."""
    sub = {k: config[k] for k in ("seed", "device", "precision", "threads", "checkpoint_every", "sampler", "teacher")}
    # the LPIPS network a training loss uses (Real-ESRGAN's perceptual loss, CDD's LPIPS guidance): only its keys, so
    # a change of how samples are scored (batch size, FD input size) reruns evaluation, not training
    sub["evaluate"] = {k: config["evaluate"][k] for k in ("metric_backend", "weights_dir", "proxy_seed", "lpips_size")}
    method = RUNS[run]["method"]
    sub["methods"] = {method: config["methods"][method]}
    if RUNS[run]["changed"]:
        sub["variants"] = {method: {k: [v] for k, v in RUNS[run]["changed"].items()}}
    return json.dumps(sub, sort_keys=True)


def trains(run):
    return _methods.trains(RUNS[run]["method"])


def train_seeds(run):
    """Training replicates: `train_seeds` for a run whose model is trained (its own, or its base run's for DPM-Solver);
    one for the rest (bicubic). Each seeds model init, batch order and every training stream of its job."""
    return config["train_seeds"] if trains(run) or base_run(run) else config["train_seeds"][:1]


def eval_seeds(run):
    """Table 1's runs: `seeds`; the ablation-only variants: `ablation_seeds`; deterministic methods: one seed."""
    seeds = config["seeds"] if run in _paper.TABLE1_RUNS else config["ablation_seeds"]
    return seeds if _methods.seeded(RUNS[run]["method"]) else seeds[:1]


def evaluations():
    """Every (run, steps, training seed, sampling seed) the config asks to sample and evaluate."""
    return [(r, s, t, seed) for r, spec in RUNS.items() for s in spec["config"]["steps"] for t in train_seeds(r)
            for seed in eval_seeds(r)]


def run_steps(w):
    """A run's step counts as one CLI argument list: its sampling and its evaluation job each handle all of them."""
    return " ".join(str(s) for s in RUNS[w.run]["config"]["steps"])


def metric_dirs():
    """The evaluation jobs' outputs: one folder per (run, training seed, sampling seed), as the sampling jobs."""
    return list(dict.fromkeys(f"{RESULTS}/metrics/{r}/train{t}/seed{seed}" for r, s, t, seed in evaluations()))


def metric_files():
    """Every metric record (a .npz of per-image and leave-one-photo-out values beside each), in `evaluations` order."""
    return [f"{RESULTS}/metrics/{r}/train{t}/seed{seed}/{s}.json" for r, s, t, seed in evaluations()]


def model_dirs():
    return [model_dir(r, t) for r in RUNS if trains(r) for t in train_seeds(r)]


def base_run(run):
    """The run whose model this run builds on (DPM-Solver samples LDM-SR's, CM distils it), or None."""
    return _methods.base(RUNS[run]["method"])


def base_dir(run, tseed):
    """The model of the run this run builds on, trained with the same training seed (CM-t distils LDM-SR-t)."""
    return model_dir(base_run(run), tseed) if base_run(run) else "-"


def train_inputs(w):
    inputs = {"train_set": f"{DATA}/train_set.pt", "vae": f"{MODELS}/autoencoder", "teacher": f"{MODELS}/teacher"}
    if base_run(w.run):
        inputs["base"] = base_dir(w.run, w.tseed)
    return inputs


def sample_inputs(w):
    inputs = {"pairs": f"{DATA}/pairs/test", "vae": f"{MODELS}/autoencoder", "teacher": f"{MODELS}/teacher"}
    if trains(w.run):
        inputs["model"] = model_dir(w.run, w.tseed)
    if base_run(w.run):
        inputs["base"] = base_dir(w.run, w.tseed)
    if RUNS[w.run]["method"] == "external":  # the outputs or pipeline made elsewhere: a change resamples the row
        m = RUNS[w.run]["config"]
        inputs["external"] = m.get("samples") or m.get("pipeline")
    return inputs


def model_dir(run, tseed):
    """The trained weights a run samples from ('-' for training-free methods)."""
    return f"{MODELS}/{run}/train{tseed}" if trains(run) else "-"


wildcard_constraints:
    run="|".join(re.escape(r) for r in RUNS),
    steps=r"\d+",
    tseed=r"\d+",
    seed=r"\d+",
    split="train|test",


def samples_dir(run):
    """A run's sampling job output (one subfolder per step count) at its first training and evaluation seed."""
    return f"{RESULTS}/samples/{run}/train{train_seeds(run)[0]}/seed{eval_seeds(run)[0]}"


def sample_dir(run, steps):
    """A run's samples at one step count (first training and evaluation seed), or None when the config does not ask
    for that run/steps."""
    if run not in RUNS or steps not in RUNS[run]["config"]["steps"]:
        return None
    return f"{samples_dir(run)}/{steps}"


def fig6_dirs():
    """Fig. 6's columns: the paper's, then the peers beyond the paper that the config runs (configs/peers.yaml)."""
    peers = [(label, run, steps) for label, run, steps in _paper.FIG6_PEER_COLUMNS if sample_dir(run, steps)]
    return {label: sample_dir(run, steps) for label, run, steps in _paper.FIG6_COLUMNS + peers}


def fig3_dirs():
    return {label: {s: sample_dir(run, s) for s in RUNS[run]["config"]["steps"]}
            for title, runs in _paper.FIG3_PANELS for label, run in runs.items() if run in RUNS}


def figure_samples(w):
    """The sampling jobs behind the figures' folders (each folder is one step count inside its run's job output)."""
    dirs = list(fig6_dirs().values()) + [d for by_steps in fig3_dirs().values() for d in by_steps.values()]
    return sorted({os.path.dirname(d) for d in dirs if d})


def metric_weights(w):
    """The weights folder, an input where standard metrics are required. A run stops while the DAG is built, before
    any job, when they are missing: `snakemake download_metric_weights` (network) fetches them, and a dry run plans
    that download instead. With `auto` the metrics use the folder if present, else the labelled proxies."""
    if config["evaluate"]["metric_backend"] != "standard":
        return []
    if not workflow.dryrun:
        from cddbench.metrics import resolve_backend

        resolve_backend(config["evaluate"])  # raises, naming evaluate.weights_dir and the files
    return [config["evaluate"]["weights_dir"]]


def cluster_resources(stage):
    """A stage's request to a cluster scheduler (config `cluster`: memory, minutes; the GPU gres for training and
    sampling, the stages that run on `device`). The SLURM executor turns these into sbatch flags; a local run
    ignores them (no --resources limits are set)."""
    gres = config["cluster"]["gres"] if stage in ("train", "sample") else ""
    return {**config["cluster"][stage], "gres": gres}
