"""Real-ESRGAN degradation: the drawn statistics match the settings, kernels are valid, output is deterministic."""
import math
from collections import Counter

import numpy as np
import pytest
import torch
import yaml

from cddbench import degrade
from cddbench import realesrgan_degradation as realesrgan

N = 20_000
TOL = 0.01  # one percentage point


@pytest.fixture(scope="module")
def cfg(repo):
    with open(f"{repo}/config.yaml") as f:
        return yaml.safe_load(f)["degradation"]["realesrgan"]


@pytest.fixture(scope="module")
def draws(cfg):
    rng = np.random.default_rng(12345)
    return [realesrgan.draw_params(rng, cfg) for _ in range(N)]


def _freq(values):
    counts = Counter(values)
    return {k: v / len(values) for k, v in counts.items()}


def _close(observed: dict, expected: dict):
    for key, p in expected.items():
        assert abs(observed.get(key, 0.0) - p) <= TOL, (key, observed.get(key, 0.0), p)


def test_kernel_type_frequencies(cfg, draws):
    for name, sinc_p in (("kernel1", cfg["sinc_prob"]), ("kernel2", cfg["sinc_prob2"])):
        kinds = [d[name]["type"] for d in draws]
        _close(_freq(kinds), {"sinc": sinc_p, **{k: (1 - sinc_p) * p for k, p in zip(cfg["kernel_list"], cfg["kernel_prob"])}})
        mixed = [k for k in kinds if k != "sinc"]  # the conditional family frequencies, as configured
        _close(_freq(mixed), dict(zip(cfg["kernel_list"], cfg["kernel_prob"])))
    sizes = [d["kernel1"]["size"] for d in draws]
    _close(_freq(sizes), {s: 1 / len(cfg["kernel_sizes"]) for s in cfg["kernel_sizes"]})


def test_branch_probabilities(cfg, draws):
    _close(_freq([d["resize1"]["direction"] for d in draws]), dict(zip(("up", "down", "keep"), cfg["resize_prob"])))
    _close(_freq([d["resize2"]["direction"] for d in draws]), dict(zip(("up", "down", "keep"), cfg["resize_prob2"])))
    for stage, (gp, grayp) in {"noise1": (cfg["gaussian_noise_prob"], cfg["gray_noise_prob"]),
                               "noise2": (cfg["gaussian_noise_prob2"], cfg["gray_noise_prob2"])}.items():
        _close(_freq([d[stage]["kind"] for d in draws]), {"gaussian": gp, "poisson": 1 - gp})
        _close(_freq([d[stage]["gray"] for d in draws]), {True: grayp, False: 1 - grayp})
    _close(_freq([d["blur2"] for d in draws]), {True: cfg["second_blur_prob"]})
    _close(_freq([d["final_order"] for d in draws]), {"resize_first": 0.5, "jpeg_first": 0.5})
    _close(_freq([d["final_sinc"] for d in draws]), {True: cfg["final_sinc_prob"]})
    _close(_freq([d["resize1"]["mode"] for d in draws]), {m: 1 / 3 for m in realesrgan.MODES})
    _close(_freq([d["final_mode"] for d in draws]), {m: 1 / 3 for m in realesrgan.MODES})


def _within(x, lo_hi):
    return lo_hi[0] <= x <= lo_hi[1]


def test_every_drawn_parameter_lies_in_its_range(cfg, draws):
    for d in draws:
        for name, sigma, betag in (("kernel1", cfg["blur_sigma"], cfg["betag"]), ("kernel2", cfg["blur_sigma2"], cfg["betag2"])):
            k = d[name]
            assert k["size"] in cfg["kernel_sizes"]
            if k["type"] == "sinc":
                assert _within(k["omega_c"], (math.pi / 3, math.pi) if k["size"] < 13 else (math.pi / 5, math.pi))
                continue
            assert _within(k["sigma_x"], sigma) and _within(k["sigma_y"], sigma) and _within(k["rotation"], cfg["rotation"])
            if k["type"].endswith("iso") and not k["type"].endswith("aniso"):
                assert k["sigma_x"] == k["sigma_y"] and k["rotation"] == 0
            if k["type"].startswith("generalized"):
                assert _within(k["beta"], betag)
            if k["type"].startswith("plateau"):
                assert _within(k["beta"], cfg["betap"])
        for stage, rng_key in (("resize1", "resize_range"), ("resize2", "resize_range2")):
            r = d[stage]
            lo, hi = cfg[rng_key]
            assert _within(r["scale"], {"up": (1, hi), "down": (lo, 1), "keep": (1, 1)}[r["direction"]])
        for stage, sig, pois in (("noise1", cfg["noise_range"], cfg["poisson_scale_range"]),
                                 ("noise2", cfg["noise_range2"], cfg["poisson_scale_range2"])):
            n = d[stage]
            assert _within(n["sigma"], sig) if n["kind"] == "gaussian" else _within(n["scale"], pois)
        assert _within(d["jpeg1"], cfg["jpeg_range"]) and _within(d["jpeg2"], cfg["jpeg_range2"])
        if d["final_sinc"]:
            assert _within(d["final_kernel"]["omega_c"], (math.pi / 3, math.pi))
        else:
            assert d["final_kernel"]["type"] == "pulse"


def test_kernels_are_valid(draws):
    for d in draws[:1500]:
        for name in ("kernel1", "kernel2", "final_kernel"):
            k = realesrgan.make_kernel(d[name])
            assert k.shape == (21, 21) and np.isfinite(k).all()
            assert abs(k.sum() - 1.0) < 1e-9, (d[name], k.sum())
            if d[name]["type"] != "sinc":  # sinc kernels ring (negative lobes) by design
                assert (k >= 0).all(), d[name]


def test_pulse_leaves_the_image_unchanged():
    x = torch.randint(0, 256, (1, 3, 32, 32)).double() / 255
    pulse = realesrgan.make_kernel({"type": "pulse", "size": 21})
    y = realesrgan.filter2d(x, pulse)
    assert torch.allclose(y, x, rtol=0, atol=1e-6)  # float32 FFT round-off only
    assert torch.equal((y * 255).round(), (x * 255).round())  # the 8-bit image is exactly unchanged


def test_filter_is_a_correlation_with_reflect_padding():
    x = torch.rand(1, 3, 30, 30, dtype=torch.float64)
    k = np.random.default_rng(0).random((21, 21))
    k /= k.sum()
    xp = torch.nn.functional.pad(x, (10, 10, 10, 10), mode="reflect")
    direct = torch.nn.functional.conv2d(xp, torch.from_numpy(k).expand(3, 1, 21, 21), groups=3)  # torch: correlation
    assert torch.allclose(realesrgan.filter2d(x, k), direct, atol=1e-6)


@pytest.mark.parametrize("size", [(32, 32), (36, 44), (256, 256), (400, 400), (140, 160)])  # patches and crops
def test_output_is_exactly_a_quarter(cfg, size):
    hr = np.random.default_rng(0).integers(0, 256, (*size, 3), dtype=np.uint8)
    full = {"method": "realesrgan", "realesrgan": cfg}
    for i in range(20):
        lr, _ = degrade.degrade(hr, 0, f"img{i}", full)
        assert lr.shape == (size[0] // 4, size[1] // 4, 3) and lr.dtype == np.uint8


def test_deterministic_per_seed_and_id(cfg):
    hr = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    full = {"method": "realesrgan", "realesrgan": cfg}
    a, pa = degrade.degrade(hr, 7, "x@0,0", full)
    b, pb = degrade.degrade(hr, 7, "x@0,0", full)
    c, _ = degrade.degrade(hr, 7, "x@0,4", full)
    assert a.tobytes() == b.tobytes() and pa == pb and a.tobytes() != c.tobytes()


def test_sizes_not_divisible_by_4_and_bad_probabilities_are_named(cfg):
    full = {"method": "realesrgan", "realesrgan": cfg}
    with pytest.raises(ValueError, match="not divisible by 4"):
        degrade.degrade(np.zeros((30, 32, 3), np.uint8), 0, "x", full)
    bad = {"method": "realesrgan", "realesrgan": dict(cfg, resize_prob=[0.5, 0.5, 0.5])}
    with pytest.raises(ValueError, match="degradation.realesrgan.resize_prob must sum to 1"):
        degrade.degrade(np.zeros((32, 32, 3), np.uint8), 0, "x", bad)


def test_first_resize_follows_scale_factor_semantics():
    """Real-ESRGAN's first order calls F.interpolate(out, scale_factor=scale): output floor(32 * 0.15) = 4 px, and
    bilinear output pixel i samples source coordinate (i + 0.5) / scale - 0.5 — on a horizontal ramp (value = x)
    exactly that coordinate. size=(4, 4) would sample (i + 0.5) * 8 - 0.5 instead (3.5, 11.5, ...)."""
    from cddbench.realesrgan_degradation import _rescale

    ramp = torch.arange(32, dtype=torch.float32).view(1, 1, 1, 32).repeat(1, 3, 32, 1)
    out = _rescale(ramp, 0.15, "bilinear")
    assert out.shape == (1, 3, 4, 4)
    expected = torch.tensor([(i + 0.5) / 0.15 - 0.5 for i in range(4)])  # 2.833, 9.5, 16.167, 22.833
    assert torch.allclose(out[0, 0, 0], expected, atol=1e-5)
    up = _rescale(ramp, 1.3, "bicubic")  # up: floor(32 * 1.3) = 41
    assert up.shape[-1] == 41
    area = _rescale(ramp, 0.5, "area")  # area at 0.5: means of 2x2 blocks
    assert torch.allclose(area[0, 0, 0], torch.arange(16, dtype=torch.float32) * 2 + 0.5)
