"""How much the test patches' grouping by photograph widens the bicubic gate's interval (docs/results.md).

The DAG's bootstrap (``metrics.bootstrap_indices``) resamples the 2,160 test patches as if independent; they come from
14 photographs. This prints the standard deviation of the paired difference LDM-SR-200 - bicubic (training seeds
averaged, as the gate) over 100 such patch resamples and over 100 resamples of whole photographs (a cluster
bootstrap), per metric.

    python docs/photo_clustering.py --results results --config config.yaml

A diagnostic for the docs, not a DAG output. FD on a photo resample repeats whole photographs, which inflates it more
than repeated patches do, so its ratio is an upper bound; the per-image metrics' ratios are the cleaner ones.
"""
from __future__ import annotations

import argparse

import numpy as np

from cddbench import config, data, evaluate, metrics
from cddbench.sample import read_folder


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", default="results")
    ap.add_argument("--config", default="config.yaml")
    ap.add_argument("--resamples", type=int, default=100)
    a = ap.parse_args()
    cfg = config.load(a.config)
    ecfg = {**evaluate.with_device(cfg), "device": "cpu"}
    photo = np.array(data.load_split(f"{a.results}/data/pairs/test")["source"])
    ref = np.load(f"{a.results}/metrics/reference.npz")["features"]
    space = metrics.FeatureSpace("proxy", ecfg)
    folders = {"ldm_sr": [f"ldm_sr/train{t}/seed0/200" for t in cfg["train_seeds"]],
               "bicubic": ["bicubic/train0/seed0/0"]}
    # the fast FD of one resample (the one the DAG's bootstrap uses), one per sample folder
    fd = {k: [metrics._covariance_resampler(space(read_folder(f"{a.results}/samples/{f}")), ref) for f in v]
          for k, v in folders.items()}
    per_image = {k: [np.load(f"{a.results}/metrics/{f.rsplit('/', 1)[0]}/{f.rsplit('/', 1)[1]}.npz") for f in v]
                 for k, v in folders.items()}

    def difference(metric: str, idx: np.ndarray) -> float:
        if metric == "fd_proxy":
            return float(np.mean([g(idx) for g in fd["ldm_sr"]]) - fd["bicubic"][0](idx))
        return float(np.mean([r[metric][idx].mean() for r in per_image["ldm_sr"]])
                     - per_image["bicubic"][0][metric][idx].mean())

    rng = np.random.default_rng(cfg["seed"])
    groups = [np.flatnonzero(photo == p) for p in np.unique(photo)]
    patches = [rng.integers(0, len(photo), len(photo)) for _ in range(a.resamples)]
    photos = [np.concatenate([groups[g] for g in rng.integers(0, len(groups), len(groups))])
              for _ in range(a.resamples)]
    print(f"{len(photo)} test patches from {len(groups)} photographs\n")
    print("| metric | LDM-SR-200 − bicubic | sd over patch resamples | sd over photo resamples | ratio |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for metric in ("fd_proxy", "lpips_proxy", "psnr", "colour_error"):
        sd_patch = np.std([difference(metric, i) for i in patches], ddof=1)
        sd_photo = np.std([difference(metric, i) for i in photos], ddof=1)
        print(f"| {metric} | {difference(metric, np.arange(len(photo))):+.4f} | {sd_patch:.4f} | {sd_photo:.4f} | "
              f"{sd_photo / sd_patch:.1f} |", flush=True)


if __name__ == "__main__":
    main()
