"""What every learned SR method starts from: the frozen autoencoder, the pretrained teacher and the encoded pairs."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

import torch

from cddbench import data, models, schedule


@dataclass
class TrainingSet:
    vae: torch.nn.Module        # frozen autoencoder
    teacher: torch.nn.Module    # the pretrained unconditional UNet (frozen; methods copy it before training)
    scheduler: object           # the teacher's DDPM schedule
    x0: torch.Tensor            # HR training patches as scaled latents
    cond: torch.Tensor          # their LR inputs resized to the latent grid
    hr: torch.Tensor            # the HR pixels in [-1, 1] (pixel-space losses)


def encode_training_set(train_pairs: str, vae_dir: str, out_path: str, device: str = "cpu") -> dict:
    """The training pairs once through the frozen encoder (rule ``encode_train``): every training run reads this
    file instead of re-encoding ~15k patches itself (about 25 s a run on 2 CPU cores)."""
    vae = models.load_autoencoder(vae_dir).requires_grad_(False).to(device)
    pairs = data.load_split(train_pairs)
    lr, hr = data.to_tensor(pairs["lr"]), data.to_tensor(pairs["hr"])
    x0 = models.encode(vae, hr)
    # pixels as uint8 (exact: they came from uint8 PNGs), latents as float32
    torch.save({"lr": _to_byte(lr), "hr": _to_byte(hr), "x0": x0}, out_path)
    return {"pairs": len(hr), "latent_shape": list(x0.shape[1:]), "file": out_path}


def _to_byte(x: torch.Tensor) -> torch.Tensor:
    return x.add(1.0).mul(127.5).round().to(torch.uint8)


def _from_byte(x: torch.Tensor) -> torch.Tensor:
    return x.float().div(127.5).sub(1.0)  # = data.to_tensor


def load_pixels(train_set: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(LR, HR) training pixels in [-1, 1] from the encoded training set (pixel-space methods)."""
    d = torch.load(train_set, weights_only=True)
    return _from_byte(d["lr"]), _from_byte(d["hr"])


def load_training_set(ctx) -> TrainingSet:
    """Everything on ``ctx.device``; random draws stay on the CPU generator (the same streams on any device)."""
    dev = ctx.device
    vae = models.load_autoencoder(ctx.vae_dir).requires_grad_(False).to(dev)
    teacher = models.load_unet(os.path.join(ctx.teacher_dir, "unet")).requires_grad_(False).to(dev)
    d = torch.load(ctx.train_set, weights_only=True)
    cond = models.lr_condition(_from_byte(d["lr"]), d["x0"].shape[-2:])
    return TrainingSet(vae, teacher, models.load_scheduler(ctx.teacher_dir), d["x0"].to(dev), cond.to(dev),
                       _from_byte(d["hr"]).to(dev))


def backbone(ts: TrainingSet, init: str) -> torch.nn.Module:
    """A trainable copy of the teacher (``init: pretrained``), or a UNet of its architecture with fresh weights drawn
    from the torch seed set by the caller (``init: random``: the ablation that asks whether the prior matters)."""
    import copy

    if init == "pretrained":
        return copy.deepcopy(ts.teacher).requires_grad_(True)
    from diffusers import UNet2DConditionModel

    net = UNet2DConditionModel.from_config(ts.teacher.config).to(ts.x0.device)
    net.prompt_embedding = getattr(ts.teacher, "prompt_embedding", None)  # random weights, same text input
    return net.requires_grad_(True)


def load_base(ctx) -> torch.nn.Module:
    """The frozen model of the run this method builds on (``ctx.base_dir``: LDM-SR for CM, SiD and DMD2)."""
    return models.load_unet(os.path.join(ctx.base_dir, "unet")).requires_grad_(False).to(ctx.device)


def save_student(unet: torch.nn.Module, scheduler, out_dir: str, ctx) -> int:
    """Save a distilled UNet and its scheduler; return the training images its base run has seen (the budget the
    student builds on, counted in its ``images_seen``)."""
    models.save_model(unet, os.path.join(out_dir, "unet"))
    scheduler.save_pretrained(os.path.join(out_dir, "scheduler"))
    with open(os.path.join(ctx.base_dir, "info.json")) as fh:
        return json.load(fh)["images_seen"]


def drop_condition(cond: torch.Tensor, p: float, g: torch.Generator) -> torch.Tensor:
    """Each sample's LR condition replaced by zeros (the null condition) with probability ``p``: classifier-free
    guidance training (SiD-LSG's p = 0.1). No draw at p = 0, so a run without dropout keeps its random stream."""
    if not p:
        return cond
    keep = (torch.rand(len(cond), generator=g) >= p).to(cond.device, cond.dtype)
    return cond * keep.view(-1, *([1] * (cond.ndim - 1)))


def guided(net, kappa):
    """``net`` with classifier-free guidance: out(null) + kappa (out(c) - out(null)), the null condition zeros;
    ``net`` itself at kappa = 1. ``kappa`` may be a per-sample tensor (LCM's 1 + w). On a v-prediction output this
    is the same guidance on x_hat and eps_hat (both affine in the output at fixed z_t, t)."""
    if not torch.is_tensor(kappa) and kappa == 1:
        return net

    def out(z, t, cond):
        null = net(z, t, torch.zeros_like(cond))
        return null + kappa * (net(z, t, cond) - null)
    return out


def concat_net(unet, w_embedding: torch.Tensor | None = None):
    """A UNet as the callable every loss takes, ``(z, t, cond) -> output``: the LR concatenated to z (LDM-SR's
    shape), or z alone for ``cond=None`` (the unconditional teacher); LCM's student also sees the guidance scale's
    embedding. The losses take callables so that closed forms and small MLPs stand in for the UNet (the tests, the
    known-answer tier)."""
    return lambda z, t, cond: models.unet_forward(unet, z, t, cond, w_embedding)


def images_seen(tcfg: dict) -> int:
    """Training images a ``train`` section shows the model (steps x batch): the budget column of the table notes."""
    return tcfg["steps"] * tcfg["batch_size"]


def write_info(out_dir: str, trained: torch.nn.Module, total: list[torch.nn.Module], **extra) -> dict:
    """``info.json``: trained and total parameter counts (the Params column of Table 1)."""
    info = {"params_trained": models.count_params(trained, trainable_only=True),
            "params_total": sum(models.count_params(m) for m in total), **extra}
    with open(os.path.join(out_dir, "info.json"), "w") as f:
        json.dump(info, f, indent=1)
    return info


def consistency_distance(a: torch.Tensor, b: torch.Tensor, kind: str, huber_c: float) -> torch.Tensor:
    """d(online, target) of a consistency loss: ``l2`` or ``huber`` (the consistency models' pseudo-Huber)."""
    if kind == "l2":
        return (a - b).pow(2).mean()
    return ((a - b).pow(2) + huber_c**2).sqrt().sub(huber_c).mean()


class DiffusionLoss:
    """The DDPM objective (Ho et al. 2020) in the scheduler's prediction type (v for the default teacher):
        L = || net(z_t, t, c) - target(x, eps, t) ||^2,   z_t = alpha_t x + sigma_t eps,   eps ~ N(0, I)
    with t uniform over all training timesteps, or over ``timesteps`` (GD's fine-tune at its own sampling times).
    ``net(z, t, cond) -> output``; ``cond`` None: an unconditional network (the teacher's pretraining)."""

    def __init__(self, scheduler, *, timesteps: torch.Tensor | None = None):
        self.scheduler, self.timesteps = scheduler, timesteps

    def __call__(self, net, x0: torch.Tensor, cond: torch.Tensor | None, g: torch.Generator) -> dict:
        eps = torch.randn(x0.shape, generator=g).to(x0.device)
        if self.timesteps is None:
            t = torch.randint(0, self.scheduler.config.num_train_timesteps, (len(x0),), generator=g)
        else:
            t = self.timesteps[torch.randint(0, len(self.timesteps), (len(x0),), generator=g)]
        t = t.to(x0.device)
        z_t = self.scheduler.add_noise(x0, eps, t)
        mse = (net(z_t, t, cond) - schedule.training_target(x0, eps, t, self.scheduler)).pow(2).mean()
        return {"loss": mse, "mse": mse}


def scheduler_sampler(ctx, model_dir: str, scheduler):
    """A sampler that runs an LDM-SR model (LR concatenated to the latent) with any diffusers scheduler."""
    vae = models.load_autoencoder(ctx.vae_dir).to(ctx.device)
    unet = models.load_unet(os.path.join(model_dir, "unet")).to(ctx.device)
    return concat_sampler(vae, unet, scheduler)


def concat_sampler(vae, unet, scheduler):
    """``(lr, steps, noise) -> hr`` of a concatenation-conditioned UNet (``scheduler_sampler``; the GPU check times
    it on random weights)."""

    @torch.no_grad()
    def sample(lr: torch.Tensor, steps: int, noise: torch.Tensor) -> torch.Tensor:
        cond = models.lr_condition(lr.to(unet.device), noise.shape[-2:])
        return models.decode(vae, schedule.solve(concat_net(unet), noise.to(unet.device), cond, scheduler, steps))

    return sample


def more_noise(noise: torch.Tensor, draw: int) -> torch.Tensor:
    """The ``draw``-th extra Gaussian draw per image, seeded by that image's initial noise (a stochastic
    multistep sampler's re-noising): one stream per (seed, image), whatever the batch size or order."""
    out = []
    for n in noise.detach().cpu():
        g = torch.Generator().manual_seed(data.stable_int(f"{draw}/{n.numpy().tobytes().hex()}"))
        out.append(torch.randn(n.shape, generator=g))
    return torch.stack(out).to(noise.device)


def multistep_consistency(x_hat, times: list[int], noise: torch.Tensor, scheduler) -> torch.Tensor:
    """Multistep consistency sampling (Song et al. 2023, Algorithm 1), the sampler of CM, LCM and DMD2's generator:
    x = x_hat(z, t) from the pure noise z = ``noise`` at the first time; at each later time t, the last x re-noised
    to t with a fresh draw (``more_noise``: one stream per image) and predicted again. ``x_hat(z, t)`` takes an
    integer time."""
    z = noise
    for i, t in enumerate(times):
        if i:
            eps = more_noise(noise, i).to(z.device)
            z = schedule.noised(scheduler, x, torch.full((len(z),), t, device=z.device), eps)
        x = x_hat(z, t)
    return x
