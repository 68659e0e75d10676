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


def test_the_snakefile_parse_and_the_light_modules_import_no_torch(repo):
    """config validation (the Snakefile's parse: schema, photo list, the shipped teacher's provenance), the method
    registry and the paper's tables import no torch or diffusers; torchvision still imports afterwards (the shim
    runs before its first import)."""
    code = ("import sys, yaml; from cddbench import config, methods, paper, provenance, photos, data; "
            f"cfg = config.validate(yaml.safe_load(open('{repo}/config.yaml'))); config.runs(cfg); "
            "heavy = [m for m in ('torch', 'diffusers', 'lpips', 'cleanfid') if m in sys.modules]; "
            "assert not heavy, heavy; import diffusers.models, lpips, torchvision; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
