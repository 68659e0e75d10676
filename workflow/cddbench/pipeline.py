"""A diffusers pipeline for the CDD-distilled 4x SR models (Ours and Ours*), and the sampler the benchmark runs.

    from cddbench.pipeline import CDDSuperResolutionPipeline
    pipe = CDDSuperResolutionPipeline.from_pretrained("results/models/cdd/train0")
    hr = pipe(image=lr_pil, num_inference_steps=4, generator=torch.Generator().manual_seed(0)).images[0]

Every CDD run folder is a pipeline folder: ``model_index.json`` beside ``unet/``, ``controlnet/``, ``scheduler/`` and
``vae/`` (hard links to the autoencoder's files). ``denoise`` is the loop the benchmark's sampling jobs run
(``methods.cdd.load``), so the pipeline's PIL output equals the benchmark's PNGs bit for bit on the same noise
(tests/test_pipeline.py). diffusers has no pipeline for a ControlNet-conditioned consistency-distilled SR model
sampled on a distillation grid, hence this class.
"""
from __future__ import annotations

import os
import shutil

import numpy as np
import torch
from diffusers import AutoencoderKL, ControlNetModel, DDPMScheduler, DiffusionPipeline, UNet2DConditionModel
from diffusers.image_processor import VaeImageProcessor
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor
from PIL import Image

from cddbench import models, schedule

SR_FACTOR = 4


class SuperResolutionOutput(BaseOutput):
    images: list | np.ndarray | torch.Tensor


class CDDSuperResolutionPipeline(DiffusionPipeline):
    """4x super-resolution with a CDD-distilled model: a UNet plus its ControlNet-style conditional encoder, sampled
    in ``num_inference_steps`` DDIM jumps along the ``distill_steps``-point distillation grid (paper 4.2).

    ``image``: a PIL image or a list of them, a uint8 array (H x W x 3 or N x H x W x 3), or a float tensor
    N x 3 x H x W in [-1, 1] (the benchmark's convention), LR of any size whose 4x is a multiple of the autoencoder's
    downsampling factor. ``output_type``: ``pil`` (the benchmark's rounding), ``np`` / ``pt`` (diffusers' [0, 1]
    convention), ``latent``.
    """

    model_cpu_offload_seq = "controlnet->unet->vae"

    def __init__(self, vae: AutoencoderKL, unet: UNet2DConditionModel, controlnet: ControlNetModel,
                 scheduler: DDPMScheduler, distill_steps: int = 50, consistency_space: str = "eps"):
        super().__init__()
        self.register_modules(vae=vae, unet=unet, controlnet=controlnet, scheduler=scheduler)
        self.register_to_config(distill_steps=distill_steps, consistency_space=consistency_space)
        _load_prompt_embedding(unet)
        self.image_processor = VaeImageProcessor(vae_scale_factor=self.vae_scale_factor, do_normalize=True)

    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @torch.no_grad()
    def denoise(self, lr: torch.Tensor, latents: torch.Tensor, num_inference_steps: int) -> torch.Tensor:
        """HR images in [-1, 1] from LR in [-1, 1] and the initial latents: the benchmark's CDD sampler."""
        net = models.AdaptedUNet(self.unet, self.controlnet)
        device = self.unet.device
        z = latents.to(device)
        cond = models.lr_condition(lr.to(device), z.shape[-2:])
        times = schedule.few_step_timesteps(self.scheduler.config.num_train_timesteps, self.config.distill_steps,
                                            num_inference_steps).tolist()
        with self.progress_bar(total=len(times)) as bar:
            z = schedule.few_step_ddim(net, z, cond, self.scheduler, times, self.config.consistency_space, bar.update)
        return models.decode(self.vae, z)

    def prepare_image(self, image) -> torch.Tensor:
        """Any accepted ``image`` -> float N x 3 x h x w in [-1, 1] (uint8 / 127.5 - 1, as the benchmark reads PNGs)."""
        if isinstance(image, torch.Tensor):
            lr = image if image.ndim == 4 else image[None]
            if lr.shape[1] != 3 or lr.min() < -1 or lr.max() > 1:
                raise ValueError(f"image: a tensor must be N x 3 x H x W in [-1, 1], got shape {tuple(lr.shape)}, "
                                 f"range [{float(lr.min()):.3g}, {float(lr.max()):.3g}]")
            return lr.float()
        images = image if isinstance(image, (list, tuple)) else [image]
        if isinstance(image, np.ndarray):
            images = list(image) if image.ndim == 4 else [image]
        arrays = []
        for i, im in enumerate(images):
            a = np.asarray(im.convert("RGB")) if isinstance(im, Image.Image) else np.asarray(im)
            if a.dtype != np.uint8 or a.ndim != 3 or a.shape[-1] != 3:
                raise ValueError(f"image {i}: expected an RGB PIL image or a uint8 H x W x 3 array, got "
                                 f"{a.dtype} {a.shape}")
            arrays.append(a)
        if len({a.shape for a in arrays}) > 1:
            raise ValueError(f"images of one call must share a size, got {sorted({a.shape for a in arrays})}")
        return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)

    @torch.no_grad()
    def __call__(self, image, num_inference_steps: int = 4, generator: torch.Generator | list | None = None,
                 latents: torch.Tensor | None = None, output_type: str = "pil", return_dict: bool = True):
        lr = self.prepare_image(image)
        h, w = (SR_FACTOR * n for n in lr.shape[-2:])
        f = self.vae_scale_factor
        if h % f or w % f:
            raise ValueError(f"image: the {h} x {w} output must be a multiple of the autoencoder's factor {f}; "
                             f"crop the LR to a multiple of {f // SR_FACTOR or 1}")
        shape = (len(lr), self.unet.config.in_channels, h // f, w // f)
        if latents is None:
            latents = randn_tensor(shape, generator=generator, device=self.unet.device, dtype=torch.float32)
        elif tuple(latents.shape) != shape:
            raise ValueError(f"latents: expected shape {shape}, got {tuple(latents.shape)}")
        hr = self.denoise(lr, latents, num_inference_steps)
        if output_type == "pil":
            from cddbench.data import to_uint8

            out = [Image.fromarray(a) for a in to_uint8(hr)]
        elif output_type in ("np", "pt", "latent"):
            out = hr if output_type == "latent" else self.image_processor.postprocess(hr, output_type=output_type)
        else:
            raise ValueError(f"output_type: unknown {output_type!r} (pil | np | pt | latent)")
        self.maybe_free_model_hooks()
        return SuperResolutionOutput(images=out) if return_dict else (out,)


def _load_prompt_embedding(unet: UNet2DConditionModel) -> None:
    """The teacher's fixed text input travels in ``unet/prompt_embedding.safetensors`` (``models.save_model``);
    a plain ``from_pretrained`` of the UNet does not read it. Absent file: the zero embedding (the tiny teacher)."""
    if getattr(unet, "prompt_embedding", None) is not None:
        return
    path = os.path.join(str(getattr(unet.config, "_name_or_path", "")), models.PROMPT_FILE)
    if os.path.isfile(path):
        from safetensors.torch import load_file

        unet.prompt_embedding = load_file(path)["prompt_embedding"]


def save_pipeline_folder(run_dir: str, vae_dir: str, vae: AutoencoderKL, net: models.AdaptedUNet,
                         scheduler: DDPMScheduler, distill_steps: int, consistency_space: str) -> None:
    """Make a trained CDD run folder (``unet/``, ``controlnet/``, ``scheduler/`` saved from ``net`` and ``scheduler``)
    loadable as a pipeline: ``vae/`` as hard links to the autoencoder's files (copies across file systems) and
    ``model_index.json``, written from the in-memory models (it records their classes, not their weights)."""
    vae_out = os.path.join(run_dir, "vae")
    shutil.rmtree(vae_out, ignore_errors=True)
    shutil.copytree(vae_dir, vae_out, copy_function=_link_or_copy)
    pipe = CDDSuperResolutionPipeline(vae=vae, unet=net.unet, controlnet=net.controlnet, scheduler=scheduler,
                                      distill_steps=distill_steps, consistency_space=consistency_space)
    pipe.save_config(run_dir)  # model_index.json only: the components are saved already


def _link_or_copy(src: str, dst: str) -> str:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
    return dst
