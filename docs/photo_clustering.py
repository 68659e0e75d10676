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
    rng = np.random.default_rng(cfg["seed"])
    groups = [np.flatnonzero(photo == p) for p in np.unique(photo)]
    resamples = {"patch": [rng.integers(0, len(photo), len(photo)) for _ in range(a.resamples)],
                 "photo": [np.concatenate([groups[g] for g in rng.integers(0, len(groups), len(groups))])
                           for _ in range(a.resamples)]}
    everything = [np.arange(len(photo))]
    # one row per sample folder of the metric on every resample (the DAG's FD, metrics.frechet_distances)
    features = {f: space(read_folder(f"{a.results}/samples/{f}")) for v in folders.values() for f in v}
    per_image = {f: np.load(f"{a.results}/metrics/{f.rsplit('/', 1)[0]}/{f.rsplit('/', 1)[1]}.npz")
                 for v in folders.values() for f in v}

    def difference(metric: str, index_sets: list) -> np.ndarray:
        """LDM-SR-200 (training seeds averaged) minus bicubic, on each index set."""
        def values(f):
            if metric == "fd_proxy":
                return metrics.frechet_distances(features[f], ref, index_sets)
            return np.array([per_image[f][metric][idx].mean() for idx in index_sets])
        return np.mean([values(f) for f in folders["ldm_sr"]], axis=0) - values(folders["bicubic"][0])

    print(f"{len(photo)} test patches from {len(groups)} photographs\n")
    print("| metric | LDM-SR-200 − bicubic | sd over patch resamples | sd over photo resamples | ratio |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for metric in ("fd_proxy", "lpips_proxy", "psnr", "colour_error"):
        sd_patch, sd_photo = (np.std(difference(metric, resamples[k]), ddof=1) for k in ("patch", "photo"))
        print(f"| {metric} | {difference(metric, everything)[0]:+.4f} | {sd_patch:.4f} | {sd_photo:.4f} | "
              f"{sd_photo / sd_patch:.1f} |", flush=True)


if __name__ == "__main__":
    main()
