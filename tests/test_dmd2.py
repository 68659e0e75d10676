"""DMD2 (methods/dmd2.py): the proofs that its losses and update rule are the published ones (docs/method.md)."""
import copy
import math

import pandas as pd
import pytest
import torch

from cddbench import config
from cddbench.methods import Context, dmd2
from cddbench.methods.common import concat_net
from cddbench.methods.dmd2 import DMD2Loss, Discriminator, denoising_grid, discriminator

TINY = {"steps": 3, "batch_size": 4, "lr": 1e-3, "ema_decay": 0.0, "log_every": 1,
        "betas": [0.9, 0.999], "weight_decay": 0.01, "grad_clip": 10.0}
DMD2 = {"steps": [1, 4], "denoising_steps": 4, "critic_steps": 2, "gan_weight_critic": 1e-2,
        "gan_weight_generator": 1e-3, "train": TINY}


def test_the_grid_is_dmd2s_denoising_step_list():
    assert denoising_grid(4) == [999, 749, 499, 249] and denoising_grid(1) == [999]


def test_a_fake_network_equal_to_the_teacher_gives_zero_distribution_matching_gradient(ts, ldm_sr):
    gen = copy.deepcopy(ldm_sr).requires_grad_(True)
    loss = DMD2Loss(ts.scheduler, grid=denoising_grid(4), gan_weight_generator=0.0)
    g = torch.Generator().manual_seed(0)
    x_g = loss.samples(concat_net(gen), torch.randn(4, 4, 8, 8, generator=g), ts.cond[:4], g)
    terms = loss.generator_loss(concat_net(ldm_sr), concat_net(copy.deepcopy(ldm_sr)), None, x_g, ts.cond[:4], g)
    terms["loss"].backward()
    assert terms["loss"].item() == 0.0
    assert all(p.grad is None or not p.grad.any() for p in gen.parameters())


def test_backward_simulation_feeds_the_sampler_s_inputs_without_gradient(ts, ldm_sr):
    """k = 0 is pure noise at 999; k > 0 is k no-grad steps of G down the grid, carrying no gradient into G; the
    sampler runs the same loop."""
    gen = copy.deepcopy(ldm_sr).requires_grad_(True)
    loss = DMD2Loss(ts.scheduler, grid=denoising_grid(4))
    z = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    z0, t0 = loss.simulate(concat_net(gen), z, ts.cond[:2], 0, torch.Generator().manual_seed(2))
    assert t0 == 999 and torch.equal(z0, z)
    z3, t3 = loss.simulate(concat_net(gen), z, ts.cond[:2], 3, torch.Generator().manual_seed(2))
    assert t3 == 249 and not z3.requires_grad and z3.grad_fn is None
    loss.x_hat(concat_net(gen), z3, t3, ts.cond[:2]).sum().backward()  # the only graph G sees: its last step
    g_last = [p.grad.clone() for p in gen.parameters() if p.grad is not None]
    gen.zero_grad()
    loss.x_hat(concat_net(gen), z3.clone(), t3, ts.cond[:2]).sum().backward()
    assert all(torch.equal(a, p.grad) for a, p in zip(g_last, [p for p in gen.parameters() if p.grad is not None]))


def test_with_the_generator_fixed_the_discriminator_loss_falls(ts, ldm_sr):
    """The GAN head on the fake network's mid-block learns to tell fixed generator samples from HR latents."""
    torch.manual_seed(0)
    fake = copy.deepcopy(ldm_sr).requires_grad_(True)
    head = Discriminator(fake.config.block_out_channels[-1], fake.config.norm_num_groups)
    disc = discriminator(fake, head)
    loss = DMD2Loss(ts.scheduler, grid=[999])
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():  # "generator samples": the teacher's one-step predictions, fixed
        x_g = loss.x_hat(concat_net(ldm_sr), torch.randn(8, 4, 8, 8, generator=g), 999, ts.cond[:8])
    x_real, cond = ts.x0[:8], ts.cond[:8]
    opt = torch.optim.AdamW([*fake.parameters(), *head.parameters()], lr=1e-3)
    history = []
    for _ in range(60):
        gan = (torch.nn.functional.softplus(loss.logits(disc, x_g, cond, g)).mean()
               + torch.nn.functional.softplus(-loss.logits(disc, x_real, cond, g)).mean())
        opt.zero_grad()
        gan.backward()
        opt.step()
        history.append(gan.item())
    assert history[0] == pytest.approx(2 * math.log(2), abs=0.2)  # chance at the start
    assert sum(history[-10:]) / 10 < 0.8 * sum(history[:10]) / 10


def test_dmd2_trains_one_generator_step_per_r_critic_steps(ts, repo, tmp_path):
    """r = 2 critic updates (fake network + head) per generator update, counted by the optimisers' own step
    counters in the training checkpoint; the teacher is unchanged; samples at 1 and 4 steps; beyond the grid an
    error."""
    from conftest import save_tiny_job
    from safetensors.torch import load_file

    from cddbench.methods import ldm_sr

    cfg = save_tiny_job(tmp_path, ts, repo)
    cfg["methods"]["ldm_sr"]["train"] = {**TINY, "betas": [0.9, 0.999]}
    cfg["methods"]["dmd2"] = DMD2

    def ctx(run, base="", ckpt=""):
        return Context(cfg=cfg, train_set=str(tmp_path / "train_set.pt"), vae_dir=str(tmp_path / "vae"),
                       teacher_dir=str(tmp_path / "teacher"), run=run, mcfg=cfg["methods"][run], base_dir=base,
                       checkpoint_dir=ckpt)

    ldm_sr.train(ctx("ldm_sr"), str(tmp_path / "ldm_sr"), str(tmp_path / "ldm_sr.csv"))
    before = load_file(tmp_path / "ldm_sr/unet/diffusion_pytorch_model.safetensors")
    (tmp_path / "dmd2").mkdir()
    info = dmd2.train(ctx("dmd2", str(tmp_path / "ldm_sr"), str(tmp_path / "ckpt")), str(tmp_path / "dmd2"),
                      str(tmp_path / "dmd2.csv"))
    log = pd.read_csv(tmp_path / "dmd2.csv")
    assert len(log) == 3 and log[["loss", "dm", "gen_gan", "fake", "disc"]].map(math.isfinite).all().all()
    saved = torch.load(tmp_path / "ckpt/train.pt", weights_only=True)
    assert {int(s["step"]) for s in saved["opt"]["state"].values()} == {3}
    assert {int(s["step"]) for s in saved["extra.critic_opt"]["state"].values()} == {6}
    after = load_file(tmp_path / "ldm_sr/unet/diffusion_pytorch_model.safetensors")
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert info["hr_images_seen"] == 2 * 3 * 4
    sample = dmd2.load(ctx("dmd2"), str(tmp_path / "dmd2"))
    for steps in (1, 4):
        out = sample(torch.rand(2, 3, 8, 8) * 2 - 1, steps, torch.randn(2, 4, 8, 8))
        assert out.shape == (2, 3, 16, 16) and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="denoising grid"):
        sample(torch.zeros(1, 3, 8, 8), 5, torch.zeros(1, 4, 8, 8))


def test_sampling_steps_beyond_the_grid_are_a_config_error(repo):
    cfg = config.load(f"{repo}/config.yaml", f"{repo}/configs/peers.yaml")
    cfg["methods"]["dmd2"]["steps"] = [1, 8]
    with pytest.raises(ValueError, match="methods.dmd2.steps"):
        config.validate(cfg)


def test_distribution_matching_drives_an_affine_generator_to_a_conditional_gaussian():
    """Data x | c ~ N(mu c, s^2), the exact teacher in closed form, the fake network the same form with learnable
    (m, k), an affine one-step generator x = a c + b z: DMD's distribution-matching update alone (two-time-scale,
    r = 5, no GAN) drives (a, |b|) to (mu, s) within 2%."""
    from conftest import GaussianSchedule, closed_form_denoiser

    sched = GaussianSchedule()
    mu, s = 1.5, 0.5

    def closed_form(mean, std):
        return closed_form_denoiser(sched, mean, std)

    teacher = closed_form(torch.tensor(mu), torch.tensor(s))
    m, k = torch.tensor(0.0, requires_grad=True), torch.tensor(1.0, requires_grad=True)
    ga, gb = torch.tensor(0.0, requires_grad=True), torch.tensor(1.0, requires_grad=True)
    fake = closed_form(m, k)

    def gen(z, t, c):  # pure noise in at t = 999, an x prediction out
        return ga * c + gb * z

    loss = DMD2Loss(sched, grid=[999], gan_weight_generator=0.0)
    opt_f = torch.optim.Adam([m, k], lr=1e-2)
    opt_g = torch.optim.Adam([ga, gb], lr=1e-2)
    g = torch.Generator().manual_seed(0)
    for _ in range(1500):
        for _ in range(5):
            c = torch.rand(256, 1, 1, 1, generator=g) + 0.5
            with torch.no_grad():
                x_g = loss.samples(gen, torch.randn(256, 1, 1, 1, generator=g), c, g)
            opt_f.zero_grad()
            loss.fake_loss(fake, x_g, c, g).backward()
            opt_f.step()
        c = torch.rand(256, 1, 1, 1, generator=g) + 0.5
        opt_g.zero_grad()
        x_g = loss.samples(gen, torch.randn(256, 1, 1, 1, generator=g), c, g)
        loss.generator_loss(teacher, fake, None, x_g, c, g)["loss"].backward()
        opt_g.step()
    assert ga.item() == pytest.approx(mu, rel=0.02) and abs(gb.item()) == pytest.approx(s, rel=0.02)
