"""Real-ESRGAN (1 step): a feed-forward SR generator trained with L1 + perceptual + adversarial losses.

The paper's GAN row, scaled to the profile: an RRDB generator (ESRGAN's residual-in-residual dense blocks) and
Real-ESRGAN's U-Net discriminator with spectral norm, trained on the same degraded pairs as every other method.
First ``warmup_steps`` of L1 only (Real-ESRNet), then all three losses (weights in the config; Real-ESRGAN's
1 / 1 / 0.1). The perceptual loss runs on the LPIPS network under the metrics' weight policy (standard AlexNet
when present, else the labelled random proxy), so this row's LPIPS is not independent of its training.
Both networks are written here: neither torch, diffusers nor the other chosen packages ship them (BasicSR does,
but it pins a torchvision that cannot be imported beside the CPU torch build this project pins).
"""
from __future__ import annotations

import json
import os

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from cddbench import metrics
from cddbench.methods.common import images_seen, load_pixels, write_info
from cddbench.train import checkpoint_at, fit

DISPLAY = "Real-ESRGAN"
SEEDED = False  # one deterministic generator pass
LIMITS = [("warmup_steps", "warmup_steps", "<", "train.steps")]  # or the adversarial phase never runs
NOTE = ("its perceptual loss runs on the LPIPS network of the metric policy, so its LPIPS column is not "
        "independent of its training.")


def nfe(steps: int) -> int:
    return 1


class DenseBlock(nn.Module):
    """ESRGAN's residual dense block: five 3x3 convs, each fed every earlier feature map; residual scaled 0.2."""

    def __init__(self, ch: int, growth: int):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(ch + i * growth, growth if i < 4 else ch, 3, padding=1) for i in range(5))

    def forward(self, x):
        feats = [x]
        for i, conv in enumerate(self.convs):
            out = conv(torch.cat(feats, 1))
            feats.append(F.leaky_relu(out, 0.2) if i < 4 else out)
        return x + 0.2 * feats[-1]


class RRDB(nn.Module):
    def __init__(self, ch: int, growth: int):
        super().__init__()
        self.blocks = nn.Sequential(*(DenseBlock(ch, growth) for _ in range(3)))

    def forward(self, x):
        return x + 0.2 * self.blocks(x)


class Generator(nn.Module):
    """RRDBNet for 4x: trunk of RRDBs, then two nearest-neighbour x2 upsamplings each followed by a conv."""

    def __init__(self, channels: int, blocks: int, growth: int):
        super().__init__()
        self.first = nn.Conv2d(3, channels, 3, padding=1)
        self.trunk = nn.Sequential(*(RRDB(channels, growth) for _ in range(blocks)), nn.Conv2d(channels, channels, 3, padding=1))
        self.up = nn.ModuleList(nn.Conv2d(channels, channels, 3, padding=1) for _ in range(2))
        self.hr = nn.Conv2d(channels, channels, 3, padding=1)
        self.last = nn.Conv2d(channels, 3, 3, padding=1)

    def forward(self, lr):
        h = self.first(lr)
        h = h + self.trunk(h)
        for conv in self.up:
            h = F.leaky_relu(conv(F.interpolate(h, scale_factor=2, mode="nearest")), 0.2)
        return self.last(F.leaky_relu(self.hr(h), 0.2))


class UNetDiscriminator(nn.Module):
    """Real-ESRGAN's U-Net discriminator with spectral norm: a realness logit per pixel."""

    def __init__(self, channels: int):
        super().__init__()
        c = channels
        self.conv0 = nn.Conv2d(3, c, 3, padding=1)
        self.down = nn.ModuleList(spectral_norm(nn.Conv2d(a, b, 4, 2, 1, bias=False))
                                  for a, b in [(c, 2 * c), (2 * c, 4 * c), (4 * c, 8 * c)])
        self.up = nn.ModuleList(spectral_norm(nn.Conv2d(a, b, 3, padding=1, bias=False))
                                for a, b in [(8 * c, 4 * c), (4 * c, 2 * c), (2 * c, c)])
        self.head = nn.Sequential(spectral_norm(nn.Conv2d(c, c, 3, padding=1, bias=False)), nn.LeakyReLU(0.2),
                                  spectral_norm(nn.Conv2d(c, c, 3, padding=1, bias=False)), nn.LeakyReLU(0.2),
                                  nn.Conv2d(c, 1, 3, padding=1))

    def forward(self, x):
        skips = [F.leaky_relu(self.conv0(x), 0.2)]
        for conv in self.down:
            skips.append(F.leaky_relu(conv(skips[-1]), 0.2))
        h = skips.pop()
        for conv in self.up:
            h = F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=False)
            h = F.leaky_relu(conv(h), 0.2) + skips.pop()
        return self.head(h)


def build(m: dict) -> tuple[Generator, UNetDiscriminator]:
    g, d = m["generator"], m["discriminator"]
    return Generator(g["channels"], g["blocks"], g["growth"]), UNetDiscriminator(d["channels"])


class RealESRGANLoss:
    """Real-ESRGAN's losses (Wang et al. 2021). The generator's
        L_G = w_l1 ||G(lr) - hr||_1 + w_perceptual P(G(lr), hr) + w_adversarial BCE(D(G(lr)), real)
    after ``warmup_steps`` of L1 alone (Real-ESRNet); the discriminator's BCE(D(hr), real) + BCE(D(G(lr)), fake).
    ``perceptual(a, b)`` a per-image distance; ``disc(x)`` a realness logit (map). Weights: the config's ``loss``."""

    def __init__(self, perceptual, *, w_l1: float, w_perceptual: float, w_adversarial: float, warmup_steps: int):
        self.perceptual, self.warmup_steps = perceptual, warmup_steps
        self.w_l1, self.w_perceptual, self.w_adversarial = w_l1, w_perceptual, w_adversarial

    @staticmethod
    def gan(logits: torch.Tensor, real: bool) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, float(real)))

    def adversarial(self, step: int) -> bool:
        return step > self.warmup_steps

    def discriminator_loss(self, disc, fake: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        return self.gan(disc(hr), True) + self.gan(disc(fake.detach()), False)

    def generator_loss(self, fake: torch.Tensor, hr: torch.Tensor, disc, step: int) -> dict:
        l1 = (fake - hr).abs().mean()
        if not self.adversarial(step):  # the Real-ESRNet warm-up: L1 only (the other terms log as 0)
            return {"loss": self.w_l1 * l1, "l1": l1, "perceptual": torch.zeros(()), "adversarial": torch.zeros(())}
        terms = {"l1": l1, "perceptual": self.perceptual(fake, hr).mean(), "adversarial": self.gan(disc(fake), True)}
        terms["loss"] = (self.w_l1 * l1 + self.w_perceptual * terms["perceptual"]
                         + self.w_adversarial * terms["adversarial"])
        return terms


def train(ctx, out_dir: str, log_csv: str) -> dict:
    m, seed = ctx.mcfg, ctx.train_seed
    torch.manual_seed(seed)
    lr, hr = (x.to(ctx.device) for x in load_pixels(ctx.train_set))
    gen, disc = (net.to(ctx.device) for net in build(m))
    lpips = metrics.Lpips(metrics.resolve_backend(ctx.cfg["evaluate"]), ctx.cfg["evaluate"])
    lpips.net.to(ctx.device)
    d_opt = torch.optim.AdamW(disc.parameters(), lr=m["train"]["lr"], weight_decay=1e-2)
    w = m["loss"]
    loss = RealESRGANLoss(lpips.distance, w_l1=w["l1"], w_perceptual=w["perceptual"], w_adversarial=w["adversarial"],
                          warmup_steps=m["warmup_steps"])

    def loss_fn(idx, step):
        fake = gen(lr[idx])
        d_loss = torch.zeros((), device=hr.device)
        if loss.adversarial(step):
            # the discriminator's own step, inside the generator's loss function so that one training loop
            # (seeded batches, logging, clipping) serves both networks; the generator's terms then see the new D
            d_loss = loss.discriminator_loss(disc, fake, hr[idx])
            d_opt.zero_grad(set_to_none=True)
            d_loss.backward()
            d_opt.step()
        return {**loss.generator_loss(fake, hr[idx], disc, step), "discriminator": d_loss.detach()}

    ema = fit(gen, loss_fn, m["train"], len(hr), seed, log_csv, ctx.run, precision=ctx.cfg["precision"],
              checkpoint=checkpoint_at(ctx.checkpoint_dir, "train", ctx.cfg, disc=disc, d_opt=d_opt))
    os.makedirs(out_dir, exist_ok=True)
    torch.save(ema.state_dict(), os.path.join(out_dir, "generator.pt"))
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump({"generator": m["generator"], "discriminator": m["discriminator"]}, f, indent=1)
    # the trained count from the online generator: fit's EMA copy (ema_decay > 0, the paper config's) has no trainable
    # parameters, and counted 0 before the dress rehearsal ran that path
    return write_info(out_dir, gen, [ema], images_seen=images_seen(m["train"]))


def load(ctx, model_dir: str):
    with open(os.path.join(model_dir, "config.json")) as f:  # the architecture it was trained with
        gen, _ = build(json.load(f))
    gen.load_state_dict(torch.load(os.path.join(model_dir, "generator.pt"), map_location="cpu", weights_only=True))
    gen = gen.to(ctx.device).eval()

    @torch.no_grad()
    def sample(lr: torch.Tensor, steps: int, noise=None) -> torch.Tensor:
        return gen(lr.to(ctx.device)).clamp(-1, 1)

    return sample
