import pytest
import yaml

from cddbench import pretrain


def test_missing_pretrained_teacher_fails_early_and_names_the_key(repo, tmp_path):
    with open(f"{repo}/config.yaml") as f:
        cfg = yaml.safe_load(f)
    cfg["teacher"]["pretrained"] = str(tmp_path / "no-such-model")
    with pytest.raises(RuntimeError, match="teacher.pretrained=.*no-such-model.*vae/"):
        pretrain.train_autoencoder(cfg, str(tmp_path), str(tmp_path / "out"), str(tmp_path / "log.csv"))
    cfg["teacher"]["pretrained"] = "some-org/some-latent-diffusion"  # a hub id, offline (HF_HUB_OFFLINE=1)
    with pytest.raises(RuntimeError, match="network"):
        pretrain.train_teacher(cfg, str(tmp_path), str(tmp_path), str(tmp_path / "t"), str(tmp_path / "log.csv"))
