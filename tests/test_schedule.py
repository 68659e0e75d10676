import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler

from cddbench import schedule


def _sched(kind):
    return DDPMScheduler(num_train_timesteps=1000, beta_schedule="scaled_linear", beta_start=0.00085,
                         beta_end=0.012, prediction_type=kind, clip_sample=False)


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    x, eps = torch.randn(6, 4, 8, 8, generator=g), torch.randn(6, 4, 8, 8, generator=g)
    return x, eps, torch.tensor([0, 1, 250, 500, 998, 999])


def test_v_round_trip_against_diffusers(batch):
    x, eps, t = batch
    s = _sched("v_prediction")
    z, v = s.add_noise(x, eps, t), s.get_velocity(x, eps, t)
    x_hat, eps_hat = schedule.pred_to_x_eps(v, z, t, s)
    torch.testing.assert_close(x_hat, x, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(eps_hat, eps, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(schedule.training_target(x, eps, t, s), v)


def test_eps_and_x_round_trip(batch):
    x, eps, t = batch
    s = _sched("epsilon")
    z = s.add_noise(x, eps, t)
    x_hat, eps_hat = schedule.pred_to_x_eps(eps, z, t, s)
    torch.testing.assert_close(eps_hat, eps)
    torch.testing.assert_close(x_hat, x, atol=2e-3, rtol=1e-3)  # dividing by alpha_999 ~ 0.07 amplifies rounding
    a, sg = schedule.alpha_sigma(s, t)
    torch.testing.assert_close(a**2 + sg**2, torch.ones_like(a))


def test_ddim_step_with_true_x_eps_lands_on_forward_process(batch):
    x, eps, t = batch
    s = _sched("v_prediction")
    prev = (t - 20).clamp(min=0)
    torch.testing.assert_close(schedule.ddim_step(x, eps, prev, s), s.add_noise(x, eps, prev), atol=1e-5, rtol=1e-5)
    assert torch.equal(schedule.ddim_step(x, eps, torch.tensor(-1), s), x)


def test_ddim_step_matches_diffusers_ddim_scheduler(batch):
    x, eps, _ = batch
    base = _sched("v_prediction")
    ddim = DDIMScheduler.from_config(base.config, timestep_spacing="trailing", set_alpha_to_one=True)
    ddim.set_timesteps(4)
    t, prev = int(ddim.timesteps[1]), int(ddim.timesteps[2])
    tt = torch.full((len(x),), t)
    z = base.add_noise(x, eps, tt)
    v_model = base.get_velocity(x, eps, tt) + 0.1 * torch.randn_like(x)  # an imperfect model output
    ours = schedule.ddim_step(*schedule.pred_to_x_eps(v_model, z, tt, base), torch.full((len(x),), prev), base)
    theirs = ddim.step(v_model, t, z, eta=0.0).prev_sample
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


def test_zero_terminal_snr_schedule_ends_in_pure_noise_and_v_still_gives_x():
    """teacher.schedule.rescale_betas_zero_snr (diffusers' rescaling): alpha_T = 0 exactly, so z_T is pure noise,
    and the v-parametrisation still recovers x and eps there (an epsilon model could not: the config rejects it)."""
    from cddbench import models

    cfg = {"num_train_timesteps": 1000, "beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012,
           "prediction_type": "v_prediction", "rescale_betas_zero_snr": False}
    plain, zsnr = models.build_scheduler(cfg), models.build_scheduler({**cfg, "rescale_betas_zero_snr": True})
    assert plain.alphas_cumprod[-1] > 1e-3 and zsnr.alphas_cumprod[-1] == 0
    g = torch.Generator().manual_seed(0)
    x, eps = torch.randn(2, 4, 8, 8, generator=g), torch.randn(2, 4, 8, 8, generator=g)
    t = torch.tensor([999, 500])
    z = zsnr.add_noise(x, eps, t)
    assert torch.equal(z[0], eps[0])
    x_hat, eps_hat = schedule.pred_to_x_eps(zsnr.get_velocity(x, eps, t), z, t, zsnr)
    torch.testing.assert_close(x_hat, x, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(eps_hat, eps, atol=1e-5, rtol=1e-5)
