"""Quality gates of the tiny profile: is the benchmark measuring SR, not the noise of a weak setup?

1. The autoencoder's reconstruction of the HR test patches beats bicubic-from-LR by >= 2 dB PSNR and on FD.
2. The teacher's unconditional samples are far closer (FD) to held-out HR patches than noise images are, and, scored
   like with like against the photos it models (n training HR patches), within 3x of the autoencoder's
   reconstructions of n other training patches: what a perfect model in this latent space scores, the sampling noise
   of n images included. Not against the test set: it is other photographs, which the training photos' own patches
   score about 50x the reconstruction floor against (docs/results.md), so that gate measured the gap between photo
   packages, not the teacher. Those test-set numbers are still recorded beside it.
3. LDM-SR at its most steps beats LDM-SR at its fewest on FD by more than the spread across seeds.
4. LDM-SR at its most steps beats bicubic on FD: the paired 95% interval of their difference on the same test-image
   resamples lies below 0 (a diffusion SR model that does not beat bicubic measures nothing).
"""
from __future__ import annotations

import json
import os

import numpy as np
import torch

from cddbench import data, metrics, models, paired
from cddbench.evaluate import evaluate_images, hr_test_images, with_device
from cddbench.sample import initial_noise

PSNR_MARGIN_DB = 2.0
TEACHER_FLOOR_FACTOR = 3.0
GATE_ALPHA = 0.05  # the bicubic gate's paired interval is at 95%


def _by_steps(cells: dict[paired.Cell, list[paired.Replicate]], run: str) -> dict[int, list[dict]]:
    """{steps: each replicate's metric values} of one run."""
    out = {steps: [r.values for r in reps] for (name, steps), reps in cells.items() if name == run}
    if not out:
        raise ValueError(f"quality gates need metric records of the run {run!r}; none were given")
    return out


@torch.no_grad()
def teacher_samples(ctx, n: int, seed: int, scheduler=None) -> torch.Tensor:
    """``n`` unconditional samples of the teacher, by DDIM with the config's ``teacher.grid_steps`` (the gates'), or
    by another diffusers ``scheduler`` whose timesteps are set (docs/teacher_diagnostic.py compares samplers)."""
    from diffusers import DDIMScheduler

    vae = models.load_autoencoder(ctx.vae_dir).to(ctx.device)
    unet = models.load_unet(os.path.join(ctx.teacher_dir, "unet")).to(ctx.device)
    if scheduler is None:
        scheduler = DDIMScheduler.from_config(models.load_scheduler(ctx.teacher_dir).config, clip_sample=False,
                                              timestep_spacing=ctx.cfg["sampler"]["timestep_spacing"],
                                              set_alpha_to_one=True)
        scheduler.set_timesteps(ctx.cfg["teacher"]["grid_steps"])
    c, s = unet.config.in_channels, unet.config.sample_size
    z = initial_noise([f"teacher/{i}" for i in range(n)], (c, s, s), seed).to(ctx.device)
    emb = models.null_embedding(unet, n)
    for t in scheduler.timesteps:
        z = scheduler.step(unet(z, t, emb).sample, t, z).prev_sample
    return models.decode(vae, z)


def save_grid(images: np.ndarray, path: str, cols: int = 8) -> None:
    from PIL import Image

    n = (len(images) // cols) * cols or len(images)
    rows = [np.concatenate(list(images[i : i + cols]), axis=1) for i in range(0, n, cols)]
    Image.fromarray(np.concatenate(rows, axis=0)).resize(
        (rows[0].shape[1] * 2, len(rows) * rows[0].shape[0] * 2), Image.NEAREST).save(path)


def training_draws(train_patches: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint seeded draws of ``n`` training HR patches each (fewer when the split holds under 2n): the teacher
    gate's reference and the autoencoder's input for its floor."""
    train = data.load_split(train_patches)
    m = min(n, len(train) // 2)
    order = np.random.default_rng(seed).permutation(len(train))
    draws = np.sort(order[:m]), np.sort(order[m : 2 * m])
    return tuple(np.stack([np.asarray(im.convert("RGB")) for im in train.select(idx)["image"]]) for idx in draws)


def teacher_check(ctx, test_pairs: str, train_patches: str, ref_npz: str, out_json: str, grid_png: str) -> dict:
    """The model side of gates 1 and 2, measured as soon as the autoencoder and the teacher exist (rule
    teacher_check), so that the gates at the end of the DAG only compare numbers: the autoencoder's reconstructions,
    the teacher's unconditional samples (and their grid) and noise images, scored against the test reference; and,
    for gate 2's floor, the teacher's samples, reconstructions of training patches and the raw training patches,
    each scored against a disjoint draw of training patches (``training_reference``)."""
    cfg, ecfg = ctx.cfg, with_device(ctx.cfg)  # metrics where the models run
    ref = np.load(ref_npz)
    backend, ref_feats = str(ref["backend"]), ref["features"]
    fd = metrics.names(backend).fd
    features = metrics.FeatureSpace(backend, ecfg)
    hr = hr_test_images(test_pairs)
    seed = cfg["seed"]
    vae = models.load_autoencoder(ctx.vae_dir)
    recon = data.to_uint8(models.decode(vae, models.encode(vae, data.to_tensor(hr))))
    ae = evaluate_images(recon, hr, ref_feats, backend, ecfg, seed)
    samples = data.to_uint8(teacher_samples(ctx, len(hr), seed))
    save_grid(samples[:64], grid_png)
    noise = np.random.default_rng(seed).integers(0, 256, hr.shape, dtype=np.uint8)
    reference, other = training_draws(train_patches, len(hr), seed)
    m = len(reference)
    other_recon = data.to_uint8(models.decode(vae, models.encode(vae, data.to_tensor(other))))
    # each image set through the feature network once; only FDs are needed here (no bootstrap, no per-image metrics)
    feats = {k: features(v, ecfg["batch_size"]) for k, v in
             (("samples", samples), ("noise", noise), ("reference", reference), ("other", other),
              ("other_recon", other_recon))}
    train_feats = feats["reference"]
    result = {"metric_backend": backend, "n_test_images": len(hr), "autoencoder": ae,
              f"teacher_{fd}": metrics.frechet_distance(feats["samples"], ref_feats),
              f"noise_{fd}": metrics.frechet_distance(feats["noise"], ref_feats),
              f"training_data_{fd}": metrics.frechet_distance(train_feats, ref_feats),
              "training_reference": {  # FD against m training HR patches: the teacher's own photos
                  "n_images": m,
                  f"teacher_{fd}": metrics.frechet_distance(feats["samples"][:m], train_feats),
                  f"autoencoder_{fd}": metrics.frechet_distance(feats["other_recon"], train_feats),
                  f"data_{fd}": metrics.frechet_distance(feats["other"], train_feats)},
              "ddim_steps": cfg["teacher"]["grid_steps"]}
    with open(out_json, "w") as f:
        json.dump(result, f, indent=1)
    return result


def quality_gates(teacher_json: str, floor_json: str, metric_files: list[str], out_json: str) -> dict:
    """The gates, from ``teacher_check``'s measurements and the runs' metric records."""
    with open(teacher_json) as f:
        checked = json.load(f)
    backend = checked["metric_backend"]
    fd = metrics.names(backend).fd
    cells = paired.load(metric_files)  # each record with its leave-one-photo-out values, read once

    ae = checked["autoencoder"]
    bic = _by_steps(cells, "bicubic")[0][0]
    gate_ae = {"autoencoder_psnr": ae["psnr"], "bicubic_psnr": bic["psnr"], f"autoencoder_{fd}": ae[fd],
               f"bicubic_{fd}": bic[fd], "required_psnr_margin_db": PSNR_MARGIN_DB,
               "pass": bool(ae["psnr"] >= bic["psnr"] + PSNR_MARGIN_DB and ae[fd] < bic[fd])}

    t_fd, n_fd = checked[f"teacher_{fd}"], checked[f"noise_{fd}"]
    gate_teacher = {f"teacher_{fd}": t_fd, f"noise_{fd}": n_fd, "ddim_steps": checked["ddim_steps"],
                    "pass": bool(t_fd < 0.25 * n_fd)}
    if "training_reference" not in checked:
        raise ValueError(f"{teacher_json} has no training_reference (written before the teacher gate scored against "
                         "training patches): rerun it with `snakemake --forcerun teacher_check`")
    own = checked["training_reference"]
    t_own, ae_own = own[f"teacher_{fd}"], own[f"autoencoder_{fd}"]
    gate_floor = {"reference": f"{own['n_images']} training HR patches", f"teacher_{fd}": t_own,
                  f"autoencoder_{fd}": ae_own, f"data_{fd}": own[f"data_{fd}"], "max_factor": TEACHER_FLOOR_FACTOR,
                  "factor": t_own / ae_own, f"teacher_{fd}_on_test": t_fd,
                  f"training_data_{fd}_on_test": checked[f"training_data_{fd}"],
                  "pass": bool(t_own <= TEACHER_FLOOR_FACTOR * ae_own)}

    ldm = _by_steps(cells, "ldm_sr")
    few, many = min(ldm), max(ldm)
    v_few, v_many = [r[fd] for r in ldm[few]], [r[fd] for r in ldm[many]]
    spread = max(np.ptp(v_few), np.ptp(v_many))
    gap = float(np.mean(v_few) - np.mean(v_many))
    # spread: the range over replicates (training x sampling seeds)
    gate_ldm = {f"ldm_sr_{few}_{fd}": v_few, f"ldm_sr_{many}_{fd}": v_many, "gap": gap,
                "replicate_spread": float(spread), "n_replicates": len(v_few),
                "pass": bool(len(v_few) > 1 and gap > spread)}

    # beaten beyond the noise: the 95% interval of FD(LDM-SR) - FD(bicubic) over test photographs and training runs
    # (cddbench.paired, the claims' rule) lies below 0
    diff = paired.contrast(cells, {("ldm_sr", many): 1.0, ("bicubic", 0): -1.0}, fd)
    low, high = diff.interval(1 - GATE_ALPHA)
    gate_bicubic = {f"ldm_sr_{many}_{fd}": float(np.mean(v_many)), f"bicubic_{fd}": bic[fd],
                    "difference": diff.estimate, "difference_low": low, "difference_high": high,
                    "level": 1 - GATE_ALPHA, "df": diff.df, "n_photos": diff.n_photos,
                    "n_train_seeds": diff.n_train_seeds, "pass": bool(high < 0)}

    with open(floor_json) as f:
        floor = json.load(f)
    result = {"metric_backend": backend, "noise_floor": floor,
              "autoencoder_beats_bicubic": gate_ae, "teacher_beats_noise": gate_teacher,
              "teacher_near_autoencoder_floor": gate_floor,
              f"ldm_sr_{many}_beats_{few}": gate_ldm, f"ldm_sr_{many}_beats_bicubic": gate_bicubic}
    result["all_pass"] = bool(all(g["pass"] for g in (gate_ae, gate_teacher, gate_floor, gate_ldm, gate_bicubic)))
    with open(out_json, "w") as f:
        json.dump(result, f, indent=1)
    return result
