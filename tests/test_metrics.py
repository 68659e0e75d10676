import numpy as np
import pytest
from PIL import Image, ImageFilter

from cddbench import data, metrics

ECFG = dict(metric_backend="proxy", weights_dir="", proxy_seed=0, proxy_size=64, lpips_size=64, batch_size=100)


@pytest.fixture(scope="module")
def hr():
    """200 natural 32x32 patches from two shipped photographs."""
    out = []
    for src in data.builtin_sources()[:2]:
        img, _ = data.load_rgb(src.path)
        out += [p for _, _, p in data.cut_patches(img, 32, 32)][:100]
    return np.stack(out)


@pytest.fixture(scope="module")
def space():
    return metrics.FeatureSpace("proxy", ECFG), metrics.Lpips("proxy", ECFG)


def _blur(images, s):
    return np.stack([np.asarray(Image.fromarray(x).filter(ImageFilter.GaussianBlur(s))) for x in images])


def _noise(images, s, seed=0):
    n = np.random.default_rng(seed).normal(0, s, images.shape)
    return np.clip(images + n, 0, 255).round().astype(np.uint8)


def nuclear_fd(f1, f2):
    """The FD with tr sqrt(S1 S2) as the nuclear norm of X Y^T / sqrt((n1 - 1)(n2 - 1)) (X, Y the centred features:
    S1 S2's nonzero eigenvalues are the squared singular values of X Y^T): exact where the covariances are singular,
    where clean-fid's sqrtm of their product is not (1e-4 relative off on the test below)."""
    x, y = f1 - f1.mean(0), f2 - f2.mean(0)
    nuclear = np.linalg.svd(x @ y.T, compute_uv=False).sum() / np.sqrt((len(x) - 1) * (len(y) - 1))
    return ((f1.mean(0) - f2.mean(0)) ** 2).sum() + (x**2).sum() / (len(x) - 1) + (y**2).sum() / (len(y) - 1) - 2 * nuclear


def test_the_leave_one_out_trace_is_exact(hr, space):
    """tr sqrt(S1 S2) by pivoted Cholesky + one symmetric eigenvalue solve (the leave-one-photo-out FDs) against the
    exact nuclear-norm form, on features with fewer images than dimensions (singular covariances), more images,
    and dead dimensions, either way round."""
    fs, _ = space
    f_ref, f = fs(hr), fs(_blur(hr, 1.0))
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 20)) + 0.3, rng.normal(1, 1.2, size=(250, 20))
    dead_a, dead_b = a.copy(), b.copy()
    dead_a[:, 3], dead_b[:, 3], dead_b[:, 5] = 0.0, 0.0, 2.0  # dead features: singular covariances of full row count
    for x, y in ((f, f_ref), (a, b), (dead_a, dead_b), (dead_b, dead_a)):
        s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
        fd = metrics._frechet(((x.mean(0) - y.mean(0)) ** 2).sum(), s1, s2)
        assert fd == pytest.approx(nuclear_fd(x, y), rel=1e-6)
    assert metrics._frechet(0.0, np.cov(a, rowvar=False), np.cov(a, rowvar=False)) == pytest.approx(0.0, abs=1e-10)


def test_ssim_is_scikit_image_s_per_image(hr):
    """The batched SSIM gives scikit-image's value for every image (Gaussian window, population covariance)."""
    from skimage.metrics import structural_similarity

    other = _noise(_blur(hr, 1.0), 8.0)
    want = [structural_similarity(x, y, channel_axis=-1, data_range=255, gaussian_weights=True, sigma=1.5,
                                  use_sample_covariance=False) for x, y in zip(hr, other)]
    got = metrics.ssim(hr, other, chunk=64)  # chunks that do not divide the 200 images
    assert got.shape == (len(hr),) and np.abs(got - want).max() < 1e-12


def _all(hr, other, space):
    fs, lp = space
    f_ref, f = fs(hr), fs(other)
    return {"fd": metrics.frechet_distance(f_ref, f), "kd": metrics.kernel_distance(f_ref, f, 0),
            "lpips": lp(hr, other).mean(), "psnr": metrics.psnr(hr, other).mean(), "ssim": metrics.ssim(hr, other).mean()}


def test_identical_sets_score_perfectly(hr, space):
    m = _all(hr, hr, space)
    assert abs(m["fd"]) < 1e-4 and abs(m["kd"]) < 1e-3 and m["lpips"] == 0.0  # sqrtm of a singular covariance: ~1e-6 error
    assert np.isinf(m["psnr"]) and m["ssim"] == pytest.approx(1.0)


@pytest.mark.parametrize("degrade,levels", [(_blur, [0.7, 1.5, 3.0]), (_noise, [4.0, 12.0, 36.0])])
def test_metrics_grow_monotonically_with_degradation(hr, space, degrade, levels):
    ms = [_all(hr, degrade(hr, s), space) for s in levels]
    for name in ("fd", "lpips"):
        vals = [m[name] for m in ms]
        assert 0 < vals[0] < vals[1] < vals[2], (name, vals)
    for name in ("psnr", "ssim"):
        vals = [m[name] for m in ms]
        assert vals[0] > vals[1] > vals[2], (name, vals)
    assert ms[0]["kd"] < ms[2]["kd"]  # KID is unbiased and noisy at small n: only the wide gap is asserted


def test_proxy_is_deterministic(hr, space):
    other = metrics.FeatureSpace("proxy", ECFG)
    assert np.array_equal(space[0](hr[:20]), other(hr[:20]))


def test_proxy_networks_are_torchvisions_random_alexnet_features(space):
    """Skipping the unused classifier's init leaves every feature weight as plain torchvision draws it from the seed,
    in both proxy networks (FD/KD's and LPIPS's), and nn.Linear's init works again afterwards."""
    import torch
    import torchvision

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(ECFG["proxy_seed"])
        plain = torchvision.models.alexnet(weights=None).features.state_dict()
    assert plain.keys() == space[0].model.features.state_dict().keys()
    for k, v in space[0].model.features.state_dict().items():
        assert torch.equal(v, plain[k]), k
    # lpips splits AlexNet.features into slice1..5, keeping torchvision's layer indices as the module names
    lpips_layers = {name: m for s in range(1, 6) for name, m in getattr(space[1].net.net, f"slice{s}").named_children()}
    for i in (0, 3, 6, 8, 10):
        assert torch.equal(lpips_layers[str(i)].weight, plain[f"{i}.weight"]), i
    torch.manual_seed(0)
    assert torch.nn.Linear(4, 4).weight.abs().sum() > 0 and torch.nn.Linear.reset_parameters.__name__ == "reset_parameters"


def test_backend_resolution_names_missing_weights(tmp_path):
    assert metrics.resolve_backend(dict(ECFG, metric_backend="auto", weights_dir=str(tmp_path))) == "proxy"
    with pytest.raises(FileNotFoundError, match="inception-2015-12-05.pt"):
        metrics.resolve_backend(dict(ECFG, metric_backend="standard", weights_dir=str(tmp_path)))
    assert metrics.names("proxy").fd == "fd_proxy" and metrics.names("standard").fd == "fid"


def test_standard_backend_loads_weights_from_the_folder(tmp_path, hr):
    """The standard path's wiring, without network: stand-in weight files with the real names and layouts."""
    import torch
    import torchvision

    torch.manual_seed(1)
    alex = torchvision.models.alexnet(weights=None).state_dict()
    torch.save(alex, tmp_path / metrics.ALEXNET_FILE)

    class Layers(torch.nn.Module):  # clean-fid's "clean" mode calls base.layers(x) -> B x 2048 x 1 x 1
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.mean(dim=(2, 3), keepdim=True).repeat(1, 683, 1, 1)[:, :2048]

    class InceptionStub(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = Layers()

        def forward(self, x: torch.Tensor, return_features: bool = True) -> torch.Tensor:
            return self.layers(x)

    torch.jit.save(torch.jit.script(InceptionStub()), str(tmp_path / metrics.INCEPTION_FILE))
    ecfg = dict(ECFG, metric_backend="auto", weights_dir=str(tmp_path))
    assert metrics.resolve_backend(ecfg) == "standard"
    lp = metrics.Lpips("standard", ecfg)
    loaded = lp.net.net.slice2.state_dict()["3.weight"]  # torchvision features.3 lives in lpips' slice2
    assert torch.equal(loaded, alex["features.3.weight"])
    feats = metrics.FeatureSpace("standard", ecfg)(hr[:4])
    assert feats.shape == (4, 2048)


def test_saturation_and_sharpness_measure_what_they_say(hr):
    grey = np.repeat(hr.mean(axis=-1, keepdims=True), 3, axis=-1).round().astype(np.uint8)
    mean = hr.mean(axis=-1, keepdims=True)
    vivid = np.clip(mean + 1.8 * (hr - mean), 0, 255).round().astype(np.uint8)  # colours pushed from grey
    sat = [metrics.saturation(x).mean() for x in (grey, hr, vivid)]
    assert sat[0] < 1e-3 < sat[1] < sat[2]
    sharp = [metrics.sharpness(_blur(hr, s)).mean() for s in (0.01, 1.0, 2.0)]
    assert sharp[0] > sharp[1] > sharp[2] > 0


def test_leave_one_photo_out_fd_and_kd_equal_their_values_on_the_rows_kept(hr, space):
    """Every leave-one-photo-out FD is the FD of the outputs and the reference without that photograph's rows (the
    downdated covariances are exact), and KD's is the same seeded KD on those rows."""
    fs, _ = space
    f_ref, f = fs(hr), fs(_blur(hr, 1.0))
    photos = np.repeat(["a", "b", "c", "d"], [30, 40, 50, len(hr) - 120])
    names, groups = metrics.photo_groups(photos)
    assert names == ["a", "b", "c", "d"] and [len(g) for g in groups] == [30, 40, 50, len(hr) - 120]
    got = metrics.frechet_distance_loo(f, f_ref, groups)
    # fewer images than features (here): singular covariances, checked against the exact nuclear-norm form (clean-fid's
    # sqrtm of their product is 1e-4 relative off it); on the 20-dim features below against clean-fid to 1e-9
    assert got == pytest.approx([nuclear_fd(np.delete(f, g, 0), np.delete(f_ref, g, 0)) for g in groups], rel=1e-6)
    rng = np.random.default_rng(0)
    small, small_ref = rng.normal(size=(len(hr), 20)) + 0.3, rng.normal(size=(len(hr), 20))
    assert metrics.frechet_distance_loo(small, small_ref, groups) == pytest.approx(
        [metrics.frechet_distance(np.delete(small, g, 0), np.delete(small_ref, g, 0)) for g in groups], rel=1e-9)

    full, kd = metrics.kernel_distance_loo(f, f_ref, groups, seed=3)
    assert full == metrics.kernel_distance(f, f_ref, 3)
    assert kd[1] == pytest.approx(metrics.kernel_distance(np.delete(f, groups[1], 0), np.delete(f_ref, groups[1], 0), 3),
                                  rel=1e-9)
    with pytest.raises(ValueError, match="paired rows"):
        metrics.frechet_distance_loo(f[:-1], f_ref, groups)


def test_leave_one_out_means_drop_each_group():
    values = np.array([1.0, 2.0, 3.0, 10.0])
    groups = metrics.photo_groups(["x", "x", "y", "z"])[1]
    assert metrics.leave_one_out_means(values, groups) == pytest.approx([13 / 2, 13 / 3, 6 / 3])


def test_colour_error_is_the_mean_channel_shift_in_grey_levels():
    from cddbench.metrics import colour_error

    rng = np.random.default_rng(0)
    hr = rng.integers(40, 200, (5, 16, 16, 3)).astype(np.uint8)
    shifted = hr.copy()
    shifted[..., 0] += 12  # red +12 grey levels everywhere: mean over R, G, B = 4
    assert np.allclose(colour_error(hr, hr), 0)
    assert np.allclose(colour_error(shifted, hr), 4.0)
    texture = hr[:, ::-1].copy()  # same pixels mirrored: the colours are kept, so no colour error
    assert np.allclose(colour_error(texture, hr), 0)


def test_frechet_distance_in_the_datas_span_equals_clean_fids_in_all_features():
    """Fewer images than features: the FD in the span of the data (frechet_distance) is clean-fid's FD in all d."""
    from cleanfid.fid import fid_from_feats

    metrics._sqrtm_with_disp()
    rng = np.random.default_rng(3)
    mix = rng.normal(size=(40, 256))  # correlated features, as a network's are
    f1 = rng.normal(size=(30, 40)) @ mix
    f2 = (rng.normal(size=(25, 40)) * 1.3 + 0.4) @ mix + 0.1
    assert metrics.frechet_distance(f1, f2) == pytest.approx(float(fid_from_feats(f1, f2)), rel=1e-6)
    many = rng.normal(size=(300, 20)), rng.normal(size=(300, 20)) + 0.3  # more images than features: clean-fid as is
    assert metrics.frechet_distance(*many) == float(fid_from_feats(*many))


def test_kernel_distance_equals_clean_fids_for_the_same_seed():
    from cleanfid.fid import kernel_distance as clean_kd

    rng = np.random.default_rng(1)
    f1, f2 = rng.normal(size=(120, 30)), rng.normal(size=(90, 30)) + 0.2
    np.random.seed(7)
    expected = clean_kd(f1, f2, num_subsets=20, max_subset_size=50)
    assert metrics.kernel_distance(f1, f2, 7, num_subsets=20, max_subset_size=50) == pytest.approx(expected, rel=1e-9)
    assert metrics.kernel_distance(f1, f2, 7) == metrics.kernel_distance(f1, f2, 7)  # seeded


def test_measure_images_keeps_per_image_and_leave_one_photo_out_values_beside_the_record(hr, space):
    from cddbench.evaluate import evaluate_images, measure_images

    blurred, ref = _blur(hr, 1.0), space[0](hr)
    photos = np.repeat(["p0", "p1", "p2"], [40, 40, len(hr) - 80])
    record, arrays = measure_images(blurred, hr, ref, "proxy", ECFG, seed=0, photos=photos)
    assert record == evaluate_images(blurred, hr, ref, "proxy", ECFG, seed=0)
    groups = metrics.photo_groups(photos)[1]
    assert list(arrays["photos"]) == ["p0", "p1", "p2"]
    for name in ("lpips_proxy", "psnr", "ssim", "colour_error", "saturation", "sharpness"):
        assert arrays[name].shape == (len(hr),) and record[name] == pytest.approx(arrays[name].mean())
        assert np.array_equal(arrays[f"{name}_loo"], metrics.leave_one_out_means(arrays[name], groups))
    assert arrays["fd_proxy_loo"] == pytest.approx(metrics.frechet_distance_loo(space[0](blurred), ref, groups))
    assert arrays["kd_proxy_loo"].shape == (3,) and not any(k.endswith("_ci_low") for k in record)
