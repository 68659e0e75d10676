"""Write docs/results.md from a finished run's results/ folder: what was run (date, commit, config), stage times,
quality gates, Table 1, where each cell's uncertainty comes from, the claims and the metric validation.

    python workflow/scripts/results_page.py --results results --commit $(git rev-parse --short HEAD) --wall-minutes 123 \
        --command "snakemake --cores all" > docs/results.md

Every number comes from the result files; the reading of them is written by hand below the generated part.
"""
from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import re

import pandas as pd

from cddbench import paired

STAGES = [("train", r"^train_"), ("sample", r"^sample_"), ("evaluate", r"^evaluate_"),
          ("metric validation", r"^metric_validation$"), ("teacher check (the gates' model side)", r"^teacher_check$"),
          ("data, teacher, encoding, reference", r"^(patches|degrade_|autoencoder|teacher|encode_train|"
           r"reference_features)"), ("gates, table, figures", r".")]


def _fmt(v) -> str:
    """A gate's value: floats (also inside lists) to 4 significant digits."""
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    if isinstance(v, dict):  # a paired gate's metric: its difference and interval (the rest is in the json)
        if "difference" in v:
            return (f"{_fmt(v['better'])} vs {_fmt(v['worse'])}, difference {_fmt(v['difference'])} "
                    f"[{_fmt(v['difference_low'])}, {_fmt(v['difference_high'])}], df {v['df']}")
        return "{" + ", ".join(f"{k} {_fmt(x)}" for k, x in v.items()) + "}"
    return str(v)


def stage_times(bench_dir: str) -> pd.DataFrame:
    rows = []
    for path in sorted(glob.glob(f"{bench_dir}/*.tsv")):
        name = os.path.basename(path)[: -len(".tsv")]
        seconds = float(pd.read_csv(path, sep="\t")["s"].iloc[-1])
        stage = next(s for s, pattern in STAGES if re.search(pattern, name))
        rows.append({"stage": stage, "job": name, "seconds": seconds})
    jobs = pd.DataFrame(rows)
    out = jobs.groupby("stage", sort=False)["seconds"].agg(["count", "sum", "median", "max"]).reset_index()
    return out.rename(columns={"count": "jobs", "sum": "job-seconds"})


def spreads(results: str, metrics: list[str]) -> pd.DataFrame:
    files = sorted(glob.glob(f"{results}/metrics/*/train*/seed*/*.json"))
    cells = paired.load(files)
    rows = []
    for (run, steps), reps in cells.items():
        for m in metrics:
            if all(m in r.loo for r in reps) and len(reps) > 1:
                rows.append({"run": run, "steps": steps, "metric": m, **paired.spread(reps, m)})
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", default="results")
    ap.add_argument("--config", default="config.yaml")
    ap.add_argument("--commit", required=True)
    ap.add_argument("--command", required=True)
    ap.add_argument("--wall-minutes", type=float, required=True)
    ap.add_argument("--date", required=True)
    a = ap.parse_args()
    r = a.results
    sha = hashlib.sha256(open(a.config, "rb").read()).hexdigest()[:12]
    print(f"# Results of the embedded default\n\nRun on {a.date} at commit `{a.commit}` with `{a.config}` "
          f"(sha256 `{sha}…`), `{a.command}`, on the 2-core development machine (no GPU). Wall clock: "
          f"**{a.wall_minutes:.0f} minutes** for the whole DAG (install and photo download not included).\n")
    times = stage_times(f"{r}/benchmarks")
    print("## Stage times (from `results/benchmarks/*.tsv`; one thread per job, two jobs at a time)\n")
    print(times.to_markdown(index=False, floatfmt=".0f") + "\n")
    gates = json.load(open(f"{r}/quality_gates.json"))
    print("## Quality gates (`results/quality_gates.json`)\n")
    for name, g in gates.items():
        if isinstance(g, dict) and "pass" in g:
            nums = ", ".join(f"{k} {_fmt(v)}" for k, v in g.items() if k != "pass")
            print(f"- `{name}`: **{'pass' if g['pass'] else 'FAIL'}** ({nums})")
        elif isinstance(g, dict) and "within_factor" in g:  # recorded, not a gate
            nums = ", ".join(f"{k} {_fmt(v)}" for k, v in g.items())
            print(f"- `{name}` (recorded, not a gate): {nums}")
    print("\n## Table 1 (`results/table1.md`)\n")
    print(open(f"{r}/table1.md").read())
    fd = "fid" if "fid_mean" in open(f"{r}/table1.csv").readline() else "fd_proxy"
    lp = fd.replace("fd_proxy", "lpips_proxy").replace("fid", "lpips")
    s = spreads(r, [fd, lp])
    print("## Where the uncertainty comes from\n")
    print("Standard deviation of each cell's metric: over test photographs (the delete-one-photo jackknife, "
          "training runs averaged), between sampling seeds within a training seed, and between training seeds "
          "(`cddbench.paired.spread`). Cells with more than one replicate.\n")
    print(s.to_markdown(index=False, floatfmt=".4f") + "\n")
    med = s.groupby("metric")[["photos", "sampling_seeds", "training_seeds"]].median()
    print("Medians over cells:\n\n" + med.to_markdown(floatfmt=".4f") + "\n")
    print("## Claims (`results/claims.md`)\n")
    print(open(f"{r}/claims.md").read())
    print("## Metric validation (`results/metric_validation.csv`)\n")
    print(pd.read_csv(f"{r}/metric_validation.csv").to_markdown(index=False, floatfmt=".4g") + "\n")


if __name__ == "__main__":
    main()
