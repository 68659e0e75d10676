"""Device choice from the config and bf16 autocast: the CPU paths never assume CUDA; bf16 runs (on CPU here)."""
import pytest
import torch

from cddbench import config
from cddbench.methods.common import DiffusionLoss, concat_net
from cddbench.train import autocast, fit


def test_device_auto_is_cpu_without_cuda_and_cuda_with_it(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert config.device({"device": "auto"}) == "cpu" and config.device({"device": "cpu"}) == "cpu"
    with pytest.raises(RuntimeError, match="device: cuda.*no CUDA device"):
        config.device({"device": "cuda"})
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert config.device({"device": "auto"}) == "cuda"


def _fit(precision, tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.GELU(), torch.nn.Linear(32, 1))
    x, y = torch.randn(64, 8), torch.randn(64, 1)
    dtypes = set()

    def loss_fn(idx, step):
        out = model(x[idx])
        dtypes.add(out.dtype)
        return {"loss": (out.float() - y[idx]).pow(2).mean()}

    tcfg = dict(steps=5, batch_size=16, lr=1e-2, ema_decay=0.0, log_every=1)
    fit(model, loss_fn, tcfg, 64, 0, str(tmp_path / f"{precision}.csv"), precision, precision=precision)
    return model, dtypes


def test_bf16_autocast_runs_the_forward_in_bf16_and_keeps_fp32_weights(tmp_path):
    fp32, fp32_dtypes = _fit("fp32", tmp_path)
    bf16, bf16_dtypes = _fit("bf16", tmp_path)
    assert fp32_dtypes == {torch.float32} and bf16_dtypes == {torch.bfloat16}
    assert all(p.dtype == torch.float32 for p in bf16.parameters())
    assert all(torch.isfinite(p).all() for p in bf16.parameters())
    assert not torch.equal(fp32[0].weight, bf16[0].weight)  # bf16 really changed the arithmetic


def test_diffusion_loss_of_the_unet_is_finite_under_bf16(ts):
    g = torch.Generator().manual_seed(0)
    with autocast("cpu", "bf16"):
        terms = DiffusionLoss(ts.scheduler)(concat_net(ts.teacher), ts.x0, None, g)
    assert torch.isfinite(terms["loss"]) and terms["loss"].dtype == torch.float32
