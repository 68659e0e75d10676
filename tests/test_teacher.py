"""The shipped tiny teacher (workflow/pretrained/tiny-teacher): plain diffusers loading, and its training data
checked against the config so that no test photo can leak into it."""
import copy
import json
import os
import subprocess
import sys

import pytest
import torch
import yaml

from cddbench import config, provenance

TEACHER = "workflow/pretrained/tiny-teacher"


@pytest.fixture(scope="module")
def default(repo):
    with open(f"{repo}/config.yaml") as f:
        cfg = yaml.safe_load(f)
    cfg["teacher"]["pretrained"] = os.path.join(repo, TEACHER)  # absolute: the tests may run from anywhere
    return cfg


def test_the_default_loads_the_shipped_teacher():
    with open(os.path.join(os.path.dirname(__file__), "..", "config.yaml")) as f:
        assert yaml.safe_load(f)["teacher"]["pretrained"] == TEACHER


def test_shipped_teacher_loads_with_plain_diffusers(repo):
    from cddbench import models  # noqa: F401  (the torchvision shim diffusers needs here)
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel

    root = os.path.join(repo, TEACHER)
    vae = AutoencoderKL.from_pretrained(root, subfolder="vae")
    unet = UNet2DConditionModel.from_pretrained(root, subfolder="unet")
    sched = DDPMScheduler.from_pretrained(root, subfolder="scheduler")
    assert sched.config.prediction_type == "v_prediction"
    with torch.no_grad():
        z = vae.encode(torch.zeros(1, 3, 32, 32)).latent_dist.mode()
        out = unet(z, torch.tensor([500]), torch.zeros(1, 1, unet.config.cross_attention_dim)).sample
    assert z.shape == (1, unet.config.in_channels, 8, 8) and out.shape == z.shape and torch.isfinite(out).all()
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs)
    assert size < 40e6  # a few tens of MB at most, committed to the repository
    card = open(os.path.join(root, "README.md")).read()
    assert "configs/pretrain.yaml" in card and "SHA-256" in card


def test_recorded_training_photos_equal_the_configs_training_split(default, repo):
    with open(os.path.join(repo, TEACHER, provenance.TRAINING_DATA)) as f:
        recorded = json.load(f)
    wanted = provenance.training_data(default)
    assert recorded == json.loads(json.dumps(wanted))
    names = {p.name for p in __import__("cddbench.photos").photos.PHOTOS}
    assert len(recorded["photos"]) == 51 and len(names - set(recorded["photos"])) == 41  # no test photo trained it
    assert "exactly the config's 51 training photos" in provenance.check_exported_teacher(default)


@pytest.mark.parametrize("change,expected", [
    ({"test_fraction": 0.6}, "not in the config's training split (a test photo would leak)"),
    ({"split_by": "package", "test_sources": ["mate-backgrounds"]}, "data.split_by: the teacher was trained with"),
    ({"source": "builtin", "test_sources": ["astronaut"]}, "data.source: the teacher was trained with 'debian-photos'"),
    ({"patch_size": 64}, "data.patch_size: the teacher was trained with 32"),
    ({"downsample": 2}, "data.downsample"),
    ({"test_fraction": 0.3}, "training photos the teacher never saw: ["),
    ({"crop_size": 200}, "data.crop_size: the teacher was trained with 400"),
])
def test_a_config_whose_training_data_differ_is_rejected(default, change, expected):
    cfg = copy.deepcopy(default)
    cfg["data"].update(change)
    with pytest.raises(ValueError, match="invalid config at teacher.pretrained") as err:
        config.validate(cfg)
    assert expected in str(err.value), str(err.value)


def test_the_domain_shift_overlay_holds_out_a_package_and_brings_its_own_teacher(default, repo):
    cfg = copy.deepcopy(default)
    with open(f"{repo}/configs/domain_shift.yaml") as f:
        overlay = yaml.safe_load(f)
    config.merge(cfg, overlay)
    train = provenance.training_photos(cfg)
    assert len(train) == 92 - 14 and not any(n.endswith(("_by_Aitzol_Berasategi", "_by_Peter_Nerlich")) for n in train)
    config.validate(cfg)  # teacher.pretrained: null in the overlay: trained in the DAG on exactly these photos
    cfg["teacher"]["pretrained"] = default["teacher"]["pretrained"]  # the shipped one saw some held-out photos
    with pytest.raises(ValueError, match="a test photo would leak"):
        config.validate(cfg)


@pytest.mark.parametrize("change", [{"rescale_betas_zero_snr": False}, {"beta_end": 0.02}])
def test_a_config_whose_schedule_differs_from_the_shipped_teachers_is_rejected(default, change):
    cfg = copy.deepcopy(default)
    cfg["teacher"]["schedule"].update(change)
    (key, value), = change.items()
    with pytest.raises(ValueError, match=f"invalid config at teacher.pretrained: .*teacher.schedule.{key}: the teacher "
                                         f"was trained with .*, the config has {value}"):
        config.validate(cfg)
    config.validate(default)  # the default's schedule is the shipped teacher's


def test_snakemake_rejects_a_mismatched_teacher_before_any_job(repo, tmp_path):
    overlay = tmp_path / "leak.yaml"
    overlay.write_text(yaml.safe_dump({"teacher": {"pretrained": os.path.join(repo, TEACHER)},
                                       "data": {"test_fraction": 0.6}}))
    out = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", "-s", f"{repo}/Snakefile", "-d",
                          str(tmp_path), "--configfile", f"{repo}/config.yaml", str(overlay)],
                         capture_output=True, text=True, timeout=300)
    log = out.stdout + out.stderr
    assert out.returncode != 0 and "invalid config at teacher.pretrained" in log and "would leak" in log, log[-2000:]
    assert not (tmp_path / "results").exists()  # no job ran
