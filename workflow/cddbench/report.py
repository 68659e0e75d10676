"""Tables and gates from result files only (no models): what the notebooks show and the tests check."""
from __future__ import annotations

import json
import math
import os

import pandas as pd

from cddbench import methods, metrics
from cddbench.paper import BEYOND, LABELS, NOT_RUN, PAPER_VALUES, PEERS, TABLE1

PAPER_ROWS = {(run, steps) for run, steps, _ in TABLE1}

METRIC_COLUMNS = ["fid", "fd_proxy", "kid", "kd_proxy", "lpips", "lpips_proxy", "psnr", "ssim", "colour_error",
                  "saturation", "sharpness", "seconds_per_image"]
IMAGE_STATS = ("saturation", "sharpness")  # in the CSVs and the claims; left out of the markdown table


def load_records(files: list[str]) -> pd.DataFrame:
    """The metric records of the configured runs (given explicitly: stale files of older configs never leak in)."""
    if not files:
        raise ValueError("no metric records given")
    rows = []
    for path in files:
        with open(path) as f:
            rows.append(json.load(f))
    return pd.DataFrame(rows)


def label(run: str, method: str) -> str:
    if run in LABELS:
        return LABELS[run]
    display = methods.get(method).DISPLAY
    return display if run == method else f"{display} [{run[len(method) + 1:]}]"


def intervals(metric_files: list[str], level: float = 0.95) -> dict[tuple[str, int], dict[str, tuple[float, float]]]:
    """{(run, steps): {metric: (low, high)}}: each cell's ``level`` interval over test photographs and training runs
    (``cddbench.paired.cell_interval``: it never leaves the metric's range), for every metric with
    leave-one-photo-out values."""
    from cddbench import paired

    cells = paired.load(metric_files)
    return {cell: {m: paired.cell_interval(cells, cell, m, level)
                   for m in sorted(set.intersection(*(set(r.loo) for r in reps)))}
            for cell, reps in cells.items()}


def summarize(records: pd.DataFrame, params: dict[str, dict],
              cell_intervals: dict[tuple[str, int], dict[str, tuple[float, float]]] | None = None) -> pd.DataFrame:
    """One row per (run, steps), in config order: mean and std over its replicates (training x sampling seeds) of
    every metric, params, NFE and the paper's values where the paper has that row. With ``cell_intervals``
    (``intervals``), a metric's ``_ci_low`` / ``_ci_high`` are that interval."""
    backends = set(records["metric_backend"])
    if len(backends) != 1:
        raise ValueError(f"records mix metric backends {sorted(backends)}; rerun the evaluation")
    cols = [c for c in METRIC_COLUMNS if c in records.columns]
    rows = []
    for (run, steps), g in records.groupby(["run", "steps"], sort=False):
        method = g["method"].iloc[0]
        p = params.get(run) or params.get(methods.base(method) or "", {})  # DPM-Solver: the LDM-SR model's
        name = label(run, method)
        row = {"run": run, "method": method, "row": f"{name} ({int(steps)})" if steps else name,
               "steps": int(steps), "nfe": int(g["nfe"].iloc[0]), "status": "measured",
               "params_trained": p.get("params_trained", 0), "params_total": p.get("params_total", 0),
               "images_seen": p.get("images_seen", 0),
               "n_train_seeds": g["train_seed"].nunique() if "train_seed" in g else 1,
               "n_seeds": g["seed"].nunique(), "n_images": int(g["n_images"].iloc[0]),
               "n_photos": int(g["n_photos"].iloc[0]) if "n_photos" in g else math.nan}
        for c in cols:
            row[f"{c}_mean"] = float(g[c].mean())
            row[f"{c}_std"] = float(g[c].std(ddof=1)) if len(g) > 1 else math.nan
            if cell_intervals and c in cell_intervals.get((run, int(steps)), {}):
                row[f"{c}_ci_low"], row[f"{c}_ci_high"] = cell_intervals[(run, int(steps))][c]
        row["paper_fid"], row["paper_lpips"] = PAPER_VALUES.get((run, int(steps)), (math.nan, math.nan))
        row["metric_backend"] = next(iter(backends))
        rows.append(row)
    return pd.DataFrame(rows)


def table1(summary: pd.DataFrame) -> pd.DataFrame:
    """The rows of the paper's Table 1 in the paper's order: those that were run (the rest of the runs and step
    counts: ``summarize``'s output) and the ``NOT_RUN`` rows, marked, with the paper's values only.

    Wall-clock seconds stay in ``summarize``'s table (runs.csv, the Pareto plot): they differ between any two runs,
    and the same config must give the same Table 1, byte for byte."""
    order = {(r, s): i for i, (r, s, _) in enumerate(TABLE1)}
    missing = [{"run": r, "method": r, "row": f"{NOT_RUN[r][0]} ({s})", "steps": s, "nfe": s, "status": NOT_RUN[r][1],
                "paper_fid": v[0], "paper_lpips": v[1], "metric_backend": summary["metric_backend"].iloc[0]}
               for r, s, v in TABLE1 if r in NOT_RUN]
    out = pd.concat([summary, pd.DataFrame(missing)], ignore_index=True)
    # below the paper's rows: the block beyond the paper when a peer ran, then external models in config order
    if set(out["method"]) & set(PEERS):
        order.update({cell: len(TABLE1) + i for i, cell in enumerate(BEYOND) if cell not in order})
    keys = [order.get((r, s), len(TABLE1) + len(BEYOND) + i if m == "external" else None)
            for i, (r, s, m) in enumerate(zip(out["run"], out["steps"], out["method"]))]
    out = out.assign(_k=keys).dropna(subset=["_k"]).sort_values("_k")
    timing = [c for c in out.columns if c.startswith("seconds_per_image")]
    return out.drop(columns=["_k", *timing]).reset_index(drop=True)


def to_markdown(table: pd.DataFrame) -> str:
    """Mean ± std cells (with the 95% interval over test photographs and training runs in brackets), the
    metric names as the backend gave them, and the paper's values beside ours."""
    shown = ["row", "nfe", "params_trained", "params_total"]
    out = table[shown].copy()
    for c in ("params_trained", "params_total"):
        out[c] = [f"{int(v):,}" if v == v else "—" for v in table[c]]  # NaN: a not-run row
    for c in METRIC_COLUMNS:
        if f"{c}_mean" in table and c not in IMAGE_STATS:
            # significant digits (KID lives around 1e-4); a std needs only two
            mean_fmt, std_fmt = ("{:.2f}", "{:.2f}") if c == "psnr" else ("{:.4g}", "{:.2g}")
            lo, hi = (table.get(f"{c}_ci_{e}", pd.Series(math.nan, index=table.index)) for e in ("low", "high"))
            out[c] = ["not run" if math.isnan(m) else
                      mean_fmt.format(m) + ("" if math.isnan(s) else " ± " + std_fmt.format(s))
                      + ("" if math.isnan(a) else f" [{a:.3g}, {b:.3g}]")  # 95% interval, photographs x training runs
                      for m, s, a, b in zip(table[f"{c}_mean"], table[f"{c}_std"], lo, hi)]
    out["paper FID"] = table["paper_fid"].map(lambda v: "" if math.isnan(v) else f"{v:.2f}")
    out["paper LPIPS"] = table["paper_lpips"].map(lambda v: "" if math.isnan(v) else f"{v:.4f}")
    paper_rows = sum((r, int(s)) in PAPER_ROWS for r, s in zip(table["run"], table["steps"]))
    if paper_rows < len(out):  # a header row above what follows the paper's rows: peers, then external models
        header = pd.DataFrame([{c: "" for c in out.columns} | {"row": "**beyond the paper**"}])
        out = pd.concat([out.iloc[:paper_rows], header, out.iloc[paper_rows:]], ignore_index=True)
    return out.to_markdown(index=False)


def read_params(model_dirs: list[str]) -> dict[str, dict]:
    """``{run: info.json}`` of each trained run's model folders (``<run>/train<seed>``: replicates of one run share
    its sizes and budget)."""
    out = {}
    for folder in model_dirs:
        with open(os.path.join(folder, "info.json")) as f:
            out.setdefault(os.path.basename(os.path.dirname(os.path.normpath(folder))), json.load(f))
    return out


def _count(table: pd.DataFrame, column: str) -> str:
    values = table[column].dropna() if column in table else []
    return f"{int(values.iloc[0])}" if len(values) else "?"


def table_notes(table: pd.DataFrame, gates: dict) -> str:
    """The protocol under the table: backend, images, seeds, and the quality gates' verdicts."""
    backend = table["metric_backend"].iloc[0]
    lines = [f"- Metric backend: **{backend}**"
             + ("" if backend == "standard" else f" — {metrics.NOTES[backend]}."),
             f"- Test images: {int(table['n_images'].iloc[0])}; cells are mean ± std over "
             f"{int(table['n_train_seeds'].max())} training x {int(table['n_seeds'].max())} sampling seed(s), in "
             f"brackets the 95% interval over the {_count(table, 'n_photos')} test photographs and the training "
             "runs (`cddbench.paired`; unbounded where a trained row has one run). "
             "Seconds per image (measured on this machine) are in runs.csv.",
             "- `paper FID` / `paper LPIPS`: the paper's Table 1 (real-world 4x SR at 512 px), for reference only."]
    run = table[table["status"] == "measured"]
    if "images_seen" in run:
        seen = [f"{r} {int(n):,}" for r, n in zip(run["row"], run["images_seen"]) if n == n and n > 0]
        lines.append("- Training budget, images seen (teacher pretraining, shared by all diffusion rows, excluded; "
                     "CM counts the LDM-SR fine-tune it distils, DPM-Solver uses that model as is): " + "; ".join(seen))
    lines += [f"- {r}: {why}" for r, why in zip(table["row"], table["status"]) if why != "measured"]
    for method in dict.fromkeys(run["method"]):  # caveats a method states about its own row
        note = getattr(methods.get(method), "NOTE", None)
        if note:
            lines.append(f"- {methods.get(method).DISPLAY}: {note}")
    floor = gates.get("noise_floor", {})
    if floor:
        lines.append("- Noise floor (two random halves of the HR test set): "
                     + ", ".join(f"{k} = {v:.4g}" for k, v in floor.items() if isinstance(v, float)))
    for name, g in gates.items():
        if isinstance(g, dict) and "pass" in g:
            lines.append(f"- Quality gate `{name}`: {'pass' if g['pass'] else '**FAIL**'}")
    return "\n".join(lines)
