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
