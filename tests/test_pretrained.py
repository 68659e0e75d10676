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


def test_pretrained_model_folder_loads_like_a_hub_id(repo, tmp_path):
    """A tiny Stable-Diffusion-layout folder (vae/, unet/, scheduler/ with SD's PNDMScheduler config and
    epsilon prediction), saved here and given as teacher.pretrained: the autoencoder and teacher stages copy
    exactly its weights, and the DDPM schedule keeps its betas and prediction type."""
    import torch
    from cddbench import models  # first: the torchvision shim diffusers needs
    from diffusers import AutoencoderKL, PNDMScheduler

    torch.manual_seed(0)
    src = tmp_path / "tiny-sd"
    unet = models.build_unet(dict(block_out_channels=[16, 32], layers_per_block=1, attention_levels=1,
                                  cross_attention_dim=8, attention_head_dim=8, norm_num_groups=8), 8, 4)
    vae = AutoencoderKL(block_out_channels=(8, 8), down_block_types=("DownEncoderBlock2D",) * 2,
                        up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4, norm_num_groups=8,
                        layers_per_block=1, scaling_factor=0.18215)
    unet.save_pretrained(src / "unet")
    vae.save_pretrained(src / "vae")
    PNDMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, skip_prk_steps=True,
                  prediction_type="epsilon").save_pretrained(src / "scheduler")

    with open(f"{repo}/config.yaml") as f:
        cfg = yaml.safe_load(f)
    cfg["teacher"]["pretrained"] = str(src)
    assert pretrain.train_autoencoder(cfg, "unused", str(tmp_path / "ae"), str(tmp_path / "ae.csv")) == {"source": str(src)}
    info = pretrain.train_teacher(cfg, "unused", str(tmp_path / "ae"), str(tmp_path / "teacher"), str(tmp_path / "t.csv"))
    assert info["source"] == str(src) and info["params"] == models.count_params(unet)

    loaded_vae = models.load_autoencoder(str(tmp_path / "ae"))
    loaded_unet = models.load_unet(str(tmp_path / "teacher" / "unet"))
    for mine, theirs in ((loaded_vae, vae), (loaded_unet, unet)):
        a, b = mine.state_dict(), theirs.state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert loaded_vae.config.scaling_factor == 0.18215  # the model's own latent scale, not re-estimated
    sched = models.load_scheduler(str(tmp_path / "teacher"))
    assert type(sched).__name__ == "DDPMScheduler" and sched.config.prediction_type == "epsilon"
    torch.testing.assert_close(sched.betas, PNDMScheduler.from_pretrained(src / "scheduler").betas)
