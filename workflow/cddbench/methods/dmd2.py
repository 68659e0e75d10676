"""DMD2: improved Distribution Matching Distillation (Yin et al., NeurIPS 2024) of the conditional LDM-SR model, as
read from the official code (tianweiy/DMD2), in this project's notation (v-prediction, x_hat = alpha z - sigma v).

A few-step generator G_theta and a "fake" score network psi both start as copies of the frozen teacher phi (LDM-SR,
LR concatenated). G denoises on the grid [999, 749, 499, 249] (``denoising_steps`` = 4; [999] for one step): from
pure noise at 999, predict x_hat, re-noise it with fresh noise to the next grid time, repeat. Per training step:
  1. ``critic_steps`` (r, the two-time-scale rule) critic updates, each on fresh generator samples (no gradient):
     psi fits them by denoising score matching, and a classifier head on psi's mid-block output (DMD2's GAN) learns
     generator samples from HR latents, both noised at a random time:
         L_psi = ||eps_hat_psi(z_t, t, c) - eps||^2 + gan_weight_critic * [softplus(D(x_g)) + softplus(-D(x_real))]
  2. one generator update on x_g = x_hat_theta(z_k, t_k, c), where z_k, t_k come from k ~ U{0..n-1} no-grad steps of
     G itself (backward simulation: training inputs are what sampling feeds it, without gradient):
         g = nan_to_num((y_f - y_r) / mean_{C,H,W} |x_g - y_r|),   y = x_hat(alpha_t x_g + sigma_t eps, t, c),
         L_theta = 0.5 ||x_g - sg(x_g - g)||^2 (mean) + gan_weight_generator * softplus(-D(x_g)),  t ~ U{20..980}
     (real guidance scale 1: the SR teacher has no null condition). AdamW (0.9, 0.999), weight decay 0.01, gradient
     clipping 10 for both networks (``train`` section; the critic reads the same).
Reads HR latents for the GAN's real samples only (``info.json``: ``hr_images_seen``).
"""
from __future__ import annotations

import copy
import os

import torch
import torch.nn.functional as F

from cddbench import models, schedule
from cddbench.methods.common import (concat_net, images_seen, load_base, load_training_set, multistep_consistency,
                                     save_student, write_info)
from cddbench.train import checkpoint_at, fit, optimizer, stream

DISPLAY = "DMD2"
SEEDED = True
BASE = "ldm_sr"  # distils the LDM-SR model of its training seed
STREAM = 8
LIMITS = [("denoising_steps", "denoising_steps", "<=", "num_train_timesteps"),
          ("steps", "max(steps)", "<=", "denoising_steps")]  # sampling runs on the model's grid
NOTE = ("DMD2 reads HR latents only as its GAN's real samples, critic_steps x steps x batch of them (info.json: "
        "hr_images_seen), counted in its images seen with its LDM-SR teacher's")


def nfe(steps: int) -> int:
    return steps


def denoising_grid(n: int, num_train_timesteps: int = 1000) -> list[int]:
    """DMD2's ``denoising_step_list``: n times from the top, step 1000 // n (4 -> [999, 749, 499, 249])."""
    return [num_train_timesteps - 1 - i * (num_train_timesteps // n) for i in range(n)]


class Discriminator(torch.nn.Module):
    """DMD2's classifier head on the fake network's mid-block features (conv, GroupNorm, SiLU, conv to a logit
    map, averaged), sized for the tiny UNet's mid-block (DMD2's SD head has two strided 4x4 convs for a larger map)."""

    def __init__(self, channels: int, groups: int):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Conv2d(channels, channels, 3, padding=1),
                                       torch.nn.GroupNorm(groups, channels), torch.nn.SiLU(),
                                       torch.nn.Conv2d(channels, 1, 1))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h).mean(dim=(1, 2, 3))


class _Stop(Exception):
    pass


def mid_block_features(unet, z: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
    """The UNet's mid-block output at (z, t, c), the forward stopped there (DMD2's ``classify_forward``): a hook,
    since diffusers' UNet2DConditionModel has no partial forward."""
    seen = {}

    def hook(module, args, output):
        seen["h"] = output
        raise _Stop

    handle = unet.mid_block.register_forward_hook(hook)
    try:
        models.unet_forward(unet, z, t, cond)
    except _Stop:
        pass
    finally:
        handle.remove()
    return seen["h"]


class DMD2Loss:
    """The losses of one DMD2 step. Networks are callables ``net(z, t, cond) -> model output``; ``disc(x, t, cond)``
    the discriminator's logit on x noised to z_t (psi's mid-block + the head). Hyperparameters carry the paper's
    names: ``grid`` the generator's denoising times, ``t_min`` / ``t_max`` the distribution-matching times,
    ``gan_weight_critic`` / ``gan_weight_generator`` (DMD2's 1e-2 / 1e-3 for SD1.5)."""

    def __init__(self, scheduler, *, grid: list[int], t_min: int = 20, t_max: int = 980,
                 gan_weight_critic: float = 1e-2, gan_weight_generator: float = 1e-3):
        self.scheduler, self.grid, self.t_min, self.t_max = scheduler, grid, t_min, t_max
        self.gan_weight_critic, self.gan_weight_generator = gan_weight_critic, gan_weight_generator

    def x_hat(self, net, z: torch.Tensor, t, cond: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, device=z.device).expand(len(z))
        return schedule.pred_to_x_eps(net(z, t, cond), z, t, self.scheduler)[0]

    def simulate(self, gen, z: torch.Tensor, cond: torch.Tensor, k: int, g: torch.Generator):
        """Backward simulation: k no-grad denoising steps of G from pure noise z at grid[0] (the sampler's loop);
        returns G's input at grid[k] and that time. k = 0: z itself."""
        with torch.no_grad():
            for i in range(k):
                x = self.x_hat(gen, z, self.grid[i], cond)
                t = torch.full((len(z),), self.grid[i + 1], device=z.device)
                z = schedule.noised(self.scheduler, x, t, torch.randn(z.shape, generator=g).to(z.device))
        return z.detach(), self.grid[k]

    def samples(self, gen, z: torch.Tensor, cond: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """x_g = x_hat_theta(z_k, t_k, c) with gradient, k ~ U{0..n-1} per batch (backward simulation)."""
        k = int(torch.randint(len(self.grid), (), generator=g))
        z_k, t_k = self.simulate(gen, z, cond, k, g)
        return self.x_hat(gen, z_k, t_k, cond)

    def fake_loss(self, fake, x_g: torch.Tensor, cond: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """Denoising score matching of psi on G's samples: ||eps_hat - eps||^2, t ~ U{0..999}."""
        t = torch.randint(0, self.scheduler.config.num_train_timesteps, (len(x_g),), generator=g).to(x_g.device)
        eps = torch.randn(x_g.shape, generator=g).to(x_g.device)
        z_t = schedule.noised(self.scheduler, x_g.detach(), t, eps)
        eps_hat = schedule.pred_to_x_eps(fake(z_t, t, cond), z_t, t, self.scheduler)[1]
        return (eps_hat.float() - eps).pow(2).mean()

    def logits(self, disc, x: torch.Tensor, cond: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """The discriminator on x noised at s ~ U{0..999} (DMD2's ``compute_cls_logits``)."""
        s = torch.randint(0, self.scheduler.config.num_train_timesteps, (len(x),), generator=g).to(x.device)
        eps = torch.randn(x.shape, generator=g).to(x.device)
        return disc(schedule.noised(self.scheduler, x, s, eps), s, cond).float()

    def critic_loss(self, fake, disc, x_g: torch.Tensor, x_real: torch.Tensor, cond: torch.Tensor,
                    cond_real: torch.Tensor, g: torch.Generator) -> dict:
        gan = (F.softplus(self.logits(disc, x_g.detach(), cond, g)).mean()
               + F.softplus(-self.logits(disc, x_real, cond_real, g)).mean())
        score = self.fake_loss(fake, x_g, cond, g)
        return {"loss": score + self.gan_weight_critic * gan, "fake": score.detach(), "disc": gan.detach()}

    def distribution_matching_loss(self, teacher, fake, x_g: torch.Tensor, cond: torch.Tensor,
                                   g: torch.Generator) -> torch.Tensor:
        t = torch.randint(self.t_min, self.t_max + 1, (len(x_g),), generator=g).to(x_g.device)
        eps = torch.randn(x_g.shape, generator=g).to(x_g.device)
        with torch.no_grad():
            z_t = schedule.noised(self.scheduler, x_g.detach(), t, eps)
            out_r, out_f = teacher(z_t, t, cond), fake(z_t, t, cond)
            y_r = schedule.pred_to_x_eps(out_r, z_t, t, self.scheduler)[0].float()
            # y_f - y_r from the outputs' difference (x_hat is affine in the output, its z_t terms cancel): exactly 0
            # when psi == phi, which a difference of two x_hat's is not (rounding)
            diff = schedule.pred_to_x_eps(out_f - out_r, torch.zeros_like(z_t), t, self.scheduler)[0].float()
            w = (x_g.detach().float() - y_r).abs().mean(dim=tuple(range(1, x_g.ndim)), keepdim=True)
            grad = torch.nan_to_num(diff / w)
        x = x_g.float()
        return 0.5 * F.mse_loss(x, (x - grad).detach())

    def generator_loss(self, teacher, fake, disc, x_g: torch.Tensor, cond: torch.Tensor, g: torch.Generator) -> dict:
        dm = self.distribution_matching_loss(teacher, fake, x_g, cond, g)
        terms = {"loss": dm, "dm": dm.detach()}
        if self.gan_weight_generator:
            gan = F.softplus(-self.logits(disc, x_g, cond, g)).mean()
            terms.update(loss=dm + self.gan_weight_generator * gan, gen_gan=gan.detach())
        return terms


def training_step(loss: DMD2Loss, gen_net, fake, head, fake_net, disc, teacher_net, critic_opt, clip: float | None,
                  critic_steps: int, cond: torch.Tensor, x0: torch.Tensor, g: torch.Generator):
    """One DMD2 step as ``train.fit``'s loss function ``(idx, step) -> terms`` over the generator: ``critic_steps``
    critic updates (the fake network ``fake`` and the GAN ``head``, on fresh generator samples and a fresh batch of
    real ``x0``), then the generator's loss on the batch's conditions. Networks are callables ``(z, t, cond)``;
    ``cond`` / ``x0`` the whole training set's conditions and clean samples; both tiers run it."""
    critic = [*fake.parameters(), *head.parameters()]

    def loss_fn(idx, step):
        n = len(idx)
        # 1. r critic updates, each on fresh generator samples and a fresh batch of clean samples (the GAN's real data)
        for _ in range(critic_steps):
            c = cond[torch.randint(len(cond), (n,), generator=g).to(cond.device)]
            with torch.no_grad():
                x_g = loss.samples(gen_net, torch.randn((n, *x0.shape[1:]), generator=g).to(c.device), c, g)
            real = torch.randint(len(x0), (n,), generator=g).to(x0.device)
            critic_terms = loss.critic_loss(fake_net, disc, x_g, x0[real], c, cond[real], g)
            critic_opt.zero_grad(set_to_none=True)
            critic_terms["loss"].backward()
            torch.nn.utils.clip_grad_norm_(critic, clip if clip is not None else float("inf"))
            critic_opt.step()
        # 2. one generator update (psi and the head frozen: gradients reach G through its samples only)
        fake.requires_grad_(False), head.requires_grad_(False)
        c = cond[idx]
        x_g = loss.samples(gen_net, torch.randn((n, *x0.shape[1:]), generator=g).to(c.device), c, g)
        terms = loss.generator_loss(teacher_net, fake_net, disc, x_g, c, g)
        fake.requires_grad_(True), head.requires_grad_(True)
        return {**terms, "fake": critic_terms["fake"], "disc": critic_terms["disc"]}
    return loss_fn


def discriminator(fake, head):
    return lambda z, t, cond: head(mid_block_features(fake, z, t, cond))


def _loss(m: dict, scheduler) -> DMD2Loss:
    return DMD2Loss(scheduler, grid=denoising_grid(m["denoising_steps"], scheduler.config.num_train_timesteps),
                    gan_weight_critic=m["gan_weight_critic"], gan_weight_generator=m["gan_weight_generator"])


def train(ctx, out_dir: str, log_csv: str) -> dict:
    m, seed = ctx.mcfg, ctx.train_seed
    torch.manual_seed(seed)
    ts = load_training_set(ctx)
    teacher = load_base(ctx)
    gen = copy.deepcopy(teacher).requires_grad_(True)
    fake = copy.deepcopy(teacher).requires_grad_(True)
    head = Discriminator(fake.config.block_out_channels[-1], fake.config.norm_num_groups).to(ctx.device)
    critic_opt = optimizer([*fake.parameters(), *head.parameters()], m["train"])
    clip = m["train"].get("grad_clip", 1.0)
    loss = _loss(m, ts.scheduler)
    g = stream(seed, STREAM)
    gen_net, fake_net, disc = concat_net(gen), concat_net(fake), discriminator(fake, head)
    loss_fn = training_step(loss, gen_net, fake, head, fake_net, disc, concat_net(teacher), critic_opt, clip,
                            m["critic_steps"], ts.cond, ts.x0, g)
    unet = fit(gen, loss_fn, m["train"], len(ts.cond), seed, log_csv, ctx.run, precision=ctx.cfg["precision"],
               checkpoint=checkpoint_at(ctx.checkpoint_dir, "train", ctx.cfg, fake=fake, head=head,
                                        critic_opt=critic_opt, g=g))
    base_images = save_student(unet, ts.scheduler, out_dir, ctx)
    critic_images = m["critic_steps"] * images_seen(m["train"])
    return write_info(out_dir, gen, [gen, ts.vae], images_seen=base_images + critic_images,
                      hr_images_seen=critic_images, conditions_seen=images_seen(m["train"]) + critic_images)


def load(ctx, model_dir: str):
    m = ctx.mcfg
    vae = models.load_autoencoder(ctx.vae_dir).to(ctx.device)
    gen = concat_net(models.load_unet(os.path.join(model_dir, "unet")).to(ctx.device))
    loss = _loss(m, models.load_scheduler(model_dir))

    @torch.no_grad()
    def sample(lr: torch.Tensor, steps: int, noise: torch.Tensor) -> torch.Tensor:
        if steps > len(loss.grid):
            raise ValueError(f"methods.dmd2.steps: {steps} steps exceed the denoising grid {loss.grid} "
                             f"(denoising_steps {m['denoising_steps']})")
        cond = models.lr_condition(lr.to(ctx.device), noise.shape[-2:])
        # re-noising the last prediction to the next grid time, as training's backward simulation does
        x = multistep_consistency(lambda z, t: loss.x_hat(gen, z, t, cond), loss.grid[:steps], noise.to(ctx.device),
                                  loss.scheduler)
        return models.decode(vae, x)

    return sample
