"""SiD: Score identity Distillation (Zhou et al., ICML 2024), data-free one-step distillation of the conditional
LDM-SR model (the facts below as read from the official SiD / SiD-LSG code; long-short guidance: ``kappa``, run by
``methods.sid_lsg`` on an LDM-SR trained with condition dropout).

A one-step generator G_theta and a "fake" score network psi both start as copies of the frozen teacher phi (LDM-SR,
LR concatenated). G maps sigma_{t_init} z (t_init = 625) to x_g = x_hat_theta(sigma_{t_init} z, t_init, c). Each
iteration first fits psi to G's samples by denoising score matching, then steps G along the score-identity loss
    L_theta = sum_{C,H,W} (y_r - y_f) * [(y_r - x_g) - alpha (y_r - y_f)] / w,   w = sg(mean |x_g - y_r|)
with y_r = x_hat_phi(z_t, t, c), y_f = x_hat_psi(z_t, t, c) at z_t = alpha_t x_g + sigma_t eps (gradients flow through
z_t into G; psi and phi are not updated by it). **Data-free**: only the LR conditions of the training set are read,
never an HR image or latent. Adam (betas 0, 0.999), no weight decay, no clipping (``methods.sid.train``).
"""
from __future__ import annotations

import copy
import os

import torch

from cddbench import models, schedule
from cddbench.methods.common import (concat_net, drop_condition, guided, images_seen, load_base, load_training_set,
                                     save_student, write_info)
from cddbench.train import checkpoint_at, fit, optimizer, stream

DISPLAY = "SiD"
SEEDED = True
BASE = "ldm_sr"  # distils the LDM-SR model of its training seed
STREAM = 7
NOTE = "SiD is data-free: it reads the LR conditions only (HR images seen: LDM-SR's, through its teacher)"


def nfe(steps: int) -> int:
    return steps


class SiDLoss:
    """The two losses of one SiD iteration. Networks are callables ``net(z, t, cond) -> model output`` in the
    scheduler's prediction type. Hyperparameters carry the paper's names: ``alpha`` (1.2 in SiD, 1.0 in SiD-LSG's SD
    runs), ``t_init`` the generator's input time, ``t_min`` / ``t_max`` the range of the diffusion times."""

    def __init__(self, scheduler, *, alpha: float, t_init: int, t_min: int = 20, t_max: int = 979):
        self.scheduler, self.alpha, self.t_init, self.t_min, self.t_max = scheduler, alpha, t_init, t_min, t_max

    def x_hat(self, net, z: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return schedule.pred_to_x_eps(net(z, t, cond), z, t, self.scheduler)[0]

    def generate(self, gen, z: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """x_g = x_hat_theta(sigma_{t_init} z, t_init, c): the one-step sample (the generator's input is noise at
        t_init, ``add_noise(0, z, t_init)``, not z itself)."""
        t = torch.full((len(z),), self.t_init, device=z.device)
        return self.x_hat(gen, schedule.alpha_sigma(self.scheduler, t, z.ndim)[1] * z, t, cond)

    def _noised(self, x_g: torch.Tensor, g: torch.Generator):
        t = torch.randint(self.t_min, self.t_max + 1, (len(x_g),), generator=g).to(x_g.device)
        eps = torch.randn(x_g.shape, generator=g).to(x_g.device)
        return schedule.noised(self.scheduler, x_g, t, eps), t, eps

    def fake_loss(self, fake, x_g: torch.Tensor, cond: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """Step 3: denoising score matching of psi on G's samples, snr/(snr+1) ||v_hat - v||^2 = ||eps_hat - eps||^2."""
        z_t, t, eps = self._noised(x_g.detach(), g)
        eps_hat = schedule.pred_to_x_eps(fake(z_t, t, cond), z_t, t, self.scheduler)[1]
        return (eps_hat.float() - eps).pow(2).mean()

    def generator_loss(self, teacher, fake, x_g: torch.Tensor, cond: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """Steps 4-7: the score-identity loss of G's samples ``x_g`` (with gradient), in fp32."""
        z_t, t, _ = self._noised(x_g, g)
        out_r, out_f = teacher(z_t, t, cond), fake(z_t, t, cond)
        y_r = schedule.pred_to_x_eps(out_r, z_t, t, self.scheduler)[0].float()
        # y_r - y_f from the outputs' difference (x_hat is affine in the output and its z_t terms cancel): with
        # psi == phi it is exactly 0 and so is G's gradient, which the difference of two x_hat's is not (rounding)
        diff = schedule.pred_to_x_eps(out_r - out_f, torch.zeros_like(z_t), t, self.scheduler)[0].float()
        x = x_g.float()
        dims = tuple(range(1, x.ndim))  # C, H, W of a latent; any data shape in the toys of the tests
        w = (x - y_r).abs().mean(dim=dims, keepdim=True).detach().clamp(min=1e-5)
        per_image = (diff * ((y_r - x) - self.alpha * diff) / w).sum(dim=dims)
        return per_image.mean()


def training_step(loss: SiDLoss, gen_net, fake, fake_net, fake_opt, teacher_net, cond_of, shape, p_null: float,
                  g: torch.Generator):
    """One SiD iteration as ``train.fit``'s loss function ``(idx, step) -> terms`` over the generator: the fake score
    network's own optimiser step on the generator's samples (steps 1-3), then the generator's loss (4-7). ``gen_net``,
    ``fake_net``, ``teacher_net`` are callables ``(z, t, cond)`` (``fake_net`` guided for SiD-LSG), ``fake`` the fake
    network's module, ``cond_of(idx)`` the batch's conditions, ``shape`` one sample's; both tiers run it."""

    def loss_fn(idx, step):
        cond = cond_of(idx)
        z = torch.randn((len(idx), *shape), generator=g).to(cond.device)  # the shape only: data-free
        # 1-3. the fake score network's step on G's samples (G without gradient), inside G's loss function so that
        #      one training loop (batches, logging, checkpoints) serves both networks
        with torch.no_grad():
            x_g = loss.generate(gen_net, z, cond)
        fake_term = loss.fake_loss(fake_net, x_g, drop_condition(cond, p_null, g), g)
        fake_opt.zero_grad(set_to_none=True)
        fake_term.backward()
        for p in fake.parameters():  # the official code steps psi through nan_to_num
            if p.grad is not None:
                torch.nan_to_num_(p.grad)
        fake_opt.step()
        # 4-7. G's step: fresh noise, psi and phi frozen (gradients reach G through z_t only)
        fake.requires_grad_(False)
        z = torch.randn((len(idx), *shape), generator=g).to(cond.device)
        term = loss.generator_loss(teacher_net, fake_net, loss.generate(gen_net, z, cond), cond, g)
        fake.requires_grad_(True)
        return {"loss": term, "fake": fake_term.detach()}
    return loss_fn


LSG_CONDITION_DROPOUT = 0.1  # SiD-LSG drops the fake network's conditions at this rate when guiding (kappa != 1)


def train(ctx, out_dir: str, log_csv: str, stream_offset: int = STREAM) -> dict:
    """SiD; with ``kappa`` != 1 in the run's config, SiD-LSG (``methods.sid_lsg``): the teacher and the fake network
    are guided with the same kappa everywhere (SiD-LSG's LSG setting, kappa1 = ... = kappa4), the fake network
    trained with condition dropout for its null branch; the teacher needs one (LDM-SR with condition dropout)."""
    m, seed = ctx.mcfg, ctx.train_seed
    kappa = m.get("kappa", 1.0)
    p_null = LSG_CONDITION_DROPOUT if kappa != 1 else 0.0
    torch.manual_seed(seed)
    ts = load_training_set(ctx)  # only ts.cond is read below: data-free
    teacher = load_base(ctx)
    gen = copy.deepcopy(teacher).requires_grad_(True)
    fake = copy.deepcopy(teacher).requires_grad_(True)
    fake_opt = optimizer([p for p in fake.parameters()], m["train"])
    loss = SiDLoss(ts.scheduler, alpha=m["alpha"], t_init=m["t_init"])
    g = stream(seed, stream_offset)
    teacher_net, fake_net = guided(concat_net(teacher), kappa), guided(concat_net(fake), kappa)
    loss_fn = training_step(loss, concat_net(gen), fake, fake_net, fake_opt, teacher_net, lambda idx: ts.cond[idx],
                            ts.x0.shape[1:], p_null, g)
    unet = fit(gen, loss_fn, m["train"], len(ts.cond), seed, log_csv, ctx.run, precision=ctx.cfg["precision"],
               checkpoint=checkpoint_at(ctx.checkpoint_dir, "train", ctx.cfg, fake=fake, fake_opt=fake_opt, g=g))
    base_images = save_student(unet, ts.scheduler, out_dir, ctx)
    # images_seen: the teacher's HR images; SiD itself sees LR conditions only
    return write_info(out_dir, gen, [gen, ts.vae], images_seen=base_images, conditions_seen=images_seen(m["train"]))


def load(ctx, model_dir: str):
    m = ctx.mcfg
    vae = models.load_autoencoder(ctx.vae_dir).to(ctx.device)
    gen = models.load_unet(os.path.join(model_dir, "unet")).to(ctx.device)
    loss = SiDLoss(models.load_scheduler(model_dir), alpha=m["alpha"], t_init=m["t_init"])

    @torch.no_grad()
    def sample(lr: torch.Tensor, steps: int, noise: torch.Tensor) -> torch.Tensor:
        if steps != 1:
            raise ValueError(f"methods.sid.steps: SiD is a one-step generator, got {steps} steps")
        z = noise.to(ctx.device)
        return models.decode(vae, loss.generate(concat_net(gen), z, models.lr_condition(lr.to(ctx.device), z.shape[-2:])))

    return sample
