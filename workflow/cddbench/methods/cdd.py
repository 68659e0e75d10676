"""CDD: Conditional Diffusion Distillation (paper Algorithm 1; the equations and the authors' deviations: docs/method.md).

The pretrained unconditional teacher is adapted into a conditional model (``models.AdaptedUNet``: a ControlNet-
style encoder fed the LR) and, in one stage, distilled into a few-step sampler by
    L = d(eps_hat(z_t, c, t), sg(eps_hat_ema(z_s, c, s))) + lambda * d_x(x_hat(z_t, c, t), x)    (paper eq. 11)
where z_s is predicted from z_t without gradient (PREv: the DDIM step with the *real* noise). Every switch of
the paper's ablations is a key of ``methods.cdd`` (config.yaml documents each).
"""
from __future__ import annotations

import os

import torch

from cddbench import metrics, models, schedule
from cddbench.methods.common import (backbone, concat_net, consistency_distance, images_seen, load_training_set,
                                     write_info)
from cddbench.train import EMA, checkpoint_at, fit, stream

DISPLAY = "Ours"
SEEDED = True
STREAM = 4
LIMITS = [("distill_steps", "distill_steps", "<=", "num_train_timesteps"),
          ("steps", "max(steps)", "<=", "distill_steps")]  # sampling runs on the model's grid


def nfe(steps: int) -> int:
    return steps


def guidance_distance(kind: str, vae, ecfg: dict):
    """d_x(x_hat, x) of the conditional guidance (paper 4.3): ``(x_hat, x_latent, hr_pixels) -> scalar``."""
    if kind == "l2_latent":
        return lambda x_hat, x, hr: (x_hat - x).pow(2).mean()

    def decode(z):  # through the frozen decoder, keeping the gradient to z
        return vae.decode(z / vae.config.scaling_factor).sample

    if kind == "l2_pixel":
        return lambda x_hat, x, hr: (decode(x_hat) - hr).pow(2).mean()
    if kind == "lpips":  # the same network policy as the LPIPS metric (standard weights, else the labelled proxy)
        net = metrics.Lpips(metrics.resolve_backend(ecfg), ecfg)
        net.net.to(vae.device)
        return lambda x_hat, x, hr: net.distance(decode(x_hat).clamp(-1, 1), hr).mean()
    raise ValueError(f"methods.cdd.guidance.distance: unknown {kind!r}")


@torch.no_grad()
def predict_z_s(net, teacher, z_t, t, s, eps, cond, sched, predictor: str, space: str, known=None) -> torch.Tensor:
    """z_s from z_t, without gradient or autograd graph (paper 4.2, "prediction of z_s").

    ``prev`` (PREv): the DDIM step with the model's x_hat and the *real* noise eps that made z_t;
    ``ddim_v``: the DDIM step with the model's own eps_hat; ``ddim_pretrained``: the frozen unconditional
    teacher's DDIM step (``teacher(z, t, None)``). ``known``: ``net``'s (x_hat, eps_hat) at (z_t, t) when already
    computed.
    """
    if predictor == "ddim_pretrained":
        x_p, eps_p = schedule.predict(teacher, z_t, t, None, sched)
    else:
        x_p, eps_p = known if known is not None else schedule.predict(net, z_t, t, cond, sched, space)
    return schedule.ddim_step(x_p, eps if predictor == "prev" else eps_p, s, sched)


class CDDLoss:
    """One CDD training iteration (paper Algorithm 1; section 4.2), as a loss of the online model.

    Hyperparameters carry the paper's names: ``N`` grid points (step gap k = 1000 / N), ``lambda_`` the weight of
    the conditional guidance d_x (4.3), ``predictor`` / ``predictor_weights`` how z_s is predicted, ``space`` of the
    consistency term (eps: eq. 11; x: the authors' code), ``distance`` d (l2 | huber with ``huber_c``),
    ``time_sampling`` (shared: one t per batch, the paper; per_sample: the authors' code).
    Networks are callables ``net(z, t, cond) -> output`` in the scheduler's prediction type (an ``AdaptedUNet``, an
    MLP); ``teacher`` is the unconditional one (called with ``cond=None``), read by ``predictor: ddim_pretrained``.
    """

    def __init__(self, teacher, scheduler, guidance, *, N: int, lambda_: float, predictor: str,
                 predictor_weights: str, space: str, distance: str, huber_c: float, time_sampling: str):
        self.teacher, self.scheduler, self.guidance = teacher, scheduler, guidance
        self.N, self.lambda_, self.predictor, self.predictor_weights = N, lambda_, predictor, predictor_weights
        self.space, self.distance, self.huber_c, self.time_sampling = space, distance, huber_c, time_sampling

    @classmethod
    def from_config(cls, m: dict, teacher, scheduler, guidance) -> "CDDLoss":
        """From a ``methods.cdd`` entry (config.yaml names each key)."""
        return cls(teacher, scheduler, guidance, N=m["distill_steps"], lambda_=m["guidance"]["weight"],
                   predictor=m["predictor"], predictor_weights=m["predictor_weights"],
                   space=m["consistency_space"], distance=m["distance"], huber_c=m["huber_c"],
                   time_sampling=m["time_sampling"])

    def __call__(self, online, target, x: torch.Tensor, cond: torch.Tensor, hr: torch.Tensor,
                 g: torch.Generator) -> dict:
        """The loss on one batch: ``x`` clean latents, ``cond`` the LR on the latent grid, ``hr`` the HR pixels;
        ``target`` the EMA copy of ``online``; every draw from ``g``."""
        sched = self.scheduler
        # 1. t on the N-point grid and s = t - k (one pair per batch or per sample); noise eps; z_t = a_t x + s_t eps
        t, s = (v.to(x.device) for v in schedule.draw_grid_times(self.N, sched.config.num_train_timesteps, len(x),
                                                                 self.time_sampling, g))
        eps = torch.randn(x.shape, generator=g).to(x.device)
        z_t = sched.add_noise(x, eps, t)
        # the online prediction at (z_t, c, t): x_hat and eps_hat, used by both terms of eq. 11
        x_on, eps_on = schedule.predict(online, z_t, t, cond, sched, self.space)
        # 2. z_s without gradient (PREv: alpha_s x_hat + sigma_s eps, the real noise); with the online weights the
        #    pass above is reused, no extra network call
        known = (x_on.detach(), eps_on.detach()) if self.predictor_weights == "online" else None
        z_s = predict_z_s(target, self.teacher, z_t, t, s, eps, cond, sched, self.predictor, self.space, known)
        # 3. the target: the EMA network at (z_s, c, s), no gradient
        with torch.no_grad():
            x_tg, eps_tg = schedule.predict(target, z_s, s, cond, sched, self.space)
        # 4. eq. 11: L = d(eps_hat(z_t, c, t), sg(eps_target)) + lambda d_x(x_hat(z_t, c, t), x)
        pred, ref = (eps_on, eps_tg) if self.space == "eps" else (x_on, x_tg)
        consistency = consistency_distance(pred, ref, self.distance, self.huber_c)
        with torch.set_grad_enabled(self.lambda_ > 0 and torch.is_grad_enabled()):  # lambda = 0: logged only
            cg = self.guidance(x_on, x, hr)
        loss = consistency + self.lambda_ * cg if self.lambda_ > 0 else consistency
        # 5. (train.fit) AdamW step, grad-norm clip, then the EMA target update
        return {"loss": loss, "consistency": consistency, "guidance": cg.detach()}


def build(ts, m: dict) -> models.AdaptedUNet:
    """The online model: the teacher (or a random backbone of its architecture) plus the conditional encoder."""
    model = models.AdaptedUNet.from_unet(backbone(ts, m["init"]), ts.cond.shape[1], gate=m["gate"])
    if m["regime"] == "adapter":  # Ours*: the backbone stays frozen, only the encoder (and gate) learn
        model.unet.requires_grad_(False)
    return model


def train(ctx, out_dir: str, log_csv: str) -> dict:
    m, seed = ctx.mcfg, ctx.train_seed
    torch.manual_seed(seed)
    ts = load_training_set(ctx)
    online = build(ts, m).to(ctx.device)
    target = EMA(online, m["target_ema"])
    guidance = guidance_distance(m["guidance"]["distance"], ts.vae, ctx.cfg["evaluate"])
    g = stream(seed, STREAM)
    loss = CDDLoss.from_config(m, concat_net(ts.teacher), ts.scheduler, guidance)

    def loss_fn(idx, step):
        return loss(online, target.model, ts.x0[idx], ts.cond[idx], ts.hr[idx], g)

    model = fit(online, loss_fn, m["train"], len(ts.x0), seed, log_csv, ctx.run,
                after_step=lambda: target.update(online), precision=ctx.cfg["precision"],
                checkpoint=checkpoint_at(ctx.checkpoint_dir, "train", ctx.cfg, target=target.model, g=g))
    model.save(out_dir)
    ts.scheduler.save_pretrained(os.path.join(out_dir, "scheduler"))
    from cddbench.pipeline import save_pipeline_folder

    save_pipeline_folder(out_dir, ctx.vae_dir, ts.vae, model, ts.scheduler, m["distill_steps"],  # from_pretrained(out_dir)
                         m["consistency_space"])
    return write_info(out_dir, online, [online, ts.vae], images_seen=images_seen(m["train"]))


def load(ctx, model_dir: str):
    """The run's diffusers pipeline (``cddbench.pipeline``): its ``denoise`` is the sampler, so the pipeline a user
    loads from the run folder gives these samples."""
    vae = models.load_autoencoder(ctx.vae_dir)
    net = models.AdaptedUNet.load(model_dir)
    return sampler(vae, net, models.load_scheduler(model_dir), ctx.mcfg, ctx.device)


def sampler(vae, net: models.AdaptedUNet, sched, m: dict, device: str):
    """``(lr, steps, noise) -> hr`` of an adapted model (``load``; the GPU check times it on random weights)."""
    from cddbench.pipeline import CDDSuperResolutionPipeline

    pipe = CDDSuperResolutionPipeline(vae, net.unet, net.controlnet, sched, m["distill_steps"],
                                      m["consistency_space"]).to(device)
    pipe.set_progress_bar_config(disable=True)
    return lambda lr, steps, noise: pipe.denoise(lr, noise, steps)
