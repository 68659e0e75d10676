"""The dress rehearsal's stand-ins for what configs/paper.yaml downloads (configs/rehearsal.yaml reads them):

- ``sd-tiny/``: a Stable-Diffusion-1.5-shaped model folder with random weights, written by diffusers'
  ``StableDiffusionPipeline.save_pretrained``: UNet2DConditionModel with SD's block types (cross-attention at the
  three finest levels), AutoencoderKL with 4 latent channels and a factor of 8, SD's PNDM scheduler config, and a
  CLIP text encoder and tokenizer built from configs (a byte-level vocabulary, no merges): nothing is downloaded.
- ``div2k-tiny/``: a few images in the on-disk form of the hub's DIV2K (parquet shards ``data/<split>-*.parquet``
  with an ``image`` column), cut from photographs inside the installed wheels, read by ``data.source: hub:<folder>``.
- ``metric-weights/``: RANDOM-WEIGHT STAND-INS for the standard metric networks under their file names (a small
  TorchScript network with clean-fid's Inception interface, 2048 features of a 299 px image; torchvision's AlexNet
  convolutional layers, which LPIPS loads) and the marker file ``STAND-IN.txt``, which makes ``cddbench.metrics``
  label every number made with them ``stand-in`` (test only).

    python workflow/scripts/rehearsal_assets.py rehearsal

Every weight is drawn from torch's generator seeded with ``--seed``.
"""
from __future__ import annotations

import argparse
import json
import os

import torch
from PIL import Image

from cddbench import data, metrics

PHOTOS = {"train": ["astronaut", "coffee", "china", "grace_hopper"], "validation": ["chelsea", "rocket"]}
SIDE = 256  # px: each rehearsal image, two 128 px crops a side (DIV2K's images are ~2K)


def write_model(out: str, seed: int) -> None:
    from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer
    from tokenizers.pre_tokenizers import ByteLevel

    torch.manual_seed(seed)
    width = 32  # SD-1.5: 768 (text), (320, 640, 1280, 1280) (UNet), (128, 256, 512, 512) (VAE)
    text = CLIPTextModel(CLIPTextConfig(vocab_size=514, hidden_size=width, intermediate_size=2 * width,
                                        num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=77,
                                        projection_dim=width, bos_token_id=512, eos_token_id=513, pad_token_id=513)).eval()
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(width,) * 4,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3, cross_attention_dim=width,
        attention_head_dim=8, norm_num_groups=8)
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 8, 16, 16),
                        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                        layers_per_block=1, norm_num_groups=8, sample_size=64, scaling_factor=0.18215)
    scheduler = PNDMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                              beta_schedule="scaled_linear", skip_prk_steps=True, set_alpha_to_one=False,
                              steps_offset=1)  # SD-1.5's scheduler_config.json
    # CLIP's byte-level BPE with no merges: every byte is a token
    symbols = sorted(ByteLevel.alphabet())
    vocab = {s: i for i, s in enumerate(symbols + [s + "</w>" for s in symbols] + ["<|startoftext|>", "<|endoftext|>"])}
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(out)


def write_dataset(out: str) -> dict:
    import datasets

    paths = {s.name: s.path for s in data.builtin_sources()}
    counts = {}
    for split, names in PHOTOS.items():
        images = []
        for name in names:
            arr, _ = data.load_rgb(paths[name])
            h, w = arr.shape[:2]
            side = min(h, w)
            crop = arr[(h - side) // 2 : (h - side) // 2 + side, (w - side) // 2 : (w - side) // 2 + side]
            images.append(Image.fromarray(crop).resize((SIDE, SIDE), Image.BICUBIC))
        ds = datasets.Dataset.from_dict({"image": images}, features=datasets.Features({"image": datasets.Image()}))
        os.makedirs(os.path.join(out, "data"), exist_ok=True)
        ds.to_parquet(os.path.join(out, "data", f"{split}-00000-of-00001.parquet"))
        counts[split] = len(images)
    return counts


class _InceptionStandIn(torch.nn.Module):
    """What clean-fid's ``InceptionV3W`` calls, ``layers.forward``: 299 px images in [-1, 1] -> 2048 features (the
    Inception-v3 pool's width), through a few strided convolutions rather than Inception's 24M weights (speed)."""

    def __init__(self):
        super().__init__()
        conv = lambda i, o: torch.nn.Sequential(torch.nn.Conv2d(i, o, 3, stride=2, padding=1), torch.nn.ReLU())
        self.layers = torch.nn.Sequential(conv(3, 32), conv(32, 64), conv(64, 128), conv(128, 2048),
                                          torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())

    def forward(self, x):
        return self.layers(x)


def write_metric_stand_ins(out: str, seed: int) -> None:
    import torchvision

    os.makedirs(out, exist_ok=True)
    torch.manual_seed(seed)
    # LPIPS reads AlexNet's convolutional layers (its real shapes; the classifier is unused and left out)
    alexnet = {k: v for k, v in torchvision.models.alexnet(weights=None).state_dict().items() if k.startswith("features.")}
    torch.save(alexnet, os.path.join(out, metrics.ALEXNET_FILE))
    torch.jit.trace(_InceptionStandIn().eval(), torch.zeros(1, 3, 299, 299)).save(os.path.join(out, metrics.INCEPTION_FILE))
    with open(os.path.join(out, metrics.STAND_IN_MARKER), "w") as f:
        f.write("RANDOM-WEIGHT STAND-INS for the standard metric networks (workflow/scripts/rehearsal_assets.py), for the\n"
                "dress rehearsal's code paths only: numbers made with them are labelled `stand-in`, never FID / LPIPS.\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", help="folder to write sd-tiny/, div2k-tiny/ and metric-weights/ into")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(1)
    write_model(os.path.join(a.out, "sd-tiny"), a.seed)
    counts = write_dataset(os.path.join(a.out, "div2k-tiny"))
    write_metric_stand_ins(os.path.join(a.out, "metric-weights"), a.seed)
    print(json.dumps({"out": a.out, "images": counts}))


if __name__ == "__main__":
    main()
