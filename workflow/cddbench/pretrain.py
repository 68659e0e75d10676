"""Stage 3 of the DAG: the latent space (AutoencoderKL) and the pretrained unconditional teacher UNet.

Either trained here on the HR training patches, or loaded from ``teacher.pretrained`` (a diffusers model
folder or hub id with ``vae/``, ``unet/`` and ``scheduler/`` subfolders, as Stable Diffusion ships them).
"""
from __future__ import annotations

import json
import os

import torch

from cddbench import config, data, models
from cddbench.provenance import TRAINING_DATA, training_data
from cddbench.methods.common import DiffusionLoss, concat_net
from cddbench.train import checkpoint_at, fit, stream

TEACHER_STREAM = 2  # the training stream of a teacher trained here (train.stream; the methods' own: their STREAM)


def _from_pretrained(cls, ref: str, subfolder: str):
    try:
        return cls.from_pretrained(ref, subfolder=subfolder)
    except Exception as e:  # OSError / HF errors when offline or the id/path is wrong
        raise RuntimeError(
            f"teacher.pretrained={ref!r}: could not load {subfolder}/ ({type(e).__name__}: {e}). "
            "Give a local diffusers model folder, or a hub id on a machine with network "
            "(HF_HUB_OFFLINE must be unset); set teacher.pretrained: null to train the tiny teacher here.") from e


def train_autoencoder(cfg: dict, train_dir: str, out_dir: str, log_csv: str, checkpoint_dir: str = "") -> dict:
    ref = cfg["teacher"]["pretrained"]
    if ref:
        from diffusers import AutoencoderKL

        vae = _from_pretrained(AutoencoderKL, ref, "vae")
        models.save_model(vae, out_dir)
        return {"source": ref}
    acfg = cfg["autoencoder"]
    torch.manual_seed(cfg["seed"])
    dev = config.device(cfg)
    hr = data.to_tensor(data.load_split(train_dir)["image"]).to(dev)
    vae = models.build_autoencoder(acfg, hr.shape[-1]).to(dev)

    def loss_fn(idx, step):
        # MSE on the posterior mean's reconstruction: in a trial on this machine it reached a given PSNR in
        # about half the time of L1 on a posterior sample. The KL term only keeps the latents bounded.
        x = hr[idx]
        post = vae.encode(x).latent_dist
        mse, kl = (vae.decode(post.mode()).sample - x).pow(2).mean(), post.kl().mean() / x[0].numel()
        return {"loss": mse + acfg["kl_weight"] * kl, "mse": mse, "kl": kl}

    vae = fit(vae, loss_fn, acfg["train"], len(hr), cfg["seed"], log_csv, "autoencoder", precision=cfg["precision"],
              checkpoint=checkpoint_at(checkpoint_dir, "autoencoder", cfg))
    # SD convention: scale latents to unit variance so the diffusion schedule sees the right signal level
    with torch.no_grad():
        lat = torch.cat([vae.encode(hr[i : i + 512]).latent_dist.mode() for i in range(0, len(hr), 512)])
    vae.register_to_config(scaling_factor=float(1.0 / lat.std()))
    models.save_model(vae, out_dir)
    return {"params": models.count_params(vae), "scaling_factor": vae.config.scaling_factor}


@torch.no_grad()
def encode_prompt(ref: str, prompt: str) -> torch.Tensor:
    """``prompt`` through the pretrained model's own tokenizer/ and text_encoder/ (CLIP for Stable Diffusion):
    1 x tokens x dim, the fixed text conditioning of every model built on this teacher."""
    from transformers import CLIPTextModel, CLIPTokenizer

    tokenizer = _from_pretrained(CLIPTokenizer, ref, "tokenizer")
    encoder = _from_pretrained(CLIPTextModel, ref, "text_encoder").eval()
    ids = tokenizer(prompt, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                    return_tensors="pt").input_ids
    return encoder(ids)[0].float()


def train_teacher(cfg: dict, train_dir: str, vae_dir: str, out_dir: str, log_csv: str, checkpoint_dir: str = "") -> dict:
    ref, tcfg = cfg["teacher"]["pretrained"], cfg["teacher"]
    os.makedirs(out_dir, exist_ok=True)
    if ref:
        from diffusers import DDPMScheduler, UNet2DConditionModel

        unet = _from_pretrained(UNet2DConditionModel, ref, "unet")
        sched = _from_pretrained(DDPMScheduler, ref, "scheduler")
        if tcfg["prompt"] is not None:
            unet.prompt_embedding = encode_prompt(ref, tcfg["prompt"])
    else:
        torch.manual_seed(cfg["seed"])
        dev = config.device(cfg)
        vae = models.load_autoencoder(vae_dir).to(dev)
        x0 = models.encode(vae, data.to_tensor(data.load_split(train_dir)["image"]).to(dev))
        online = models.build_unet(tcfg["unet"], x0.shape[-1], x0.shape[1]).to(dev)
        sched = models.build_scheduler(tcfg["schedule"])
        g = stream(cfg["seed"], TEACHER_STREAM)
        unet = fit(online, lambda idx, step: DiffusionLoss(sched)(concat_net(online), x0[idx], None, g), tcfg["train"],
                   len(x0), cfg["seed"], log_csv, "teacher", precision=cfg["precision"],  # the EMA weights are the teacher
                   checkpoint=checkpoint_at(checkpoint_dir, "teacher", cfg, g=g))
    models.save_model(unet, os.path.join(out_dir, "unet"))
    sched.save_pretrained(os.path.join(out_dir, "scheduler"))
    info = {"source": ref or "trained", "params": models.count_params(unet)}
    with open(os.path.join(out_dir, "info.json"), "w") as f:
        json.dump(info, f, indent=1)
    return info


def export_teacher(cfg: dict, vae_dir: str, teacher_dir: str, teacher_check_json: str, patches_report: str,
                   benchmarks: list[str], out_dir: str) -> dict:
    """The trained autoencoder and teacher as one diffusers-layout folder (``vae/``, ``unet/``, ``scheduler/``) with
    ``training_data.json`` (what ``check_exported_teacher`` compares) and a model card (``README.md``) whose numbers are
    ``quality.teacher_check``'s measurements of these models (rule teacher_check): reconstruction PSNR and fd on the
    held-out HR test patches, unconditional DDIM samples' fd on the training photos against the autoencoder's floor
    there, and on the test patches."""
    import platform
    import shutil

    import torch

    from cddbench import metrics

    record = training_data(cfg)
    with open(patches_report) as f:
        report = json.load(f)
    if record["photos"] is not None and sorted(record["photos"]) != sorted(report["train_sources"]):
        raise RuntimeError(f"{patches_report} lists training sources {report['train_sources']}, the config's training "
                           f"split is {sorted(record['photos'])}: rerun the patches rule")
    with open(teacher_check_json) as f:
        checked = json.load(f)
    os.makedirs(out_dir, exist_ok=True)
    for src, name in ((vae_dir, "vae"), (os.path.join(teacher_dir, "unet"), "unet"),
                      (os.path.join(teacher_dir, "scheduler"), "scheduler")):
        shutil.copytree(src, os.path.join(out_dir, name), dirs_exist_ok=True)
    with open(os.path.join(out_dir, TRAINING_DATA), "w") as f:
        json.dump(record, f, indent=1, sort_keys=True)

    backend = checked["metric_backend"]
    fd = metrics.names(backend).fd
    ae, t_fd = checked["autoencoder"], checked[f"teacher_{fd}"]
    seconds = {}
    for path in benchmarks:
        with open(path) as f:
            seconds[os.path.basename(path)[: -len(".tsv")]] = float(f.read().splitlines()[1].split("\t")[0])
    own = checked["training_reference"]
    card = {"metric_backend": backend, "n_test_images": checked["n_test_images"], "reconstruction_psnr": ae["psnr"],
            f"reconstruction_{fd}": ae[fd], f"unconditional_{fd}": t_fd,
            f"training_data_{fd}": checked[f"training_data_{fd}"], "training_reference": own,
            "factor_over_floor": own[f"teacher_{fd}"] / own[f"autoencoder_{fd}"],
            "ddim_steps": checked["ddim_steps"], "wall_seconds": seconds,
            "autoencoder_train": cfg["autoencoder"]["train"], "teacher_train": cfg["teacher"]["train"],
            "schedule": cfg["teacher"]["schedule"],
            "seed": cfg["seed"], "train_patches": report["train_patches"],
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, "
                       f"threads {cfg['threads']}, device {cfg['device']}"}
    with open(os.path.join(out_dir, "card.json"), "w") as f:
        json.dump(card, f, indent=1)
    with open(os.path.join(out_dir, "README.md"), "w") as f:
        f.write(_model_card(card, record, report))
    return card


def _schedule_words(schedule: dict) -> str:
    words = f"{schedule['beta_schedule']} betas {schedule['beta_start']} to {schedule['beta_end']}"
    return words + (", rescaled to zero terminal SNR (Lin et al. 2024: z_T is pure noise)"
                    if schedule["rescale_betas_zero_snr"] else "")


def _model_card(card: dict, record: dict, report: dict) -> str:
    fd = next(k for k in card if k.startswith("unconditional_"))[len("unconditional_"):]
    own = card["training_reference"]
    used = {u["source"]: u for u in report["used"]}
    rows = "\n".join(f"| {n} | {used[n].get('package', '')} | {used[n].get('licence', '')} | {used[n].get('author', '')} "
                     f"| {used[n]['patches']} | `{sha}` |" for n, sha in sorted((record["photos"] or {}).items()))
    wall = ", ".join(f"{k} {v:.0f} s" for k, v in card["wall_seconds"].items())
    return f"""# cddbench tiny teacher: an unconditional latent diffusion model of 32x32 photo patches

The pretrained model the default benchmark starts from (the paper starts from a given latent diffusion model;
pretraining is not part of its protocol). Diffusers layout, loads offline:

```python
from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
vae = AutoencoderKL.from_pretrained("workflow/pretrained/tiny-teacher", subfolder="vae")
unet = UNet2DConditionModel.from_pretrained("workflow/pretrained/tiny-teacher", subfolder="unet")
scheduler = DDPMScheduler.from_pretrained("workflow/pretrained/tiny-teacher", subfolder="scheduler")
# the text input is a fixed zero embedding: unet(z, t, torch.zeros(len(z), 1, unet.config.cross_attention_dim))
```

- **Architecture**: `AutoencoderKL` (f = 4, {card['train_patches']:,} training patches of 32x32 px) and a
  v-prediction `UNet2DConditionModel` on its 8x8 latents, DDPM schedule `scheduler/`: {_schedule_words(card["schedule"])}.
- **Data**: the training split of `data.source: {record['data']['source']}` only ({len(record['photos'] or {})}
  photographs, split by `{record['data']['split_by']}`) — no held-out test photograph is ever read for training.
  `training_data.json` records the data settings and every training photo's SHA-256; the DAG compares it with the
  config before any job and refuses a mismatch.
- **Training**: autoencoder {card['autoencoder_train']}; UNet {card['teacher_train']} (EMA weights are the
  model); seed {card['seed']}. Wall time: {wall}. Machine: {card['machine']}.
- **Measured** ({card['metric_backend']} metrics; proxies use a seeded random AlexNet and are not comparable to
  published FID). Against {own['n_images']:,} training HR patches, the photos it models: unconditional
  DDIM-{card['ddim_steps']} samples {fd} {own[f'teacher_{fd}']:.4f}, the autoencoder's reconstructions of as many
  other training patches {own[f'autoencoder_{fd}']:.4f} (the floor of any model in this latent space:
  the samples are {card['factor_over_floor']:.2f}x it), those patches themselves {own[f'data_{fd}']:.4f}. On the
  {card['n_test_images']:,} held-out HR test patches: reconstruction PSNR {card['reconstruction_psnr']:.2f} dB,
  reconstruction {fd} {card[f'reconstruction_{fd}']:.4f}; samples {fd} {card[f'unconditional_{fd}']:.4f}, and
  the training photos' own patches {card[f'training_data_{fd}']:.4f} (the test photographs are other
  photographs: no model of the training photos can be expected to score below that there).
- **Reproduce**: `snakemake results/pretrained/tiny-teacher --cores all --configfile configs/pretrain.yaml`
  (the same numbers on the same machine type and thread count; resumable from `results/checkpoints/`).

| training photo | package | licence | author | patches | SHA-256 |
| --- | --- | --- | --- | --- | --- |
{rows}
"""
