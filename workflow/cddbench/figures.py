"""Figures rendered by the notebooks (matplotlib only; the notebooks stay thin)."""
from __future__ import annotations

import numpy as np


def degradation_grid(hr: list[np.ndarray], ids: list[str], dcfg: dict, seed: int, variants: int, out_png: str) -> None:
    """Each HR patch beside ``variants`` independent degradations of it (LR shown at HR size, nearest)."""
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


def pareto(summary, fd: str, out_png: str) -> None:
    """FD against measured seconds per image (log scale), every run a line over its step counts: the paper's
    "same sampling time" argument in one picture."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for run, g in summary.groupby("run", sort=False):
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


def steps_panels(summary, panels: list[tuple[str, dict[str, str]]], metrics: list[str], out_png: str) -> None:
    """One column per panel (title, {legend label: run}), one row per metric: metric mean ± std over seeds against
    sampling steps (log 2), the layout of the paper's Fig. 3 and Fig. 5. A run the config did not ask for is
    drawn as missing, never left out silently."""
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


def image_grid(columns: list[tuple[str, list[np.ndarray]]], out_png: str, zoom: int = 4, crop: int | None = None,
               title: str = "") -> None:
    """Rows of images under labelled columns (nearest-neighbour enlarged by ``zoom``); with ``crop`` each cell
    also shows its top-left ``crop`` x ``crop`` corner enlarged twice as much, below it."""
    from PIL import Image

    plt = _plt()
    n_rows = len(columns[0][1])
    per = 2 if crop else 1
    fig, axes = plt.subplots(n_rows * per, len(columns), figsize=(1.3 * len(columns), 1.3 * n_rows * per),
                             squeeze=False)
    for j, (label, images) in enumerate(columns):
        for r, img in enumerate(images):
            size = (img.shape[1] * zoom, img.shape[0] * zoom)
            axes[r * per, j].imshow(Image.fromarray(img).resize(size, Image.NEAREST))
            if crop:
                part = Image.fromarray(img[:crop, :crop]).resize(size, Image.NEAREST)
                axes[r * per + 1, j].imshow(part)
        axes[0, j].set_title(label, fontsize=7)
    for ax in axes.flat:
        ax.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(out_png, dpi=130)
    plt.close(fig)
