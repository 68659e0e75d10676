"""Training and sampling replicates: each seed changes what it names and nothing else, and the paired interval
(cddbench.paired) counts a systematic difference between training runs, with the coverage it states."""
import math
import os

import numpy as np
import pytest
import torch

from cddbench import metrics, paired
from cddbench.methods import Context

TINY = {"steps": 3, "batch_size": 4, "lr": 1e-3, "ema_decay": 0.0, "log_every": 1}


@pytest.fixture(scope="module")
def job(tmp_path_factory, repo, ts):
    """The tiny teacher, autoencoder and encoded training set on disk, and the default config cut to 3 steps."""
    from conftest import save_tiny_job

    root = tmp_path_factory.mktemp("replicates")
    cfg = save_tiny_job(root, ts, repo)
    for name in ("ldm_sr", "cdd", "cm"):
        cfg["methods"][name]["train"] = TINY
    cfg["methods"]["gd"].update(rounds=1, train=TINY, finetune=TINY)
    cfg["methods"]["esrgan"].update(generator={"channels": 8, "blocks": 1, "growth": 4},
                                    discriminator={"channels": 8}, warmup_steps=1, train=TINY)
    return root, cfg


def _train(job, method, train_seed, seed=0, base=""):
    from cddbench import methods

    root, cfg = job
    out = root / f"{method}-t{train_seed}-s{seed}"
    ctx = Context(cfg={**cfg, "seed": seed}, train_set=str(root / "train_set.pt"), vae_dir=str(root / "vae"),
                  teacher_dir=str(root / "teacher"), run=method, mcfg=cfg["methods"][method], base_dir=base,
                  train_seed=train_seed)
    methods.get(method).train(ctx, str(out), str(out) + ".csv")
    return out


def _weights(folder):
    """Every tensor a model folder holds (safetensors, or ESRGAN's generator.pt), by file and name."""
    from safetensors.torch import load_file

    out = {}
    for d, _, files in os.walk(folder):
        for f in files:
            path = os.path.join(d, f)
            if f.endswith((".safetensors", ".pt")):
                tensors = load_file(path) if f.endswith(".safetensors") else torch.load(path, weights_only=True)
                out.update({(os.path.relpath(path, folder), k): v for k, v in tensors.items()})
    return out


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("method", ["ldm_sr", "cdd", "gd", "cm", "esrgan"])
def test_the_training_seed_changes_the_model_and_the_master_seed_does_not(job, method):
    base = str(_train(job, "ldm_sr", 0)) if method == "cm" else ""
    ref = _weights(_train(job, method, 0, base=base))
    assert ref
    assert _same(_weights(_train(job, method, 0, seed=7, base=base)), ref)  # data seed: not a training stream
    assert not _same(_weights(_train(job, method, 1, base=base)), ref)


def test_the_sampling_seed_changes_the_noise_and_the_training_seed_does_not(job, tmp_path):
    """sample.run on one model: the training seed is a label of the record, the sampling seed draws the noise."""
    import datasets
    from PIL import Image

    from cddbench import sample

    root, cfg = job
    rng = np.random.default_rng(0)
    pairs = datasets.Dataset.from_dict({
        "id": [f"img{i}" for i in range(3)],
        "lr": [Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)) for _ in range(3)],
        "hr": [Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)) for _ in range(3)]})
    pairs.save_to_disk(str(tmp_path / "pairs"))
    model = _train(job, "ldm_sr", 0)
    folders = {}
    for train_seed, seed in ((0, 0), (1, 0), (0, 1)):
        ctx = Context(cfg=cfg, train_set="", vae_dir=str(root / "vae"), teacher_dir=str(root / "teacher"),
                      run="ldm_sr", mcfg=cfg["methods"]["ldm_sr"], train_seed=train_seed)
        out = tmp_path / f"t{train_seed}-s{seed}"
        record = sample.run(ctx, [2], seed, str(tmp_path / "pairs"), str(model), str(out), 2)[2]
        assert (record["train_seed"], record["seed"]) == (train_seed, seed)
        folders[train_seed, seed] = sample.read_folder(str(out / "2"))
    assert np.array_equal(folders[0, 0], folders[1, 0])
    assert not np.array_equal(folders[0, 0], folders[0, 1])


PHOTOS = np.repeat(np.arange(14), 20)  # 14 photographs of 20 test images


def _replicates(rng, images, shift, noise, train_seeds=(0, 1, 2, 3, 4), seeds=(0,)):
    """One run's records: per test image ``images`` + a systematic ``shift`` per training seed (normal, sd
    ``shift``) + per-image sampling ``noise``; leave-one-photo-out means over the same photographs in every record."""
    groups = metrics.photo_groups(PHOTOS)[1]
    reps = []
    for t in train_seeds:
        offset = rng.normal(0, shift)
        for s in seeds:
            x = images + offset + rng.normal(0, noise, len(images))
            reps.append(paired.Replicate(s, {"m": float(x.mean())}, {"m": metrics.leave_one_out_means(x, groups)}, t))
    return reps


def test_a_systematic_spread_between_training_runs_widens_the_interval():
    """Two methods 0.05 apart whose training runs scatter by 0.1 each: the photographs alone would decide (a tight
    interval), the training runs say that five runs each cannot tell them apart."""
    rng = np.random.default_rng(5)
    images = rng.normal(0, 1, len(PHOTOS))
    quiet = {("a", 4): _replicates(rng, images, 0.0, 0.05), ("b", 4): _replicates(rng, images + 0.05, 0.0, 0.05)}
    noisy = {("a", 4): _replicates(rng, images, 0.1, 0.05), ("b", 4): _replicates(rng, images + 0.05, 0.1, 0.05)}
    w = {("a", 4): 1, ("b", 4): -1}
    q, n = (paired.contrast(c, w, "m") for c in (quiet, noisy))
    assert q.interval(0.95)[1] < 0 and q.paired_seeds and math.sqrt(q.var_seeds) < 0.01
    (lo_q, hi_q), (lo_n, hi_n) = q.interval(0.95), n.interval(0.95)
    assert hi_n - lo_n > 3 * (hi_q - lo_q) and lo_n < 0 < hi_n
    assert n.var_seeds > n.var_photos and n.df < 10  # few training runs: a t quantile, not z


def test_runs_with_other_training_seeds_are_not_paired_by_seed():
    rng = np.random.default_rng(7)
    images = rng.normal(0, 1, len(PHOTOS))
    cells = {("a", 4): _replicates(rng, images, 0.1, 0.05, train_seeds=(0, 1)),
             ("b", 4): _replicates(rng, images, 0.1, 0.05, train_seeds=(2, 3, 4))}
    est = paired.contrast(cells, {("a", 4): 1, ("b", 4): -1}, "m")
    assert not est.paired_seeds and est.n_train_seeds == {"a@4": 2, "b@4": 3}
    assert est.df == 1  # min(P - 1, fewest runs - 1)


def test_spread_separates_photographs_sampling_and_training():
    rng = np.random.default_rng(8)
    images = np.repeat(rng.normal(0, 1, 14), 20) + rng.normal(0, 0.1, len(PHOTOS))
    reps = _replicates(rng, images, 0.5, 0.2, train_seeds=range(8), seeds=(0, 1, 2))
    s = paired.spread(reps, "m")
    assert (s["n_train_seeds"], s["n_seeds"], s["n_photos"]) == (8, 3, 14)
    assert 0.25 < s["training_seeds"] < 1.0  # sd 0.5 per training run
    assert s["sampling_seeds"] == pytest.approx(0.2 / np.sqrt(len(PHOTOS)), rel=0.5)  # per-image noise, averaged
    assert s["photos"] == pytest.approx(1 / np.sqrt(14), rel=0.4)  # the photographs' sd / sqrt(P)
