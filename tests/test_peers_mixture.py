"""SiD and DMD2 on a 2-D conditional Gaussian mixture (issue [11]'s shared test): with a small MLP teacher trained by
denoising score matching, each one-step generator matches the teacher's 200-step DDIM samples, where the untrained
generator (the teacher's own one-step prediction) fails the same thresholds.

Thresholds, fixed before the runs: sliced W1 to the teacher's samples below 0.2 (modes 2 apart, std 0.15; the
untrained generators sit at 0.57 / 0.80), every mode's share within 0.05 of the teacher's (the issue's), no mode below
half its teacher share. About a minute on 2 CPU cores (DMD2's five critic updates per generator update dominate).
"""
import copy
import math

import pytest
import torch
from conftest import GaussianSchedule

from cddbench import schedule
from cddbench.methods.dmd2 import DMD2Loss
from cddbench.methods.sid import SiDLoss
from cddbench.train import EMA

MODES = torch.tensor([[1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0], [1.0, -1.0]])
WEIGHTS = torch.tensor([0.4, 0.3, 0.2, 0.1])
STD, SHIFT = 0.15, torch.tensor([0.5, 0.0])  # modes at MODES + c * SHIFT, c in [-1, 1]
SCHED = GaussianSchedule()
N_EVAL, C_EVAL = 20000, 0.5


def _data(c: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    k = torch.multinomial(WEIGHTS, len(c), replacement=True, generator=g)
    return (MODES[k] + c.flatten(1) * SHIFT + STD * torch.randn(len(c), 2, generator=g))[..., None, None]


class _MLP(torch.nn.Module):
    """x prediction from (z_t, t, c): z and c as (B, 2, 1, 1) / (B, 1, 1, 1), like latents and their condition."""

    def __init__(self, width: int = 128):
        super().__init__()
        layers = [torch.nn.Linear(2 + 1 + 16, width), torch.nn.SiLU(), torch.nn.Linear(width, width), torch.nn.SiLU(),
                  torch.nn.Linear(width, width), torch.nn.SiLU(), torch.nn.Linear(width, 2)]
        self.net = torch.nn.Sequential(*layers)

    def forward(self, z, t, c):
        t = torch.as_tensor(t).expand(len(z)).float()
        angles = t[:, None] / 1000 * torch.exp(torch.arange(8) * math.log(1000) / 8)[None]
        return self.net(torch.cat([z.flatten(1), c.flatten(1), angles.sin(), angles.cos()], 1))[..., None, None]


@pytest.fixture(scope="module")
def teacher():
    torch.manual_seed(0)
    net, g = _MLP(), torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    decay = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 6000)
    for _ in range(6000):  # denoising score matching in x
        c = torch.rand(512, 1, 1, 1, generator=g) * 2 - 1
        x, eps = _data(c, g), torch.randn(512, 2, 1, 1, generator=g)
        t = torch.randint(0, 1000, (512,), generator=g)
        a, s = schedule.alpha_sigma(SCHED, t)
        loss = (net(a * x + s * eps, t, c) - x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        decay.step()
    return net.requires_grad_(False)


@torch.no_grad()
def _ddim(net, c: torch.Tensor, steps: int, g: torch.Generator) -> torch.Tensor:
    times = torch.linspace(999, 0, steps).round().long().tolist()
    z = torch.randn(len(c), 2, 1, 1, generator=g)
    for i, t in enumerate(times):
        x = net(z, t, c)
        a, s = schedule.alpha_sigma(SCHED, torch.tensor(t))
        if i + 1 < len(times):
            a_next, s_next = schedule.alpha_sigma(SCHED, torch.tensor(times[i + 1]))
            z = a_next * x + s_next * (z - a * x) / s
    return x.flatten(1)


def _mode_shares(x: torch.Tensor) -> torch.Tensor:
    nearest = (x[:, None] - (MODES + C_EVAL * SHIFT)[None]).norm(dim=-1).argmin(1)
    return torch.bincount(nearest, minlength=len(MODES)).float() / len(x)


def _sliced_w1(a: torch.Tensor, b: torch.Tensor, projections: int = 64) -> float:
    p = torch.randn(2, projections, generator=torch.Generator().manual_seed(5))
    p = p / p.norm(dim=0)
    return ((a @ p).sort(0).values - (b @ p).sort(0).values).abs().mean().item()


def _matches(samples: torch.Tensor, reference: torch.Tensor) -> tuple[bool, str]:
    got, want = _mode_shares(samples), _mode_shares(reference)
    w1 = _sliced_w1(samples, reference)
    ok = w1 < 0.2 and (got - want).abs().max() <= 0.05 and bool((got >= want / 2).all())
    return ok, f"sliced W1 {w1:.3f}, mode shares {[round(v, 3) for v in got.tolist()]} vs {want.tolist()}"


def _sid(teacher, steps: int, g: torch.Generator):
    loss = SiDLoss(SCHED, alpha=1.0, t_init=625)
    gen, fake = copy.deepcopy(teacher).requires_grad_(True), copy.deepcopy(teacher).requires_grad_(True)
    opt_g = torch.optim.Adam(gen.parameters(), lr=1e-4, betas=(0.0, 0.999))
    opt_f = torch.optim.Adam(fake.parameters(), lr=1e-4, betas=(0.0, 0.999))
    ema = EMA(gen, 0.995)  # the generator sampled is its EMA, as in SiD's code and configs/peers.yaml
    for _ in range(steps):
        c = torch.rand(256, 1, 1, 1, generator=g) * 2 - 1
        with torch.no_grad():
            x_g = loss.generate(gen, torch.randn(256, 2, 1, 1, generator=g), c)
        opt_f.zero_grad()
        loss.fake_loss(fake, x_g, c, g).backward()
        opt_f.step()
        fake.requires_grad_(False)
        opt_g.zero_grad()
        loss.generator_loss(teacher, fake, loss.generate(gen, torch.randn(256, 2, 1, 1, generator=g), c), c, g).backward()
        opt_g.step()
        ema.update(gen)
        fake.requires_grad_(True)
    return lambda z, c: loss.generate(ema.model, z, c)


def _dmd2(teacher, steps: int, g: torch.Generator, critic_steps: int = 5):
    loss = DMD2Loss(SCHED, grid=[999], gan_weight_generator=0.0)  # distribution matching (no GAN head on an MLP)
    gen, fake = copy.deepcopy(teacher).requires_grad_(True), copy.deepcopy(teacher).requires_grad_(True)
    opt_g, opt_f = torch.optim.Adam(gen.parameters(), lr=1e-4), torch.optim.Adam(fake.parameters(), lr=1e-4)
    ema = EMA(gen, 0.995)  # the generator sampled is its EMA (configs/peers.yaml)
    for _ in range(steps):
        for _ in range(critic_steps):
            c = torch.rand(256, 1, 1, 1, generator=g) * 2 - 1
            with torch.no_grad():
                x_g = loss.samples(gen, torch.randn(256, 2, 1, 1, generator=g), c, g)
            opt_f.zero_grad()
            loss.fake_loss(fake, x_g, c, g).backward()
            opt_f.step()
        c = torch.rand(256, 1, 1, 1, generator=g) * 2 - 1
        fake.requires_grad_(False)
        opt_g.zero_grad()
        x_g = loss.samples(gen, torch.randn(256, 2, 1, 1, generator=g), c, g)
        loss.generator_loss(teacher, fake, None, x_g, c, g)["loss"].backward()
        opt_g.step()
        ema.update(gen)
        fake.requires_grad_(True)
    return lambda z, c: loss.x_hat(ema.model, z, 999, c)


@pytest.mark.parametrize("method", ["sid", "dmd2"])
def test_a_one_step_generator_matches_the_teacher_s_200_step_samples(teacher, method):
    g = torch.Generator().manual_seed(1)
    c = torch.full((N_EVAL, 1, 1, 1), C_EVAL)
    reference = _ddim(teacher, c, 200, g)
    ok, what = _matches(_data(c, g).flatten(1), reference)
    assert ok, f"the teacher itself is off its data: {what}"
    distil = {"sid": _sid, "dmd2": _dmd2}[method]
    untrained = distil(teacher, 0, g)
    with torch.no_grad():
        ok, what = _matches(untrained(torch.randn(N_EVAL, 2, 1, 1, generator=g), c).flatten(1), reference)
    assert not ok, f"the untrained {method} generator already passes: {what}"
    trained = distil(teacher, 1500, g)
    with torch.no_grad():
        ok, what = _matches(trained(torch.randn(N_EVAL, 2, 1, 1, generator=g), c).flatten(1), reference)
    print(f"{method} after 1500 steps: {what}")
    assert ok, f"{method} after 1500 steps: {what}"
