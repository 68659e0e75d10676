"""Real-ESRGAN's second-order degradation (Wang et al. 2021), on CPU with numpy / torch / PIL.

Written here because BasicSR (where it lives) does not import on this torch: it needs a torchvision module
that no longer exists. Defaults are those of Real-ESRGAN's ``train_realesrnet_x4plus.yml``
(``config.yaml: degradation.realesrgan``). Every random decision is drawn up front by ``draw_params`` into a
JSON-able record (saved beside each test image); ``apply`` is then deterministic. Known differences from
BasicSR: JPEG goes through PIL at an integer quality (BasicSR's DiffJPEG takes a float quality), and blur uses
replicate padding where the image is too small for reflect padding (only tiny patches hit this).
"""
from __future__ import annotations

import io
import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from scipy import special

SCALE = 4
MODES = ("area", "bilinear", "bicubic")
DIRECTIONS = ("up", "down", "keep")
KERNEL_PAD = 21  # every kernel is padded to 21x21, as in Real-ESRGAN


# ----------------------------------------------------------------------------- drawing (all randomness)
def check(c: dict) -> None:
    """What the JSON schema cannot say: probability lists sum to 1 and match their lists; ranges are ordered."""
    key = "degradation.realesrgan"
    if len(c["kernel_prob"]) != len(c["kernel_list"]):
        raise ValueError(f"{key}.kernel_prob has {len(c['kernel_prob'])} entries for {len(c['kernel_list'])} kernels")
    for name in ("kernel_prob", "resize_prob", "resize_prob2"):
        if abs(sum(c[name]) - 1.0) > 1e-6:
            raise ValueError(f"{key}.{name} must sum to 1, got {sum(c[name])}")
    for name, value in c.items():
        if name.endswith(("range", "range2", "sigma", "sigma2", "rotation")) or name.startswith("beta"):
            if value[0] > value[1]:
                raise ValueError(f"{key}.{name} = {value}: the low end is above the high end")


def _uniform(rng, lo_hi) -> float:
    return float(rng.uniform(lo_hi[0], lo_hi[1]))


def _beta(rng, lo_hi) -> float:
    # BasicSR: half the draws below 1, half above (the range is assumed to straddle 1)
    return _uniform(rng, (lo_hi[0], 1.0)) if rng.uniform() < 0.5 else _uniform(rng, (1.0, lo_hi[1]))


def draw_kernel(rng, c: dict, sigma: list, betag: list, sinc_prob: float) -> dict:
    size = int(rng.choice(c["kernel_sizes"]))
    if rng.uniform() < sinc_prob:
        cutoff = (math.pi / 3, math.pi) if size < 13 else (math.pi / 5, math.pi)
        return {"type": "sinc", "size": size, "omega_c": _uniform(rng, cutoff)}
    kind = str(rng.choice(c["kernel_list"], p=c["kernel_prob"]))
    sx = _uniform(rng, sigma)
    if kind.endswith("iso") and not kind.endswith("aniso"):
        sy, rot = sx, 0.0
    else:
        sy, rot = _uniform(rng, sigma), _uniform(rng, c["rotation"])
    k = {"type": kind, "size": size, "sigma_x": sx, "sigma_y": sy, "rotation": rot}
    if kind.startswith("generalized"):
        k["beta"] = _beta(rng, betag)
    elif kind.startswith("plateau"):
        k["beta"] = _beta(rng, c["betap"])
    return k


def _draw_resize(rng, probs, scale_range) -> dict:
    direction = str(rng.choice(DIRECTIONS, p=probs))
    scale = {"up": lambda: _uniform(rng, (1.0, scale_range[1])), "down": lambda: _uniform(rng, (scale_range[0], 1.0)),
             "keep": lambda: 1.0}[direction]()
    return {"direction": direction, "scale": scale, "mode": str(rng.choice(MODES))}


def _draw_noise(rng, gaussian_prob, sigma, poisson_scale, gray_prob) -> dict:
    gray = bool(rng.uniform() < gray_prob)
    if rng.uniform() < gaussian_prob:
        return {"kind": "gaussian", "sigma": _uniform(rng, sigma), "gray": gray}
    return {"kind": "poisson", "scale": _uniform(rng, poisson_scale), "gray": gray}


def draw_params(rng: np.random.Generator, c: dict) -> dict:
    """Every random choice of one degradation, drawn from ``rng`` in a fixed order."""
    p = {
        "kernel1": draw_kernel(rng, c, c["blur_sigma"], c["betag"], c["sinc_prob"]),
        "resize1": _draw_resize(rng, c["resize_prob"], c["resize_range"]),
        "noise1": _draw_noise(rng, c["gaussian_noise_prob"], c["noise_range"], c["poisson_scale_range"],
                              c["gray_noise_prob"]),
        "jpeg1": int(round(_uniform(rng, c["jpeg_range"]))),
        "blur2": bool(rng.uniform() < c["second_blur_prob"]),
        "kernel2": draw_kernel(rng, c, c["blur_sigma2"], c["betag2"], c["sinc_prob2"]),
        "resize2": _draw_resize(rng, c["resize_prob2"], c["resize_range2"]),
        "noise2": _draw_noise(rng, c["gaussian_noise_prob2"], c["noise_range2"], c["poisson_scale_range2"],
                              c["gray_noise_prob2"]),
        "final_order": "resize_first" if rng.uniform() < 0.5 else "jpeg_first",
        "final_mode": str(rng.choice(MODES)),
        "final_sinc": bool(rng.uniform() < c["final_sinc_prob"]),
        "jpeg2": int(round(_uniform(rng, c["jpeg_range2"]))),
        "noise_seed": int(rng.integers(0, 2**62)),
    }
    size = int(rng.choice(c["kernel_sizes"]))
    p["final_kernel"] = ({"type": "sinc", "size": size, "omega_c": _uniform(rng, (math.pi / 3, math.pi))}
                         if p["final_sinc"] else {"type": "pulse", "size": KERNEL_PAD})
    return p


# ----------------------------------------------------------------------------- kernels
def _grid(size: int) -> np.ndarray:
    ax = np.arange(-(size // 2), size // 2 + 1, dtype=np.float64)
    xx, yy = np.meshgrid(ax, ax)
    return np.stack([xx, yy], axis=-1)


def _quadratic_form(k: dict) -> np.ndarray:
    """x^T Sigma^-1 x on the kernel grid, Sigma = R diag(sx^2, sy^2) R^T."""
    c, s = math.cos(k["rotation"]), math.sin(k["rotation"])
    rot = np.array([[c, -s], [s, c]])
    sigma = rot @ np.diag([k["sigma_x"] ** 2, k["sigma_y"] ** 2]) @ rot.T
    g = _grid(k["size"])
    return np.einsum("...i,ij,...j->...", g, np.linalg.inv(sigma), g)


def sinc_kernel(size: int, omega_c: float) -> np.ndarray:
    """Circular low-pass (2-D sinc) kernel: omega_c J1(omega_c r) / (2 pi r)."""
    r = np.hypot(*np.moveaxis(_grid(size), -1, 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        k = omega_c * special.j1(omega_c * r) / (2 * np.pi * r)
    k[size // 2, size // 2] = omega_c**2 / (4 * np.pi)
    return k / k.sum()


def make_kernel(k: dict) -> np.ndarray:
    """The 21x21 kernel (zero-padded) described by a drawn record; sums to 1."""
    kind = k["type"]
    if kind == "pulse":
        out = np.zeros((k["size"], k["size"]))
        out[k["size"] // 2, k["size"] // 2] = 1.0
    elif kind == "sinc":
        out = sinc_kernel(k["size"], k["omega_c"])
    else:
        q = _quadratic_form(k)
        if kind in ("iso", "aniso"):
            out = np.exp(-0.5 * q)
        elif kind.startswith("generalized"):
            out = np.exp(-0.5 * np.power(q, k["beta"]))
        elif kind.startswith("plateau"):
            out = 1.0 / (np.power(q, k["beta"]) + 1.0)
        else:
            raise ValueError(f"unknown kernel type {kind!r}")
        out = out / out.sum()
    pad = (KERNEL_PAD - out.shape[0]) // 2
    return np.pad(out, pad) if pad > 0 else out


# ----------------------------------------------------------------------------- applying
def filter2d(x: torch.Tensor, kernel: np.ndarray) -> torch.Tensor:
    """Per-channel 2-D correlation (as BasicSR's filter2D) with reflect padding (replicate where the image is too
    small to reflect). Through the FFT in float32: 5x faster than torch's depthwise conv2d for 21x21 kernels on
    one core; round-off ~1e-7, far below the 8-bit step (4e-3) of the output."""
    from scipy.signal import fftconvolve

    pad = kernel.shape[-1] // 2
    mode = "reflect" if min(x.shape[-2:]) > pad else "replicate"
    xp = F.pad(x, (pad, pad, pad, pad), mode=mode)[0].float().numpy()
    out = fftconvolve(xp, np.ascontiguousarray(kernel[None, ::-1, ::-1], dtype=np.float32), mode="valid", axes=(1, 2))
    return torch.from_numpy(out).to(x.dtype)[None]


def _resize(x: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """Resize to ``size`` (Real-ESRGAN's second-order and final resizes)."""
    size = (max(1, size[0]), max(1, size[1]))
    return F.interpolate(x, size=size, mode=mode) if mode == "area" else F.interpolate(x, size=size, mode=mode,
                                                                                     align_corners=False)


def _rescale(x: torch.Tensor, scale: float, mode: str) -> torch.Tensor:
    """Resize by ``scale`` as Real-ESRGAN's first order does (``F.interpolate(out, scale_factor=scale, mode=mode)``):
    the output is floor(side * scale) and, for bilinear/bicubic, source coordinates are (i + 0.5) / scale - 0.5,
    i.e. the grid is set by ``scale`` itself, not by the ratio of the rounded sizes (which ``size=`` would use:
    up to ~17% apart on a 32 px patch at scale 0.15)."""
    if int(x.shape[-2] * scale) < 1 or int(x.shape[-1] * scale) < 1:  # a tiny patch at a small scale: one pixel
        return _resize(x, (1, 1), mode)
    if mode == "area":
        return F.interpolate(x, scale_factor=scale, mode=mode)
    return F.interpolate(x, scale_factor=scale, mode=mode, align_corners=False)


def _gray(x: torch.Tensor) -> torch.Tensor:
    w = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype).view(1, 3, 1, 1)
    return (x * w).sum(dim=1, keepdim=True)


def _add_noise(x: torch.Tensor, n: dict, g: torch.Generator) -> torch.Tensor:
    if n["kind"] == "gaussian":
        shape = (x.shape[0], 1 if n["gray"] else x.shape[1], *x.shape[2:])
        noise = torch.randn(shape, generator=g, dtype=x.dtype) * n["sigma"] / 255.0
    else:  # Poisson noise at the image's own number of grey levels (rounded up to a power of two), as BasicSR
        base = _gray(x) if n["gray"] else x
        grey = (base * 255.0).round().clamp(0, 255)
        distinct = int(np.count_nonzero(np.bincount(grey.to(torch.uint8).flatten().numpy(), minlength=256)))
        base = grey / 255.0
        levels = 2 ** math.ceil(math.log2(max(distinct, 2)))  # = torch.unique count, without the sort
        noise = (torch.poisson(base * levels, generator=g) / levels - base) * n["scale"]
    return (x + noise).clamp(0, 1)  # expand_as via broadcasting for gray noise


def _jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    img = (x[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=int(quality))
    out = np.asarray(Image.open(buf).convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(out).permute(2, 0, 1)[None]


def apply(hr: np.ndarray, p: dict) -> np.ndarray:
    """Degrade one uint8 HxWx3 HR image with drawn parameters ``p`` into uint8 (H/4)x(W/4)x3."""
    h, w = hr.shape[:2]
    if h % SCALE or w % SCALE:
        raise ValueError(f"HR size {w}x{h} is not divisible by {SCALE}")
    g = torch.Generator().manual_seed(p["noise_seed"])
    x = torch.from_numpy(np.ascontiguousarray(hr)).permute(2, 0, 1)[None].float() / 255.0
    # first order
    x = filter2d(x, make_kernel(p["kernel1"]))
    x = _rescale(x, p["resize1"]["scale"], p["resize1"]["mode"])
    x = _jpeg(_add_noise(x, p["noise1"], g), p["jpeg1"])
    # second order
    if p["blur2"]:
        x = filter2d(x, make_kernel(p["kernel2"]))
    s = p["resize2"]["scale"]
    x = _resize(x, (int(h / SCALE * s), int(w / SCALE * s)), p["resize2"]["mode"])
    x = _add_noise(x, p["noise2"], g)
    # final: resize to the LR size, sinc filter and JPEG, in one of two orders
    def final_resize_and_sinc(x):
        x = _resize(x, (h // SCALE, w // SCALE), p["final_mode"])
        # the identity pulse (p = 1 - final_sinc_prob) is skipped: exactly what filtering with it means
        return x if p["final_kernel"]["type"] == "pulse" else filter2d(x, make_kernel(p["final_kernel"]))

    if p["final_order"] == "resize_first":
        x = _jpeg(final_resize_and_sinc(x), p["jpeg2"])
    else:
        x = final_resize_and_sinc(_jpeg(x, p["jpeg2"]))
    return (x[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()


def degrade_realesrgan(hr: np.ndarray, rng: np.random.Generator, cfg: dict) -> tuple[np.ndarray, dict]:
    check(cfg)
    p = draw_params(rng, cfg)
    return apply(hr, p), p
