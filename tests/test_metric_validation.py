"""Metric validation (cddbench.metric_validation): every metric responds to graded distortions the way its name says, and
the distribution metrics are blind to pairing while the paired ones are not."""
import numpy as np
import pytest

from cddbench import data, metrics
from cddbench import metric_validation as validation

ECFG = dict(metric_backend="proxy", weights_dir="", proxy_seed=0, proxy_size=64, lpips_size=64, batch_size=100,
            bootstrap=0)


@pytest.fixture(scope="module")
def table():
    hr = []
    for src in data.builtin_sources()[:3]:  # 240 natural 32x32 patches of three shipped photographs
        img, _ = data.load_rgb(src.path)
        hr += [p for _, _, p in data.cut_patches(img, 32, 32)][:80]
    hr = np.stack(hr)
    ref = metrics.FeatureSpace("proxy", ECFG)(hr)
    return validation.validate_metrics(hr, ref, "proxy", ECFG, seed=0)


@pytest.mark.parametrize("family", ["blur", "noise", "jpeg"])
def test_every_metric_worsens_monotonically_with_strength(table, family):
    g = table[table["distortion"].isin(["none", family])].sort_values("strength")
    assert list(g["strength"]) == [0, 1, 2, 3]
    for col in ("fd_proxy", "kd_proxy", "lpips_proxy"):
        assert np.all(np.diff(g[col]) > 0), (col, list(g[col]))
    for col in ("psnr", "ssim"):
        assert np.all(np.diff(g[col].clip(upper=1e9)) < 0), (col, list(g[col]))


def test_a_colour_cast_shows_in_the_colour_error_in_grey_levels(table):
    g = table[table["distortion"] == "colour_cast"].sort_values("strength")
    # +L on R and -L on B (clipped at 0 / 255): the mean channel shift is at most 2L / 3
    assert np.all(np.diff(g["colour_error"]) > 0) and np.all(g["colour_error"] <= 2 * g["level"] / 3 + 1e-9)


def test_shuffled_hr_keeps_the_distribution_metrics_at_zero_and_the_paired_ones_catch_it(table):
    none, shuffled = (table[table["distortion"] == d].iloc[0] for d in ("none", "shuffled"))
    assert shuffled["fd_proxy"] == pytest.approx(none["fd_proxy"], abs=1e-6)  # the same set, permuted
    blur = table[(table["distortion"] == "blur") & (table["strength"] == 1)].iloc[0]
    assert shuffled["lpips_proxy"] > 2 * blur["lpips_proxy"] and shuffled["psnr"] < blur["psnr"] - 5


def test_the_shuffle_moves_every_image():
    hr = np.arange(50, dtype=np.uint8).reshape(50, 1, 1, 1).repeat(3, axis=3)
    out = validation.distort(hr, "shuffled", 0, seed=0)
    assert sorted(out[:, 0, 0, 0]) == list(range(50)) and (out[:, 0, 0, 0] != np.arange(50)).all()
