"""Profile one evaluation of a sample folder, one thread (torch and the BLAS both), as a DAG job runs it.

    python docs/profile_evaluate.py --results results --folder results/samples/cdd/train0/seed0/4 [--repeat 2]

Prints the wall time of ``cddbench.evaluate._evaluate_folder`` (the best of ``--repeat``) and where it goes (cProfile's
cumulative seconds of the metric functions). Snakemake sets OMP/OPENBLAS_NUM_THREADS to a job's ``threads``; run
by hand, numpy's and scipy's OpenBLAS would take every core, so they are limited here the same way, before numpy
loads (scipy loads its own OpenBLAS later, which a runtime limit would miss).
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import cProfile  # noqa: E402
import pstats  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from cddbench import config, evaluate, metrics  # noqa: E402
from cddbench.sample import read_folder  # noqa: E402

PARTS = {"proxy features": metrics.FeatureSpace.__call__, "FD (clean-fid)": metrics.frechet_distance,
         "leave-one-photo-out FDs": metrics.frechet_distance_loo, "KD + its leave-outs": metrics.kernel_distance_loo,
         "LPIPS": metrics.Lpips.__call__, "SSIM": metrics.ssim, "PSNR": metrics.psnr,
         "colour error": metrics.colour_error, "saturation": metrics.saturation, "sharpness": metrics.sharpness,
         "reading the PNGs": read_folder}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default="results")
    ap.add_argument("--config", default="config.yaml")
    ap.add_argument("--folder", required=True)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = config.load(args.config)
    ecfg = evaluate.with_device(cfg)
    ref = np.load(f"{args.results}/metrics/reference.npz")
    hr = evaluate.hr_test_images(f"{args.results}/data/pairs/test")
    photos = evaluate.test_photos(f"{args.results}/data/pairs/test")
    out = os.path.join(tempfile.mkdtemp(), "record.json")
    best, prof = float("inf"), None
    for _ in range(args.repeat):
        pr = cProfile.Profile()
        start = time.perf_counter()
        pr.enable()
        evaluate._evaluate_folder(cfg, ecfg, args.folder, hr, photos, ref["features"], str(ref["backend"]), out)
        pr.disable()
        seconds = time.perf_counter() - start
        if seconds < best:
            best, prof = seconds, pr
    print(f"{best:.1f} s for {len(hr)} images of {len(set(photos))} photographs (best of {args.repeat})")
    stats = pstats.Stats(prof).stats
    for part, fn in PARTS.items():
        code = getattr(fn, "__wrapped__", fn).__code__  # torch.no_grad wraps some
        seconds = stats.get((code.co_filename, code.co_firstlineno, code.co_name), (0, 0, 0, 0))[3]
        print(f"  {part:24s} {seconds:6.2f} s")


if __name__ == "__main__":
    main()
