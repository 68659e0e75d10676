"""FID / KID (clean-fid), LPIPS (lpips), PSNR and SSIM, with labelled proxies when standard weights are absent.

Standard backend: clean-fid's torchscript Inception (``inception-2015-12-05.pt``) and LPIPS-AlexNet with
torchvision's ``alexnet-owt-7be5be79.pth``, both read from ``evaluate.weights_dir`` (never downloaded here).
Proxy backend (offline): a torchvision AlexNet with *seeded random* weights replaces both backbones:
  - ``fd_proxy`` / ``kd_proxy``: clean-fid's Frechet / kernel distance on the spatial means of the five AlexNet
    ReLU stages (1152 features) of images bicubic-resized to ``proxy_size``;
  - ``lpips_proxy``: the LPIPS formula without learned layer weights (``lpips.LPIPS(lpips=False, pnet_rand=True)``).
Proxies are deterministic and respond to blur and noise (tests/test_metrics.py), but their values are not
comparable to published FID / LPIPS and are never reported under those names.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

INCEPTION_FILE = "inception-2015-12-05.pt"
ALEXNET_FILE = "alexnet-owt-7be5be79.pth"
STAND_IN_MARKER = "STAND-IN.txt"  # in a weights folder of random stand-ins (the dress rehearsal's): backend "stand-in"
WEIGHT_URLS = {
    INCEPTION_FILE: "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt",
    ALEXNET_FILE: "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
}


@dataclass(frozen=True)
class Names:
    """Column names of one backend: the proxy never borrows the real metric's name."""
    fd: str
    kd: str
    lpips: str


STANDARD = Names("fid", "kid", "lpips")
PROXY = Names("fd_proxy", "kd_proxy", "lpips_proxy")


def resolve_backend(ecfg: dict) -> str:
    """'standard' or 'proxy' from ``evaluate.metric_backend`` (auto | standard | proxy) and the weights folder;
    'stand-in' where that folder holds random-weight stand-ins (``STAND_IN_MARKER``): the standard code path, every
    record labelled, numbers meaningless."""
    wanted, folder = ecfg["metric_backend"], ecfg.get("weights_dir") or ""
    present = all(os.path.isfile(os.path.join(folder, f)) for f in WEIGHT_URLS)
    if wanted == "standard" and not present:
        missing = [f for f in WEIGHT_URLS if not os.path.isfile(os.path.join(folder, f))]
        raise FileNotFoundError(
            f"invalid config at evaluate.weights_dir: metric_backend=standard needs {missing} in {folder!r}; "
            "run `snakemake --cores 1 download_metric_weights` on a machine with network, or use 'auto'/'proxy'.")
    if wanted == "auto":
        wanted = "standard" if present else "proxy"
    if wanted == "standard" and os.path.isfile(os.path.join(folder, STAND_IN_MARKER)):
        return "stand-in"
    return wanted


NOTES = {  # what a record / table says of its numbers, by backend
    "standard": None,
    "proxy": "fd_proxy/kd_proxy/lpips_proxy use a seeded random AlexNet (the standard Inception / AlexNet weights were "
             "not available); not comparable to published FID/LPIPS",
    "stand-in": "STAND-IN metric networks with random weights (a code-path rehearsal): the fid/kid/lpips columns are "
                "not FID/KID/LPIPS and mean nothing",
}


def names(backend: str) -> Names:
    # stand-ins run the standard code path, column names included; their records and tables say "stand-in"
    return PROXY if backend == "proxy" else STANDARD


# ---------------------------------------------------------------- feature extractors for FD / KD
class _AlexFeatures(torch.nn.Module):
    """Spatial means of AlexNet's five ReLU stages; input float 0-255 (clean-fid's convention)."""

    def __init__(self, features: torch.nn.Sequential, size: int):
        super().__init__()
        self.features, self.size = features.eval(), size
        self.taps = {1, 4, 7, 9, 11}  # indices of the ReLUs in torchvision's AlexNet.features
        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    @torch.no_grad()
    def forward(self, x):
        h = (x / 255.0 - self.mean) / self.std
        out = []
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in self.taps:
                out.append(h.mean(dim=(2, 3)))
        return torch.cat(out, dim=1)


@contextlib.contextmanager
def _classifier_left_uninitialised():
    """Skips ``nn.Linear``'s random init while AlexNet is built. torchvision's AlexNet (and lpips' copy of it) draws a
    58M-parameter classifier that no metric here uses: 0.3-0.8 s of CPU RNG per build (measured on one core), two
    builds per step count evaluated. It is built after ``features``, so no feature weight drawn from the seed changes
    (tests/test_metrics.py)."""
    reset = torch.nn.Linear.reset_parameters
    torch.nn.Linear.reset_parameters = lambda self: None
    try:
        yield
    finally:
        torch.nn.Linear.reset_parameters = reset


def random_alexnet(seed: int) -> torch.nn.Sequential:
    import torchvision

    with torch.random.fork_rng(devices=[]), _classifier_left_uninitialised():
        torch.manual_seed(seed)
        return torchvision.models.alexnet(weights=None).features.eval()


class FeatureSpace:
    """Images (uint8 N x H x W x 3) -> features, through clean-fid's resize convention."""

    def __init__(self, backend: str, ecfg: dict):
        from cleanfid.resize import make_resizer

        self.backend, self.device = backend, ecfg.get("device", "cpu")
        if backend != "proxy":
            from cleanfid.inception_torchscript import InceptionV3W

            self.model = InceptionV3W(ecfg["weights_dir"], download=False, resize_inside=False).eval()
            self.resize = make_resizer("PIL", False, "bicubic", (299, 299))  # clean-fid "clean" mode
        else:
            size = ecfg["proxy_size"]
            self.model = _AlexFeatures(random_alexnet(ecfg["proxy_seed"]), size)
            self.resize = make_resizer("PIL", False, "bicubic", (size, size))
        self.model.to(self.device)

    @torch.no_grad()
    def __call__(self, images: np.ndarray, batch_size: int = 100) -> np.ndarray:
        feats = []
        for i in range(0, len(images), batch_size):
            batch = np.stack([self.resize(im) for im in images[i : i + batch_size]])
            x = torch.from_numpy(batch).permute(0, 3, 1, 2).float().to(self.device)
            f = self.model(x)
            feats.append((f[0] if isinstance(f, tuple) else f).reshape(len(batch), -1).double().cpu().numpy())
        return np.concatenate(feats)


def frechet_distance(f1: np.ndarray, f2: np.ndarray) -> float:
    """clean-fid's FD (``fid_from_feats``) of two feature sets, in the span of their data where that is smaller than
    the feature dimension. Fewer images than features (Inception's 2048; the paper setting's ~600 test images, a small
    test set) make both covariances rank-deficient: every term of the FD lives in the span of the centred rows and the
    mean difference, so with an orthonormal basis Q of it (r columns) the features x Q give the same FD to rounding,
    with clean-fid's r x r matrix square root for its 2048 x 2048 one (scipy: ~30 s on one core of this machine at
    2048, whatever the rank; tests/test_metrics.py checks the two agree)."""
    from cleanfid.fid import fid_from_feats

    _sqrtm_with_disp()
    x, y = np.asarray(f1, np.float64), np.asarray(f2, np.float64)
    mx, my = x.mean(0), y.mean(0)
    span = np.concatenate([x - mx, y - my, (mx - my)[None]])
    if len(span) < x.shape[1]:
        q, _ = np.linalg.qr(span.T)  # d x r, r = n1 + n2 + 1
        x, y = x @ q, y @ q
    return float(fid_from_feats(x, y))


def _sqrtm_with_disp() -> None:
    """clean-fid 0.1.35 calls ``scipy.linalg.sqrtm(M, disp=False)`` and unpacks ``(sqrtm, error estimate)``; scipy
    1.18 removed ``disp`` (seen on a GPU machine: TypeError, every FD failed). Where it is gone, put back a
    ``sqrtm`` that takes it and returns what the old ``disp=False`` did (scipy's own error estimate: the relative
    Frobenius residual). No released clean-fid avoids the call, hence this."""
    import inspect

    from scipy import linalg

    if "disp" in inspect.signature(linalg.sqrtm).parameters or getattr(linalg.sqrtm, "_cddbench", False):
        return
    plain = linalg.sqrtm

    def sqrtm(a, disp=True, **kw):
        x = plain(a, **kw)
        if disp:
            return x
        return x, np.linalg.norm(x @ x - a, "fro") ** 2 / np.linalg.norm(a, "fro")

    sqrtm._cddbench = True
    linalg.sqrtm = sqrtm


def _frechet(mean_term: float, s1: np.ndarray, s2: np.ndarray) -> float:
    return float(mean_term + np.trace(s1) + np.trace(s2) - 2 * _trace_sqrt_product(s1, s2))


def _trace_sqrt_product(s1: np.ndarray, s2: np.ndarray) -> float:
    """tr sqrt(S1 S2) of two covariance matrices in ~0.2 s at d = 1152 on one core (clean-fid's sqrtm: 1.5-2 s).

    With S = U^T U for the one of lower rank (LAPACK's pivoted Cholesky, rank-revealing: a random AlexNet
    has dead features, and a small test set has fewer images than features), S1 S2 has the nonzero eigenvalues of
    U S' U^T (LAPACK's sygst, itype 2; S' the other one), a symmetric rank x rank matrix: one eigenvalue solve, no
    matrix square root, and no square roots of the rounding noise of zero eigenvalues outside the rank. On the
    default's features it is within 2e-6 relative of the exact value (docs/benchmarks.md); the reported FD stays
    clean-fid's, these feed the jackknife's leave-one-photo-out values only."""
    from scipy.linalg import eigh, lapack

    (u, p, rank), other = min(((_pivoted_cholesky(s1), s2), (_pivoted_cholesky(s2), s1)), key=lambda f: f[0][2])
    m, info = lapack.dsygst(np.ascontiguousarray(other[np.ix_(p, p)]), u, itype=2, lower=0)  # U S' U^T
    if info != 0:
        raise ValueError(f"U S U^T failed (LAPACK sygst info {info})")
    lam = eigh(m[:rank, :rank], lower=False, eigvals_only=True, check_finite=False)
    return float(np.sqrt(lam.clip(min=0)).sum())


def _pivoted_cholesky(s: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """(U, p, rank): s[p][:, p] = U^T U with U upper triangular, zero below its numerical rank (LAPACK's default
    tolerance, d * eps * max diagonal)."""
    from scipy.linalg import lapack

    c, piv, rank, info = lapack.dpstrf(s, lower=0)
    if info < 0:
        raise ValueError(f"pivoted Cholesky of a covariance failed (LAPACK info {info})")
    u = np.triu(c)
    u[rank:, rank:] = 0.0  # the unfactored remainder below the numerical rank
    return u, piv - 1, int(rank)


def photo_groups(photos) -> tuple[list[str], list[np.ndarray]]:
    """(names, indices): the test photographs in order of first appearance and the test-image indices of each. The
    photograph, not the patch, is the independent unit of the test set (``cddbench.paired``)."""
    photos = np.asarray(photos)
    names = list(dict.fromkeys(photos.tolist()))
    return names, [np.flatnonzero(photos == p) for p in names]


def leave_one_out_means(values: np.ndarray, groups: list[np.ndarray]) -> np.ndarray:
    """The mean of per-image values with each group (photograph) left out in turn: (n_groups,)."""
    values = np.asarray(values, dtype=np.float64).ravel()
    total, n = values.sum(), len(values)
    return np.array([(total - values[g].sum()) / (n - len(g)) for g in groups])


def frechet_distance_loo(f1: np.ndarray, f2: np.ndarray, groups: list[np.ndarray]) -> np.ndarray:
    """The Frechet distance with each group (photograph) left out of the outputs ``f1`` *and* the reference ``f2``
    (rows paired: output i is the sample of reference image i), for the delete-one-photo jackknife.

    Each leave-one-out covariance is the full one downdated by the group's rows (features centred once, so no
    cancellation); tr sqrt(S1 S2) by ``_trace_sqrt_product`` (0.2 s at d = 1152, where clean-fid's general matrix
    square root takes 1.5-2 s: one per test photograph per folder evaluated). tests/test_metrics.py checks every
    value against the FD of the rows kept."""
    if f1.shape != f2.shape:
        raise ValueError(f"leave-one-photo-out FD needs paired rows: outputs {f1.shape}, reference {f2.shape}")
    x, y = np.asarray(f1, np.float64), np.asarray(f2, np.float64)
    shift = x.mean(0) - y.mean(0)
    x, y = x - x.mean(0), y - y.mean(0)  # centred; the shift between the two means is put back below
    sx, sy, gx, gy = x.sum(0), y.sum(0), x.T @ x, y.T @ y
    out = []
    for g in groups:
        xg, yg, n = x[g], y[g], len(x) - len(g)
        mx, my = (sx - xg.sum(0)) / n, (sy - yg.sum(0)) / n
        s1 = (gx - xg.T @ xg - n * np.outer(mx, mx)) / (n - 1)
        s2 = (gy - yg.T @ yg - n * np.outer(my, my)) / (n - 1)
        out.append(_frechet(((mx + shift - my) ** 2).sum(), s1, s2))
    return np.array(out)


def kernel_distance(f1: np.ndarray, f2: np.ndarray, seed: int, num_subsets: int = 100,
                    max_subset_size: int = 1000, device: str = "cpu") -> float:
    """clean-fid's KID (cubic polynomial kernel, ``num_subsets`` subsets of <= 1000), with its subset draws from
    np.random seeded here. Written out because clean-fid recomputes the kernel on every subset (15 s at 2,000
    images); here the three kernel matrices are computed once, and every subset's block sum is v_x^T K v_y with
    0/1 membership vectors: all subsets in one matrix product. The same draws in the same order, so the same
    number to rounding (tests/test_metrics.py checks it against clean-fid). In float64 on ``device``."""
    keep = [(np.arange(len(f1)), np.arange(len(f2)))]
    return float(_kernel_distances(f1, f2, keep, seed, num_subsets, max_subset_size, device)[0])


def kernel_distance_loo(f1: np.ndarray, f2: np.ndarray, groups: list[np.ndarray], seed: int,
                        device: str = "cpu") -> tuple[float, np.ndarray]:
    """(``kernel_distance``, the same with each group (photograph) left out of the outputs and the paired reference):
    the kernel matrices once, each group's subsets drawn (from the same seed) among the images it keeps."""
    if f1.shape != f2.shape:
        raise ValueError(f"leave-one-photo-out KD needs paired rows: outputs {f1.shape}, reference {f2.shape}")
    everything = np.arange(len(f1))
    keep = [(everything, everything)] + [(k, k) for k in (np.setdiff1d(everything, g) for g in groups)]
    values = _kernel_distances(f1, f2, keep, seed, device=device)
    return float(values[0]), values[1:]


def _kernel_distances(f1, f2, keep, seed, num_subsets=100, max_subset_size=1000, device="cpu") -> np.ndarray:
    d = f1.shape[1]
    t1, t2 = (torch.from_numpy(np.asarray(a, np.float64)).to(device) for a in (f1, f2))
    kxx, kyy, kxy = ((a @ b.T / d + 1) ** 3 for a, b in ((t2, t2), (t1, t1), (t2, t1)))

    def block_sums(k, u, v):  # sum of k[i, j] over i in subset s of u, j in subset s of v, for every s
        return (u * (k @ v)).sum(dim=0)

    ms, vxs, vys = [], [], []
    for keep1, keep2 in keep:
        m = min(len(keep1), len(keep2), max_subset_size)
        rng = np.random.RandomState(seed)  # the global np.random stream clean-fid draws from, seeded, untouched
        vx, vy = np.zeros((len(f2), num_subsets)), np.zeros((len(f1), num_subsets))
        for s in range(num_subsets):  # clean-fid: x from feats2 first, then y from feats1
            vx[keep2[rng.choice(len(keep2), m, replace=False)], s] = 1.0
            vy[keep1[rng.choice(len(keep1), m, replace=False)], s] = 1.0
        ms.append(m)
        vxs.append(vx)
        vys.append(vy)
    # every keep's subsets in one product per kernel matrix (one wide GEMM runs ~2x faster than 15 narrow ones)
    vx, vy = (torch.from_numpy(np.concatenate(a, axis=1)).to(device) for a in (vxs, vys))
    off_diagonal = (block_sums(kxx, vx, vx) - vx.T @ kxx.diagonal()
                    + block_sums(kyy, vy, vy) - vy.T @ kyy.diagonal())
    cross = block_sums(kxy, vx, vy)
    out = []
    for i, m in enumerate(ms):
        part = slice(i * num_subsets, (i + 1) * num_subsets)
        t = off_diagonal[part] / (m - 1) - cross[part] * 2 / m
        out.append(float(t.sum().item() / num_subsets / m))
    return np.array(out)


# ---------------------------------------------------------------- LPIPS
class Lpips:
    def __init__(self, backend: str, ecfg: dict):
        import lpips

        self.size = ecfg.get("lpips_size")
        with torch.random.fork_rng(devices=[]), _classifier_left_uninitialised():
            torch.manual_seed(ecfg["proxy_seed"])
            if backend != "proxy":
                self.net = lpips.LPIPS(net="alex", pretrained=True, pnet_rand=True, verbose=False)
                state = torch.load(os.path.join(ecfg["weights_dir"], ALEXNET_FILE), map_location="cpu",
                                   weights_only=True)
                self._load_alexnet(state)
            else:
                self.net = lpips.LPIPS(net="alex", lpips=False, pnet_rand=True, verbose=False)
        self.device = ecfg.get("device", "cpu")
        self.net.eval().requires_grad_(False).to(self.device)

    def _load_alexnet(self, state: dict) -> None:
        # lpips splits torchvision's AlexNet.features into slice1..5 keeping the original layer indices
        slices = {0: 1, 3: 2, 6: 3, 8: 4, 10: 5}
        mapped = {f"net.slice{slices[int(k.split('.')[1])]}.{k.split('.', 1)[1]}": v
                  for k, v in state.items() if k.startswith("features.")}
        missing = set(mapped) - set(self.net.state_dict())
        if missing:
            raise ValueError(f"{ALEXNET_FILE}: unexpected layout ({sorted(missing)[:3]} ...)")
        self.net.load_state_dict(mapped, strict=False)

    def distance(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-image distance of image tensors in [-1, 1]; differentiable (a training loss may use it)."""
        if self.size:
            x, y = (F.interpolate(t, size=(self.size, self.size), mode="bicubic", align_corners=False) for t in (x, y))
        return self.net(x, y, normalize=False).flatten()

    @torch.no_grad()
    def __call__(self, a: np.ndarray, b: np.ndarray, batch_size: int = 100) -> np.ndarray:
        out = [self.distance(_to_unit(a[i : i + batch_size]).to(self.device),
                             _to_unit(b[i : i + batch_size]).to(self.device)).double().cpu().numpy()
               for i in range(0, len(a), batch_size)]
        return np.concatenate(out)


def _to_unit(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


# ---------------------------------------------------------------- pixel metrics
def psnr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-image PSNR (dB) of uint8 RGB images; identical images give +inf."""
    mse = ((a.astype(np.float64) - b.astype(np.float64)) ** 2).reshape(len(a), -1).mean(axis=1)
    with np.errstate(divide="ignore"):
        return 10 * np.log10(255.0**2 / mse)


def ssim(a: np.ndarray, b: np.ndarray, chunk: int = 256) -> np.ndarray:
    """Per-image SSIM of uint8 RGB images: scikit-image's ``structural_similarity(x, y, channel_axis=-1,
    data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)`` (Wang et al. 2004), the same
    arithmetic on a batch at once. Written out because scikit-image loops over images and channels in Python (2.9 s
    for 2,160 32 px patches, 0.2 s batched); its Gaussian filter is scipy's with sigma 0 on the image and channel
    axes, so every value equals scikit-image's (tests/test_metrics.py)."""
    from scipy.ndimage import gaussian_filter

    def blur(z):  # skimage.filters.gaussian(mode="reflect", truncate=3.5) on each image and channel
        return gaussian_filter(z, sigma=(0, 1.5, 1.5, 0), mode="reflect", truncate=3.5)

    c1, c2, pad = (0.01 * 255) ** 2, (0.03 * 255) ** 2, int(3.5 * 1.5 + 0.5)  # K1, K2; the 11-tap window's radius
    out = []
    for i in range(0, len(a), chunk):
        x, y = a[i : i + chunk].astype(np.float64), b[i : i + chunk].astype(np.float64)
        ux, uy = blur(x), blur(y)
        vx, vy, vxy = blur(x * x) - ux * ux, blur(y * y) - uy * uy, blur(x * y) - ux * uy
        s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
        s = s[:, pad:-pad, pad:-pad, :]
        # per channel, then over channels, as scikit-image averages (the same summation order: equal values)
        out.append(np.stack([s[..., ch].reshape(len(s), -1).mean(axis=1) for ch in range(s.shape[-1])], 1).mean(1))
    return np.concatenate(out)


def colour_error(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-image colour shift: the mean over R, G, B of |mean channel value of a - of b| (grey levels, 0-255).
    A conditioning that ignores the LR's colours shows here even where the texture metrics look fine."""
    ma = a.astype(np.float64).reshape(len(a), -1, a.shape[-1]).mean(axis=1)
    mb = b.astype(np.float64).reshape(len(b), -1, b.shape[-1]).mean(axis=1)
    return np.abs(ma - mb).mean(axis=1)


# ------------------------------------------------ image statistics (no reference needed)
def saturation(images: np.ndarray) -> np.ndarray:
    """Per-image mean HSV saturation, (max - min) / max over RGB (0 where max = 0): the paper's over-saturation."""
    x = images.astype(np.float64)
    hi, lo = x.max(axis=-1), x.min(axis=-1)
    sat = np.divide(hi - lo, hi, out=np.zeros_like(hi), where=hi > 0)
    return sat.reshape(len(images), -1).mean(axis=1)


def sharpness(images: np.ndarray) -> np.ndarray:
    """Per-image variance of the 4-neighbour Laplacian of the luma (0-255): falls as an image gets blurrier."""
    y = images.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    lap = y[:, 1:-1, :-2] + y[:, 1:-1, 2:] + y[:, :-2, 1:-1] + y[:, 2:, 1:-1] - 4 * y[:, 1:-1, 1:-1]
    return lap.reshape(len(images), -1).var(axis=1)


def download_weights(folder: str) -> dict:
    """Fetch the standard metric weights into ``folder`` (needs network; fails with the URL named offline)."""
    import urllib.request

    os.makedirs(folder, exist_ok=True)
    done = {}
    for name, url in WEIGHT_URLS.items():
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            done[name] = "present"
            continue
        try:
            with urllib.request.urlopen(url, timeout=60) as r, open(path + ".part", "wb") as f:
                f.write(r.read())
        except OSError as e:
            raise RuntimeError(f"could not download {url} into {folder}/ ({e}); copy {name} there by hand") from e
        os.replace(path + ".part", path)
        done[name] = "downloaded"
    return done
