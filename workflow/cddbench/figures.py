"""Figures rendered by the notebooks (matplotlib only; the notebooks stay thin) and the data behind them."""
from __future__ import annotations

import os

import numpy as np
import pandas as pd

from cddbench.paper import FIG3_PANELS, FIG5_PANELS


def ablation_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The numbers behind Fig. 5 and Fig. 3 (``results/ablations.csv``): one row per (figure, panel, variant,
    steps) with every metric's mean, std over seeds and 95% interval (runs.csv's); a variant the config did not ask for
    is a row marked "not run"."""
    rows = []
    for figure, panels in (("fig5", FIG5_PANELS), ("fig3", FIG3_PANELS)):
        for panel, runs in panels:
            for variant, run in runs.items():
                hit = summary[summary["run"] == run].sort_values("steps")
                head = {"figure": figure, "panel": panel, "variant": variant}
                if hit.empty:
                    rows.append({**head, "run": run, "status": "not run"})
                rows += [{**head, **r} for r in hit.to_dict("records")]
    return pd.DataFrame(rows)


def sample_image(sample_dir: str, index: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(os.path.join(sample_dir, f"{index:05d}.png")).convert("RGB"))


def lr_hr_images(test_pairs: str, indices: list[int]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(LR enlarged to the HR size with nearest neighbours, HR) of the chosen test images."""
    from PIL import Image

    from cddbench import data

    pairs = data.load_split(test_pairs)
    hr = [np.asarray(pairs[i]["hr"].convert("RGB")) for i in indices]
    lr = [np.asarray(pairs[i]["lr"].convert("RGB").resize(h.shape[1::-1], Image.NEAREST)) for i, h in zip(indices, hr)]
    return lr, hr


def spread_indices(n_images: int, k: int) -> list[int]:
    """``k`` test images spread evenly over the test set (its order is by source image, then position)."""
    return sorted({int(round(i)) for i in np.linspace(0, n_images - 1, k)})


def degradation_grid(hr: list[np.ndarray], ids: list[str], dcfg: dict, seed: int, variants: int, out_png: str) -> None:
    """Each HR image (a test crop) beside ``variants`` independent degradations of it (LR shown at HR size,
    nearest)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    from cddbench.degrade import degrade

    fig, axes = plt.subplots(len(hr), variants + 1, figsize=(1.6 * (variants + 1), 1.6 * len(hr)), squeeze=False)
    for r, (img, image_id) in enumerate(zip(hr, ids)):
        axes[r, 0].imshow(img)
        axes[r, 0].set_title("HR" if r == 0 else "", fontsize=8)
        for v in range(variants):
            lr, p = degrade(img, seed, f"{image_id}#figure{v}", dcfg)
            big = Image.fromarray(lr).resize(img.shape[1::-1], Image.NEAREST)
            axes[r, v + 1].imshow(big)
            label = p.get("kernel1", {}).get("type", "")  # the first blur kernel (realesrgan only)
            axes[r, v + 1].set_title(f"LR {v + 1}" + (f"\n{label}" if label else ""), fontsize=7)
    for ax in axes.flat:
        ax.set_axis_off()
    fig.suptitle(f"degradation: {dcfg['method']} (4x; LR shown enlarged)", fontsize=9)
    fig.tight_layout()
    fig.savefig(out_png, dpi=120)
    plt.close(fig)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def pareto(summary, fd: str, out_png: str, runs: set[str] | None = None) -> None:
    """FD against measured seconds per image (log scale), every run (of ``runs``, default all) a line over its step
    counts: the paper's "same sampling time" argument in one picture."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    shown = summary if runs is None else summary[summary["run"].isin(runs)]
    for run, g in shown.groupby("run", sort=False):
        g = g.sort_values("seconds_per_image_mean")
        ax.plot(g["seconds_per_image_mean"], g[f"{fd}_mean"], "o-", ms=4, label=g["row"].iloc[0].split(" (")[0])
        for _, r in g.iterrows():
            ax.annotate(str(int(r["steps"])), (r["seconds_per_image_mean"], r[f"{fd}_mean"]), fontsize=6,
                        xytext=(2, 2), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("seconds per image (measured, log scale)")
    ax.set_ylabel(fd)
    ax.set_title(f"{fd} vs sampling time (numbers: steps)", fontsize=9)
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(out_png, dpi=130)
    plt.close(fig)


def steps_panels(summary, panels: list[tuple[str, dict[str, str]]], metrics: list[str], out_png: str,
                 reference: dict[str, float] | None = None, reference_label: str = "HR") -> None:
    """One column per panel (title, {legend label: run}), one row per metric: metric mean ± std over seeds against
    sampling steps (log 2), the layout of the paper's Fig. 3 and Fig. 5. A run the config did not ask for is
    drawn as missing, never left out silently. ``reference``: a dashed line per metric (the HR test set's value;
    the known-answer tier's floor)."""
    plt = _plt()
    fig, axes = plt.subplots(len(metrics), len(panels), figsize=(3.0 * len(panels), 2.4 * len(metrics)),
                             squeeze=False)
    for j, (title, runs) in enumerate(panels):
        for i, m in enumerate(metrics):
            ax = axes[i, j]
            for label, run in runs.items():
                g = summary[summary["run"] == run].sort_values("steps")
                if g.empty or f"{m}_mean" not in g:
                    ax.plot([], [], label=f"{label} (not run)")
                    continue
                ax.errorbar(g["steps"], g[f"{m}_mean"], yerr=g[f"{m}_std"].fillna(0), marker="o", ms=3,
                            capsize=2, label=label)
            if reference and m in reference:
                ax.axhline(reference[m], color="grey", ls="--", lw=0.8, label=reference_label)
            ax.set_xscale("log", base=2)
            ax.set_xlabel("steps", fontsize=7)
            ax.set_ylabel(m, fontsize=7)
            ax.tick_params(labelsize=6)
            if i == 0:
                ax.set_title(title, fontsize=8)
                ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(out_png, dpi=130)
    plt.close(fig)


def image_grid(columns: list[tuple[str, list[np.ndarray | None]]], out_png: str, zoom: int = 4,
               crop: int | None = None, title: str = "", row_labels: list[str] | None = None) -> None:
    """Rows of images under labelled columns (nearest-neighbour enlarged by ``zoom``); with ``crop`` each cell
    also shows its central ``crop`` x ``crop`` square enlarged further, below it. A ``None`` cell (a run the
    config did not ask for) reads "not run"."""
    from PIL import Image

    plt = _plt()
    n_rows = len(columns[0][1])
    per = 2 if crop else 1
    fig, axes = plt.subplots(n_rows * per, len(columns), figsize=(1.3 * len(columns), 1.3 * n_rows * per),
                             squeeze=False)
    for ax in axes.flat:  # no ticks or frame, but keep the y label (the row label)
        ax.set_xticks([])
        ax.set_yticks([])
        for side in ax.spines.values():
            side.set_visible(False)
    for j, (label, images) in enumerate(columns):
        for r, img in enumerate(images):
            if img is None:
                axes[r * per, j].text(0.5, 0.5, "not run", ha="center", va="center", fontsize=7)
                continue
            size = (img.shape[1] * zoom, img.shape[0] * zoom)
            axes[r * per, j].imshow(Image.fromarray(img).resize(size, Image.NEAREST))
            if crop:
                top, left = (img.shape[0] - crop) // 2, (img.shape[1] - crop) // 2
                part = Image.fromarray(img[top : top + crop, left : left + crop]).resize(size, Image.NEAREST)
                axes[r * per + 1, j].imshow(part)
        axes[0, j].set_title(label, fontsize=7)
    for r, label in enumerate(row_labels or []):
        axes[r * per, 0].set_ylabel(label, fontsize=7)
    if title:
        fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(out_png, dpi=130)
    plt.close(fig)


def qualitative_grid(test_pairs: str, sample_dirs: dict[str, str | None], n_images: int, out_png: str) -> list[int]:
    """The paper's Fig. 6: LR | each method's sample | HR for ``n_images`` test images spread over the test set,
    each with a zoomed central crop; ``sample_dirs`` maps a column label to a sample folder (None: not run)."""
    from cddbench import data

    idx = spread_indices(len(data.load_split(test_pairs)), n_images)
    lr, hr = lr_hr_images(test_pairs, idx)
    columns = [("LR", lr)]
    columns += [(label, [sample_image(d, i) if d else None for i in idx]) for label, d in sample_dirs.items()]
    image_grid(columns + [("HR", hr)], out_png, zoom=4, crop=hr[0].shape[0] // 3,
               title="4x SR of held-out test images (below each: its central crop, enlarged)")
    return idx


def steps_grid(test_pairs: str, sample_dirs: dict[str, dict[int, str]], out_png: str, title: str) -> int:
    """One test image (the middle one) at every step count, one row per run: LR | steps... | HR. The rows of
    ``sample_dirs`` map a label to ``{steps: sample folder}`` (Fig. 3's blur / over-saturation, by eye)."""
    from cddbench import data

    index = spread_indices(len(data.load_split(test_pairs)), 3)[1]
    (lr,), (hr,) = lr_hr_images(test_pairs, [index])
    steps = sorted({s for dirs in sample_dirs.values() for s in dirs})
    columns = [("LR", [lr] * len(sample_dirs))]
    columns += [(f"{s} step{'s' if s > 1 else ''}", [sample_image(d[s], index) if s in d else None
                                                     for d in sample_dirs.values()]) for s in steps]
    image_grid(columns + [("HR", [hr] * len(sample_dirs))], out_png, zoom=4, title=title,
               row_labels=list(sample_dirs))
    return index
