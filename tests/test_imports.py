import subprocess
import sys


def test_package_makes_diffusers_lpips_cleanfid_importable():
    """torchvision 0.28.0 is a CUDA build whose ops are missing on CPU torch: the package shim must fix that."""
    code = ("import cddbench, diffusers, lpips, cleanfid, torchvision\n"
            "from diffusers import UNet2DModel, UNet2DConditionModel, AutoencoderKL, ControlNetModel\n"
            "assert torchvision.models.alexnet().features is not None\n"
            "print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")
