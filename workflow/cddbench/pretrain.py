"""Stage 3 of the DAG: the latent space (AutoencoderKL) and the pretrained unconditional teacher UNet.

Either trained here on the HR training patches, or loaded from ``teacher.pretrained`` (a diffusers model
folder or hub id with ``vae/``, ``unet/`` and ``scheduler/`` subfolders, as Stable Diffusion ships them).
"""
from __future__ import annotations

import json
import os

import torch

from cddbench import config, data, models, schedule
from cddbench.train import checkpoint_at, fit


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
def encode(vae, images: torch.Tensor, batch: int = 256) -> torch.Tensor:
    """HR images in [-1, 1] -> scaled latents (posterior mode: deterministic)."""
    out = [vae.encode(images[i : i + batch].to(vae.device)).latent_dist.mode().to(images.device)
           for i in range(0, len(images), batch)]
    return torch.cat(out) * vae.config.scaling_factor


@torch.no_grad()
def decode(vae, latents: torch.Tensor, batch: int = 256) -> torch.Tensor:
    out = [vae.decode(latents[i : i + batch].to(vae.device) / vae.config.scaling_factor).sample.to(latents.device)
           for i in range(0, len(latents), batch)]
    return torch.cat(out).clamp(-1, 1)


def diffusion_loss(unet, scheduler, x0, cond_input, generator, timesteps: torch.Tensor | None = None) -> dict:
    """The standard DDPM objective in the scheduler's prediction type (v for the default teacher), at t drawn
    uniformly from all training timesteps or from ``timesteps``."""
    eps = torch.randn(x0.shape, generator=generator).to(x0.device)
    if timesteps is None:
        t = torch.randint(0, scheduler.config.num_train_timesteps, (len(x0),), generator=generator)
    else:
        t = timesteps[torch.randint(0, len(timesteps), (len(x0),), generator=generator)]
    t = t.to(x0.device)
    z_t = scheduler.add_noise(x0, eps, t)
    pred = models.unet_forward(unet, z_t, t, cond_input)
    mse = (pred - schedule.training_target(x0, eps, t, scheduler)).pow(2).mean()
    return {"loss": mse, "mse": mse}


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
        x0 = encode(vae, data.to_tensor(data.load_split(train_dir)["image"]).to(dev))
        online = models.build_unet(tcfg["unet"], x0.shape[-1], x0.shape[1]).to(dev)
        sched = models.build_scheduler(tcfg["schedule"])
        g = torch.Generator().manual_seed(cfg["seed"] + 2)
        unet = fit(online, lambda idx, step: diffusion_loss(online, sched, x0[idx], None, g), tcfg["train"],
                   len(x0), cfg["seed"], log_csv, "teacher", precision=cfg["precision"],  # the EMA weights are the teacher
                   checkpoint=checkpoint_at(checkpoint_dir, "teacher", cfg, g=g))
    models.save_model(unet, os.path.join(out_dir, "unet"))
    sched.save_pretrained(os.path.join(out_dir, "scheduler"))
    info = {"source": ref or "trained", "params": models.count_params(unet)}
    with open(os.path.join(out_dir, "info.json"), "w") as f:
        json.dump(info, f, indent=1)
    return info
