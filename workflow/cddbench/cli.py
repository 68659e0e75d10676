"""Entry points the Snakemake rules call (one subcommand per rule); each works by hand too:
``cddbench sample --config config.yaml --run ldm_sr --steps 4 --seed 0 ...`` (a run: a ``methods`` entry or a
variant of one, see ``cddbench.config.runs``)."""
from __future__ import annotations

import argparse
import json
import sys


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="config YAML file, or the inline JSON a rule passes")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="cddbench", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)

    def cmd(name, *args):
        p = sub.add_parser(name)
        _common(p)
        for a in args:
            p.add_argument(f"--{a}", required=True)
        return p

    cmd("patches", "out")
    cmd("degrade", "patches", "out")
    ckpt = "folder of this job's training checkpoints: resumed from when present, removed once the job succeeds"
    cmd("autoencoder", "train", "out", "log").add_argument("--checkpoints", default="", help=ckpt)
    cmd("teacher", "train", "vae", "out", "log").add_argument("--checkpoints", default="", help=ckpt)
    cmd("export-teacher", "vae", "teacher", "test-pairs", "train-patches", "reference", "patches-report", "out").add_argument(
        "--benchmarks", nargs="+", required=True, help="the autoencoder and teacher rules' benchmark files")
    cmd("encode-train", "train-pairs", "vae", "out")
    base = "the model folder of the run this method builds on ('-': none)"
    train = cmd("train", "run", "train-set", "vae", "teacher", "out", "log")
    train.add_argument("--base", default="-", help=base)
    train.add_argument("--checkpoints", default="", help=ckpt)
    train_seed = "the training seed: model init, batch order and every training random stream (config train_seeds)"
    train.add_argument("--train-seed", type=int, default=0, help=train_seed)
    sample = cmd("sample", "run", "steps", "seed", "test-pairs", "vae", "teacher", "model", "out")
    sample.add_argument("--base", default="-", help=base)
    sample.add_argument("--train-seed", type=int, default=0, help="the training seed of --model (recorded only)")
    cmd("reference", "test-pairs", "out", "floor")
    cmd("evaluate", "samples", "test-pairs", "reference", "out")
    cmd("validate-metrics", "test-pairs", "reference", "out", "figure")
    cmd("quality-gates", "test-pairs", "train-patches", "vae", "teacher", "reference", "floor", "out", "grid").add_argument(
        "--metrics", nargs="+", required=True, help="metric records of the configured runs")
    cmd("claims", "out-csv", "out-comparisons", "out-md").add_argument(
        "--metrics", nargs="+", required=True, help="metric records of the configured runs (the .npz beside each read)")
    cmd("download-weights")
    cmd("benchmark-cdd", "out")
    cmd("benchmark-degrade", "out")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import torch

    from cddbench import config as config_mod

    cfg = config_mod.load(args.config)
    torch.set_num_threads(args.threads or cfg.get("threads", 1))
    result = _dispatch(args, cfg)
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
    import os
    import shutil

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


def _dispatch(args, cfg):
    c = args.command
    if c == "patches":
        from cddbench.data import build_patch_datasets

        report = build_patch_datasets(cfg["data"], cfg["seed"], args.out)
        return {k: report[k] for k in ("train_patches", "test_patches", "train_sources", "test_sources")}
    if c == "degrade":
        from cddbench.degrade import build_pairs

        return {"pairs": build_pairs(args.patches, args.out, cfg["seed"], cfg["degradation"])}
    if c == "autoencoder":
        from cddbench.pretrain import train_autoencoder

        return _train_into(args, lambda out: train_autoencoder(cfg, args.train, out, args.log, args.checkpoints))
    if c == "teacher":
        from cddbench.pretrain import train_teacher

        return _train_into(args, lambda out: train_teacher(cfg, args.train, args.vae, out, args.log, args.checkpoints))
    if c == "export-teacher":
        from cddbench.pretrain import export_teacher

        return export_teacher(cfg, args.vae, args.teacher, args.test_pairs, args.train_patches, args.reference,
                              args.patches_report, args.benchmarks, args.out)
    if c == "encode-train":
        from cddbench.methods.common import encode_training_set

        from cddbench import config as config_mod

        return encode_training_set(args.train_pairs, args.vae, args.out, config_mod.device(cfg))
    if c == "train":
        from cddbench import config as config_mod, methods

        ctx = _context(args, cfg)
        method = methods.get(config_mod.runs(cfg)[args.run]["method"])
        return _train_into(args, lambda out: method.train(ctx, out, args.log))
    if c == "sample":
        from cddbench import sample

        model = None if args.model == "-" else args.model
        return sample.run(_context(args, cfg), int(args.steps), int(args.seed), args.test_pairs,
                          model, args.out, cfg["sampler"]["batch_size"])
    if c == "reference":
        from cddbench.evaluate import reference

        floor = reference(cfg, args.test_pairs, args.out)
        with open(args.floor, "w") as f:
            json.dump(floor, f, indent=1)
        return floor
    if c == "evaluate":
        from cddbench.evaluate import evaluate_folder

        return evaluate_folder(cfg, args.samples, args.test_pairs, args.reference, args.out)
    if c == "validate-metrics":
        import numpy as np

        from cddbench import validation
        from cddbench.evaluate import hr_test_images

        ref = np.load(args.reference)
        table = validation.validate_metrics(hr_test_images(args.test_pairs), ref["features"], str(ref["backend"]),
                                            cfg["evaluate"], cfg["seed"])
        table.to_csv(args.out, index=False)
        validation.figure(table, args.figure)
        return {"rows": len(table)}
    if c == "quality-gates":
        from cddbench.quality import quality_gates

        return quality_gates(_context(args, cfg), args.test_pairs, args.train_patches, args.reference, args.floor,
                             args.metrics, args.out, args.grid)
    if c == "claims":
        from cddbench import claims, paired

        table, comparisons = claims.evaluate(paired.load(args.metrics))
        table.to_csv(args.out_csv, index=False)
        comparisons.to_csv(args.out_comparisons, index=False)
        with open(args.out_md, "w") as f:
            f.write(claims.to_markdown(table, comparisons) + "\n")
        return dict(zip(table["claim"].astype(str), table["verdict"]))
    if c == "download-weights":
        from cddbench.metrics import download_weights

        return download_weights(cfg["evaluate"]["weights_dir"])
    if c in ("benchmark-cdd", "benchmark-degrade"):
        from cddbench import benchmark

        result = benchmark.cdd_speed(cfg) if c == "benchmark-cdd" else benchmark.degrade_speed(cfg)
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
        return result
    raise AssertionError(c)


if __name__ == "__main__":
    sys.exit(main())
