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


def _tiny_text_encoder(folder, dim):
    """A CLIP tokenizer (a 5-token vocabulary) and text encoder of width ``dim``, saved as SD lays them out."""
    import json

    from cddbench import models  # noqa: F401  (first: transformers imports torchvision)
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    vocab, merges = folder / "vocab.json", folder / "merges.txt"
    vocab.write_text(json.dumps({"<|startoftext|>": 0, "<|endoftext|>": 1, "a</w>": 2, "a": 3, "b</w>": 4}))
    merges.write_text("#version: 0.2\n")
    CLIPTokenizer(str(vocab), str(merges), model_max_length=77).save_pretrained(folder / "tokenizer")
    encoder = CLIPTextModel(CLIPTextConfig(vocab_size=5, hidden_size=dim, intermediate_size=2 * dim, num_hidden_layers=1,
                                           num_attention_heads=2, max_position_embeddings=77, bos_token_id=0,
                                           eos_token_id=1, pad_token_id=1))
    encoder.save_pretrained(folder / "text_encoder")
    return encoder


def test_the_empty_prompt_is_encoded_once_and_travels_with_every_model_built_on_the_teacher(repo, tmp_path):
    import torch
    from cddbench import models
    from cddbench.methods.cdd import build
    from cddbench.methods.common import TrainingSet
    from diffusers import DDPMScheduler

    torch.manual_seed(0)
    src = tmp_path / "tiny-sd"
    models.build_unet(dict(block_out_channels=[16, 32], layers_per_block=1, attention_levels=1, cross_attention_dim=8,
                           attention_head_dim=8, norm_num_groups=8), 8, 4).save_pretrained(src / "unet")
    DDPMScheduler(prediction_type="epsilon").save_pretrained(src / "scheduler")
    encoder = _tiny_text_encoder(src, 8)
    with open(f"{repo}/config.yaml") as f:
        cfg = yaml.safe_load(f)
    cfg["teacher"].update(pretrained=str(src), prompt="")
    pretrain.train_teacher(cfg, "unused", "unused", str(tmp_path / "teacher"), str(tmp_path / "t.csv"))

    teacher = models.load_unet(str(tmp_path / "teacher" / "unet"))
    with torch.no_grad():  # "" -> <start> <end> <pad>...: SD's unconditional input
        expected = encoder(torch.tensor([[0] + [1] * 76]))[0]
    torch.testing.assert_close(teacher.prompt_embedding, expected)
    torch.testing.assert_close(models.null_embedding(teacher, 3), expected.expand(3, -1, -1))
    # LDM-SR / CM / GD (extra input channels), CDD (ControlNet around a copy, or a random backbone): same text input
    ldm = models.add_condition_channels(teacher, 3)
    models.save_model(ldm, str(tmp_path / "ldm_sr" / "unet"))
    torch.testing.assert_close(models.load_unet(str(tmp_path / "ldm_sr" / "unet")).prompt_embedding, expected)
    ts = TrainingSet(None, teacher, None, torch.zeros(1, 4, 8, 8), torch.zeros(1, 3, 8, 8), None)
    mcfg = yaml.safe_load(open(f"{repo}/config.yaml"))["methods"]["cdd"]
    for init in ("pretrained", "random"):
        net = build(ts, {**mcfg, "init": init})
        net.save(str(tmp_path / f"cdd-{init}"))
        loaded = models.AdaptedUNet.load(str(tmp_path / f"cdd-{init}"))
        torch.testing.assert_close(models.null_embedding(loaded.unet, 2), expected.expand(2, -1, -1))


def test_a_prompt_without_a_pretrained_text_model_is_refused(repo):
    from cddbench import config

    with open(f"{repo}/config.yaml") as f:
        cfg = yaml.safe_load(f)
    cfg["teacher"]["pretrained"] = None  # the default ships a teacher; the check is about having none
    cfg["teacher"]["prompt"] = ""
    with pytest.raises(ValueError, match="teacher.prompt: a prompt needs teacher.pretrained"):
        config.validate(cfg)
