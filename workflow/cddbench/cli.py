"""Entry points the Snakemake rules call (one subcommand per rule); each works by hand too:
``cddbench sample --config config.yaml --run ldm_sr --steps 4 --seed 0 ...`` (a run: a ``methods`` entry or a
variant of one, see ``cddbench.config.runs``).

Each subcommand is one function below, registered with its arguments by ``@command``: the rule's shell line names
the subcommand, the function here names the package function it calls."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Callable

COMMANDS: dict[str, tuple[Callable, tuple[str, ...], list[tuple[tuple, dict]]]] = {}
CHECKPOINTS = ("--checkpoints",), {"default": "", "help": "folder of this job's training checkpoints: resumed from "
                                                          "when present, removed once the job succeeds"}
BASE = ("--base",), {"default": "-", "help": "the model folder of the run this method builds on ('-': none)"}


def command(name: str, *required: str, options: tuple = ()):
    """Register ``fn(args, cfg)`` as subcommand ``name`` with required ``--<arg>`` options and extra ``options``."""
    def register(fn):
        COMMANDS[name] = (fn, required, list(options))
        return fn
    return register


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="cddbench", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    for name, (fn, required, options) in COMMANDS.items():
        p = sub.add_parser(name, help=(fn.__doc__ or "").split("\n")[0])
        p.add_argument("--config", required=True, nargs="+",
                       help="config YAML file and overlays merged over it (configs/*.yaml), or the inline JSON a rule passes")
        p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
        for a in required:
            p.add_argument(f"--{a}", required=True)
        for flags, kw in options:
            p.add_argument(*flags, **kw)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import torch

    from cddbench import config as config_mod

    cfg = config_mod.load(*args.config)
    torch.set_num_threads(args.threads or cfg.get("threads", 1))
    result = COMMANDS[args.command][0](args, cfg)
    if result is not None:
        print(json.dumps(result, indent=1, default=str))
    return 0


def _context(args, cfg):
    from cddbench import config as config_mod
    from cddbench.methods import Context

    run = getattr(args, "run", "")
    mcfg = None
    if run:
        runs = config_mod.runs(cfg)
        if run not in runs:
            raise ValueError(f"--run {run!r}: the config defines the runs {sorted(runs)}")
        mcfg = runs[run]["config"]
    base = getattr(args, "base", "-")
    return Context(cfg=cfg, train_set=getattr(args, "train_set", ""), vae_dir=args.vae,
                   teacher_dir=args.teacher, device=config_mod.device(cfg), run=run, mcfg=mcfg,
                   base_dir="" if base == "-" else base, checkpoint_dir=getattr(args, "checkpoints", ""),
                   train_seed=int(getattr(args, "train_seed", 0)))


def _train_into(args, train):
    """Run ``train(folder)`` into a temp folder renamed onto ``--out`` at the end, so a killed or failed job never
    leaves a half-written model; then drop the job's checkpoints (GBs at paper scale), no longer needed."""
    partial = args.out.rstrip("/") + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        result = train(partial)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)  # the checkpoints stay: a rerun resumes from them
        raise
    shutil.rmtree(args.out, ignore_errors=True)
    os.replace(partial, args.out)
    if args.checkpoints:
        shutil.rmtree(args.checkpoints, ignore_errors=True)
    return result


@command("patches", "out")
def patches(args, cfg):
    """HR crops and the patches cut inside them, split by source group (rule patches):
    cddbench.data.build_patch_datasets."""
    from cddbench.data import build_patch_datasets

    report = build_patch_datasets(cfg["data"], cfg["seed"], args.out)
    return {k: report[k] for k in ("train_patches", "test_patches", "train_crops", "test_crops", "train_sources",
                                   "test_sources")}


@command("degrade", "patches", "crops", "out")
def degrade(args, cfg):
    """(LR, HR) pairs cut from whole degraded crops (rule degrade): cddbench.degrade.build_pairs."""
    from cddbench.degrade import build_pairs

    return {"pairs": build_pairs(args.patches, args.crops, args.out, cfg["seed"], cfg["degradation"])}


@command("autoencoder", "train", "out", "log", options=[CHECKPOINTS])
def autoencoder(args, cfg):
    """The latent autoencoder, loaded or trained (rule autoencoder): cddbench.pretrain.train_autoencoder."""
    from cddbench.pretrain import train_autoencoder

    return _train_into(args, lambda out: train_autoencoder(cfg, args.train, out, args.log, args.checkpoints))


@command("teacher", "train", "vae", "out", "log", options=[CHECKPOINTS])
def teacher(args, cfg):
    """The unconditional teacher, loaded or trained (rule teacher): cddbench.pretrain.train_teacher."""
    from cddbench.pretrain import train_teacher

    return _train_into(args, lambda out: train_teacher(cfg, args.train, args.vae, out, args.log, args.checkpoints))


@command("export-teacher", "vae", "teacher", "teacher-check", "patches-report", "out",
         options=[(("--benchmarks",), {"nargs": "+", "required": True,
                                        "help": "the autoencoder and teacher rules' benchmark files"})])
def export_teacher(args, cfg):
    """A trained teacher in diffusers layout with its model card (rule pretrained_teacher): pretrain.export_teacher."""
    from cddbench.pretrain import export_teacher

    return export_teacher(cfg, args.vae, args.teacher, args.teacher_check, args.patches_report, args.benchmarks,
                          args.out)


@command("known-answer", "out", options=[(("--train-seed",), {"default": "exact", "help": "a training seed of "
                                          "known_answer.train_seeds, or 'exact' for the exact rows"})])
def known_answer(args, cfg):
    """One job of the known-answer tier (rule toy_part): cddbench.known_answer.run."""
    from cddbench import known_answer as tier
    from cddbench import models

    import numpy as np

    seed = None if args.train_seed == "exact" else int(args.train_seed)
    frame, samples = tier.run(cfg, models.build_scheduler(cfg["teacher"]["schedule"]), os.path.dirname(args.out),
                              seed)
    frame.to_csv(args.out, index=False)
    np.savez_compressed(args.out.removesuffix(".csv.gz") + ".samples.npz", **samples)
    return {"rows": len(frame), "runs": sorted(set(frame["run"])), "not_run": tier.skipped(cfg)}


@command("known-answer-table", "out", "claims", "claims-md", "steps-figure", "samples-figure",
         options=[(("--parts",), {"nargs": "+", "required": True,
                                  "help": "the parts' .csv.gz: the exact rows' first, then the training seeds'"})])
def known_answer_table(args, cfg):
    """The known-answer tier's table, claims and figures (rule toy): cddbench.known_answer, cddbench.claims."""
    import numpy as np
    import pandas as pd

    from cddbench import claims
    from cddbench import known_answer as tier

    per_condition = pd.concat([pd.read_csv(p) for p in args.parts], ignore_index=True)
    table = tier.summary(per_condition)
    table.to_csv(args.out, index=False)
    tier.steps_figure(table, args.steps_figure)
    samples = {}
    for part in args.parts[:2]:  # the exact rows and the first training seed
        with np.load(part.removesuffix(".csv.gz") + ".samples.npz") as f:
            samples |= {k: f[k] for k in f.files}
    problem = tier.problem_of(cfg)
    conditions, _ = tier.test_set(cfg, problem)
    tier.samples_figure(problem, conditions[:tier.FIGURE_CONDITIONS], samples, args.samples_figure)
    verdicts, comparisons = claims.evaluate(tier.cells(per_condition))
    verdicts.to_csv(args.claims, index=False)
    with open(args.claims_md, "w") as f:
        f.write(tier.claims_markdown(verdicts, comparisons, per_condition))
    return {"rows": len(table), "verdicts": dict(zip(verdicts["claim"], verdicts["verdict"]))}


@command("encode-train", "train-pairs", "vae", "out")
def encode_train(args, cfg):
    """The training pairs through the frozen encoder once (rule encode_train): methods.common.encode_training_set."""
    from cddbench import config as config_mod
    from cddbench.methods.common import encode_training_set

    return encode_training_set(args.train_pairs, args.vae, args.out, config_mod.device(cfg))


@command("train", "run", "train-set", "vae", "teacher", "out", "log", options=[
    BASE, CHECKPOINTS, (("--train-seed",), {"type": int, "default": 0, "help": "the training seed: model init, batch "
                                            "order and every training random stream (config train_seeds)"})])
def train(args, cfg):
    """One run's training at one training seed (rule train): cddbench.methods.<method>.train."""
    from cddbench import config as config_mod, methods

    ctx = _context(args, cfg)
    method = methods.get(config_mod.runs(cfg)[args.run]["method"])
    return _train_into(args, lambda out: method.train(ctx, out, args.log))


@command("sample", "run", "seed", "test-pairs", "vae", "teacher", "model", "out", options=[
    BASE, (("--train-seed",), {"type": int, "default": 0, "help": "the training seed of --model (recorded only)"}),
    (("--steps",), {"type": int, "nargs": "+", "required": True, "help": "step counts; each into out/<steps>/"})])
def sample(args, cfg):
    """PNGs of the test set for one (run, training seed, sampling seed) at each step count (rule sample):
    cddbench.sample.run."""
    from cddbench import sample as sample_mod

    model = None if args.model == "-" else args.model
    return sample_mod.run(_context(args, cfg), args.steps, int(args.seed), args.test_pairs, model, args.out,
                          cfg["sampler"]["batch_size"])


@command("reference", "test-pairs", "out", "floor")
def reference(args, cfg):
    """Features of the HR test set and the noise floor (rule reference_features): cddbench.evaluate.reference."""
    from cddbench.evaluate import reference as reference_features

    floor = reference_features(cfg, args.test_pairs, args.out)
    with open(args.floor, "w") as f:
        json.dump(floor, f, indent=1)
    return floor


@command("evaluate", "samples", "test-pairs", "reference", "out", options=[
    (("--steps",), {"type": int, "nargs": "+", "required": True, "help": "step counts: samples/<steps>/ -> out/<steps>.json"})])
def evaluate(args, cfg):
    """Every metric of one sampling job's folders (rule evaluate): cddbench.evaluate.evaluate_run."""
    from cddbench.evaluate import evaluate_run

    return evaluate_run(cfg, args.samples, args.steps, args.test_pairs, args.reference, args.out)


@command("validate-metrics", "test-pairs", "reference", "out", "figure")
def validate_metrics(args, cfg):
    """Graded distortions scored by every metric (rule metric_validation): cddbench.metric_validation.validate_metrics."""
    import numpy as np

    from cddbench import metric_validation as validation
    from cddbench.evaluate import hr_test_images, with_device

    ref = np.load(args.reference)
    table = validation.validate_metrics(hr_test_images(args.test_pairs), ref["features"], str(ref["backend"]),
                                        with_device(cfg), cfg["seed"])
    table.to_csv(args.out, index=False)
    validation.figure(table, args.figure)
    return {"rows": len(table)}


@command("teacher-check", "test-pairs", "train-patches", "vae", "teacher", "reference", "out", "grid")
def teacher_check(args, cfg):
    """The autoencoder's and the teacher's measurements the quality gates read (rule teacher_check):
    cddbench.quality.teacher_check."""
    from cddbench.quality import teacher_check as check

    return check(_context(args, cfg), args.test_pairs, args.train_patches, args.reference, args.out, args.grid)


@command("quality-gates", "teacher-check", "floor", "out",
         options=[(("--metrics",), {"nargs": "+", "required": True, "help": "metric records of the configured runs"})])
def quality_gates(args, cfg):
    """Checks that the benchmark measures SR rather than noise (rule quality_gates): cddbench.quality.quality_gates."""
    from cddbench.quality import quality_gates as gates

    return gates(args.teacher_check, args.floor, args.metrics, args.out)


@command("claims", "out-csv", "out-comparisons", "out-md", "out-peers", options=[
    (("--metrics",), {"nargs": "+", "required": True,
                      "help": "metric records of the configured runs (the .npz beside each read)"})])
def claims(args, cfg):
    """The paper's claims decided on the metric records (rule claims): cddbench.claims.evaluate."""
    from cddbench import claims as claims_mod, paired

    table, comparisons = claims_mod.evaluate(paired.load(args.metrics))
    table.to_csv(args.out_csv, index=False)
    comparisons.to_csv(args.out_comparisons, index=False)
    with open(args.out_md, "w") as f:
        f.write(claims_mod.to_markdown(table, comparisons) + "\n")
    with open(args.out_peers, "w") as f:
        f.write(claims_mod.peers_markdown(comparisons) + "\n")
    return dict(zip(table["claim"].astype(str), table["verdict"]))


@command("claims-tiers", "images", "known-answer", "out")
def claims_tiers(args, cfg):
    """Each claim on the image and the known-answer tier side by side (rule claims_tiers): claims.tiers_markdown."""
    import pandas as pd

    from cddbench import claims as claims_mod

    with open(args.out, "w") as f:
        f.write(claims_mod.tiers_markdown(pd.read_csv(args.images), pd.read_csv(args.known_answer)))
    return {"out": args.out}


@command("download-weights")
def download_weights(args, cfg):
    """The standard metric weights (rule download_metric_weights; needs network): cddbench.metrics.download_weights."""
    from cddbench.metrics import download_weights as download

    return download(cfg["evaluate"]["weights_dir"])


@command("gpu-check", "out", options=[
    (("--arch",), {"default": "sd15", "choices": ["sd15", "tiny"],
                   "help": "sd15: Stable Diffusion 1.5's architecture at 512 px (random weights); tiny: the config's"}),
    (("--device",), {"default": "cuda"}), (("--precision",), {"default": "bf16", "choices": ["bf16", "fp32"]}),
    (("--steps",), {"type": int, "default": 5, "help": "timed iterations per training method"}),
    (("--max-batch",), {"type": int, "default": 256, "help": "the largest batch the out-of-memory search tries"})])
def gpu_check(args, cfg):
    """Paper-config iterations and samplers timed on SD-1.5's architecture (docs/benchmarks.md): cddbench.gpucheck."""
    from cddbench import gpucheck

    m = cfg["methods"]
    batches = {"ldm_sr": m["ldm_sr"]["train"]["batch_size"], "cdd": m["cdd"]["train"]["batch_size"],
               "cdd_adapter": m["cdd"]["train"]["batch_size"]}
    record = gpucheck.run(cfg, args.arch, args.device, args.precision, batches, cfg["sampler"]["batch_size"],
                          steps=args.steps, max_batch=args.max_batch, out=args.out)
    return {k: record[k] for k in ("machine", "arch", "precision")}


@command("benchmark-cdd", "out")
def benchmark_cdd(args, cfg):
    """CDD iteration and sampling speed (docs/benchmarks.md): cddbench.speed.cdd_speed."""
    from cddbench import speed as benchmark

    return _write_json(benchmark.cdd_speed(cfg), args.out)


@command("benchmark-degrade", "out")
def benchmark_degrade(args, cfg):
    """Degradation speed (docs/method.md): cddbench.speed.degrade_speed."""
    from cddbench import speed as benchmark

    return _write_json(benchmark.degrade_speed(cfg), args.out)


def _write_json(result: dict, path: str) -> dict:
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    sys.exit(main())
