"""CDD (methods/cdd.py): the equations, the adapted model, the EMA target, learning, the sampler grid, every switch."""
import copy

import pytest
import torch
import yaml

from cddbench import models, schedule  # first: installs the torchvision shim diffusers needs
from cddbench.methods import cdd
from cddbench.methods.common import concat_net

EVALUATE = {"metric_backend": "proxy", "weights_dir": "", "proxy_seed": 0, "proxy_size": 32, "lpips_size": 32}


@pytest.fixture(scope="module")
def default_cfg(repo):
    with open(f"{repo}/config.yaml") as f:
        return yaml.safe_load(f)["methods"]["cdd"]


def _loss(ts, m, online=None, target=None, seed=0):
    online = online or cdd.build(ts, m)
    target = target or copy.deepcopy(online).requires_grad_(False)
    g = torch.Generator().manual_seed(seed)
    guidance = cdd.guidance_distance(m["guidance"]["distance"], ts.vae, EVALUATE)
    loss = cdd.CDDLoss.from_config(m, concat_net(ts.teacher), ts.scheduler, guidance)
    return loss(online, target, ts.x0, ts.cond, ts.hr, g)


def _set(m, key, value):
    m = copy.deepcopy(m)
    node = m
    *parents, last = key.split(".")
    for p in parents:
        node = node[p]
    node[last] = value
    return m


class Oracle(torch.nn.Module):
    """A 'network' that outputs the exact v for a known clean x: its x_hat is x at every (z, t)."""

    def __init__(self, x, sched):
        super().__init__()
        self.x, self.sched = x, sched

    def forward(self, z, t, cond):
        a, s = schedule.alpha_sigma(self.sched, t, z.ndim)
        eps = (z - a * self.x) / s
        return a * eps - s * self.x


def test_prev_with_the_true_x_lands_on_the_forward_process(ts):
    x, eps, t, s = ts.x0, torch.randn(ts.x0.shape), torch.full((8,), 500), torch.full((8,), 480)
    z_t = ts.scheduler.add_noise(x, eps, t)
    z_s = cdd.predict_z_s(Oracle(x, ts.scheduler), concat_net(ts.teacher), z_t, t, s, eps, ts.cond, ts.scheduler,
                          "prev", "eps")
    a_s, s_s = schedule.alpha_sigma(ts.scheduler, s)
    torch.testing.assert_close(z_s, a_s * x + s_s * eps, rtol=0, atol=1e-5)


@pytest.mark.parametrize("gate", [False, True])
def test_adapted_model_equals_the_unconditional_one_at_init(ts, gate, tmp_path):
    adapted = models.AdaptedUNet.from_unet(copy.deepcopy(ts.teacher), 3, gate=gate).eval()
    z, t, lr = torch.randn(2, 4, 8, 8), torch.tensor([10, 900]), torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        plain = ts.teacher(z, t, models.null_embedding(ts.teacher, 2)).sample
        assert torch.equal(adapted(z, t, lr), plain)
        adapted.save(str(tmp_path / "m"))  # the gate folds into the output convolutions: still exact
        assert torch.equal(models.AdaptedUNet.load(str(tmp_path / "m"))(z, t, lr), plain)


def test_gate_folding_keeps_a_trained_gate_exactly(ts, tmp_path):
    adapted = models.AdaptedUNet.from_unet(copy.deepcopy(ts.teacher), 3, gate=True).eval()
    with torch.no_grad():
        adapted.gate.fill_(0.37)
        z, t, lr = torch.randn(2, 4, 8, 8), torch.tensor([10, 900]), torch.randn(2, 3, 8, 8)
        before = adapted(z, t, lr)
        assert not torch.equal(before, ts.teacher(z, t, models.null_embedding(ts.teacher, 2)).sample)
        adapted.save(str(tmp_path / "m"))
        torch.testing.assert_close(models.AdaptedUNet.load(str(tmp_path / "m"))(z, t, lr), before)


def test_ema_update_target_gets_no_gradient_and_adapter_keeps_the_backbone(ts, default_cfg, tmp_path):
    from cddbench.train import EMA, fit

    m = _set(default_cfg, "regime", "adapter")
    online = cdd.build(ts, m)
    target = EMA(online, 0.9)
    before = copy.deepcopy(online.state_dict())
    g = torch.Generator().manual_seed(0)
    guidance = cdd.guidance_distance("l2_latent", ts.vae, EVALUATE)
    seen = []
    loss = cdd.CDDLoss.from_config(m, concat_net(ts.teacher), ts.scheduler, guidance)

    def loss_fn(idx, step):
        out = loss(online, target.model, ts.x0[idx], ts.cond[idx], ts.hr[idx], g)
        seen.append(copy.deepcopy(target.model.state_dict()))
        return out

    train_cfg = {"steps": 3, "batch_size": 4, "lr": 1e-3, "ema_decay": 0.0, "log_every": 1}
    fit(online, loss_fn, train_cfg, 8, 0, str(tmp_path / "log.csv"), "t", after_step=lambda: target.update(online))
    assert all(p.grad is None for p in target.model.parameters())
    after = online.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("unet."))  # frozen backbone
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("controlnet."))
    # EMA: theta_ema <- 0.9 theta_ema + 0.1 theta, checked on the last step's values
    k = next(k for k in before if k.startswith("controlnet.controlnet_down_blocks") and k.endswith("weight"))
    expected = 0.9 * seen[-1][k] + 0.1 * after[k]
    torch.testing.assert_close(target.model.state_dict()[k], expected)


def test_overfitting_one_batch_drops_the_loss(ts, default_cfg, tmp_path):
    from cddbench.train import EMA, fit

    torch.manual_seed(0)
    m = _set(default_cfg, "target_ema", 0.5)
    online = cdd.build(ts, m)
    target = EMA(online, m["target_ema"])
    guidance = cdd.guidance_distance("l2_latent", ts.vae, EVALUATE)
    batch = torch.arange(4)
    loss = cdd.CDDLoss.from_config(m, concat_net(ts.teacher), ts.scheduler, guidance)

    def loss_at(seed):  # the same (t, noise) every call: a fixed objective
        g = torch.Generator().manual_seed(seed)
        return loss(online, target.model, ts.x0[batch], ts.cond[batch], ts.hr[batch], g)

    with torch.no_grad():
        first = float(loss_at(1)["loss"])
    fit(online, lambda idx, step: loss_at(1), {"steps": 60, "batch_size": 4, "lr": 2e-3, "ema_decay": 0.0,
                                               "log_every": 10}, 4, 0, str(tmp_path / "l.csv"), "overfit",
        after_step=lambda: target.update(online))
    with torch.no_grad():
        last = float(loss_at(1)["loss"])
    assert last < first / 10, (first, last)


@pytest.mark.parametrize("steps, expected", [(1, [980]), (2, [980, 480]), (4, [980, 720, 460, 200]),
                                             (8, [980, 840, 700, 560, 420, 280, 140, 0])])
def test_sampler_timesteps_follow_the_grid_rule(steps, expected):
    assert schedule.few_step_timesteps(1000, 50, steps).tolist() == expected


def test_sampler_timesteps_for_every_step_count_lie_on_the_grid():
    grid = set(schedule.distillation_grid(1000, 50).tolist())
    for steps in range(1, 51):
        ts = schedule.few_step_timesteps(1000, 50, steps).tolist()
        assert len(ts) == steps and ts[0] == 980 and set(ts) <= grid and ts == sorted(ts, reverse=True)
    with pytest.raises(ValueError, match="51 sampling steps"):
        schedule.few_step_timesteps(1000, 50, 51)


def test_boundary_condition_holds():
    c_skip, c_out = schedule.boundary_scalings(torch.tensor([0, 20, 999]))
    assert c_skip.flatten().tolist()[0] == 1.0 and c_out.flatten().tolist()[0] == 0.0
    assert c_skip.flatten()[2] < 1e-5


# --- no dead switches: every option changes what is computed --------------------------------------------------

@pytest.mark.parametrize("key, value", [
    ("consistency_space", "x"), ("distance", "huber"), ("guidance.weight", 0.0), ("guidance.distance", "l2_pixel"),
    ("guidance.distance", "lpips"), ("time_sampling", "per_sample"), ("distill_steps", 10),
    ("predictor", "ddim_v"), ("predictor", "ddim_pretrained"), ("init", "random"),
])
def test_switch_changes_the_loss(ts, default_cfg, key, value):
    torch.manual_seed(0)
    online = cdd.build(ts, default_cfg)
    with torch.no_grad():  # make the adapted model differ from the teacher so predictors can differ
        for p in online.controlnet.parameters():
            p.add_(0.05 * torch.randn_like(p))
    target = copy.deepcopy(online)
    varied = _set(default_cfg, key, value)
    torch.manual_seed(0)
    online_varied = cdd.build(ts, varied) if key == "init" else online
    base = _loss(ts, default_cfg, online, target)
    other = _loss(ts, varied, online_varied if key == "init" else online, target)
    assert not torch.equal(base["loss"], other["loss"]), f"{key}={value} changed nothing"


def test_huber_c_changes_the_huber_distance(ts, default_cfg):
    m = _set(default_cfg, "distance", "huber")
    assert not torch.equal(_loss(ts, m)["loss"], _loss(ts, _set(m, "huber_c", 0.5))["loss"])


def test_predictor_weights_online_vs_target(ts, default_cfg):
    online = cdd.build(ts, default_cfg)
    target = copy.deepcopy(online)
    with torch.no_grad():
        for p in online.parameters():
            p.add_(0.02 * torch.randn_like(p))
    a = _loss(ts, default_cfg, online, target)["loss"]
    b = _loss(ts, _set(default_cfg, "predictor_weights", "online"), online, target)["loss"]
    assert not torch.equal(a, b)


def test_regime_and_gate_change_what_trains(ts, default_cfg):
    def trained(m):
        return {n for n, p in cdd.build(ts, m).named_parameters() if p.requires_grad}

    full, adapter = trained(default_cfg), trained(_set(default_cfg, "regime", "adapter"))
    assert any(n.startswith("unet.") for n in full) and not any(n.startswith("unet.") for n in adapter)
    assert "gate" in trained(_set(default_cfg, "gate", True)) and "gate" not in full


def test_target_ema_changes_the_target(ts, default_cfg):
    from cddbench.train import EMA

    online = cdd.build(ts, default_cfg)
    a, b = EMA(online, 0.999), EMA(online, 0.5)
    with torch.no_grad():
        for p in online.parameters():
            p.add_(1.0)
    a.update(online), b.update(online)
    pa, pb = next(a.model.parameters()), next(b.model.parameters())
    assert not torch.equal(pa, pb)


def test_shared_time_draws_one_t_per_batch():
    g = torch.Generator().manual_seed(0)
    t, s = schedule.draw_grid_times(50, 1000, 16, "shared", g)
    assert t.unique().numel() == 1 and torch.equal(t - s, torch.full((16,), 20))
    t, s = schedule.draw_grid_times(50, 1000, 64, "per_sample", g)
    assert t.unique().numel() > 1 and t.min() >= 20 and t.max() <= 980 and torch.equal(t - s, torch.full((64,), 20))


def test_sampler_runs_on_saved_weights(ts, default_cfg, tmp_path):
    from cddbench.methods import Context

    online = cdd.build(ts, default_cfg)
    online.save(str(tmp_path / "model"))
    ts.scheduler.save_pretrained(str(tmp_path / "model" / "scheduler"))
    ts.vae.save_pretrained(str(tmp_path / "vae"))
    ctx = Context(cfg={}, train_set="", vae_dir=str(tmp_path / "vae"), teacher_dir="", mcfg=default_cfg)
    sample = cdd.load(ctx, str(tmp_path / "model"))
    noise = torch.randn(2, 4, 8, 8)
    out = [sample(torch.rand(2, 3, 4, 4) * 2 - 1, k, noise) for k in (1, 4)]
    assert out[0].shape == (2, 3, 16, 16) and not torch.equal(out[0], out[1])
