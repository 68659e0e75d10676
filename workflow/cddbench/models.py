"""Build, adapt, save and load the diffusers models of the benchmark.

The teacher is a ``UNet2DConditionModel`` fed a fixed *null* text embedding (like Stable Diffusion with an
empty prompt): the tiny profile and a paper-scale SD backbone then share one code path, and diffusers'
``ControlNetModel.from_unet`` (CDD's adapter) works on it, which it does not on ``UNet2DModel``.
"""
from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, ControlNetModel, DDPMScheduler, UNet2DConditionModel


def build_autoencoder(cfg: dict, image_size: int) -> AutoencoderKL:
    n = len(cfg["block_out_channels"])
    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=cfg["latent_channels"],
        down_block_types=("DownEncoderBlock2D",) * n, up_block_types=("UpDecoderBlock2D",) * n,
        block_out_channels=tuple(cfg["block_out_channels"]), layers_per_block=cfg["layers_per_block"],
        norm_num_groups=cfg["norm_num_groups"], sample_size=image_size, mid_block_add_attention=cfg["mid_attention"],
    )


def build_unet(cfg: dict, latent_size: int, latent_channels: int) -> UNet2DConditionModel:
    n = len(cfg["block_out_channels"])
    # attention only at the coarsest resolutions: the cheap place for global context on CPU
    down = tuple("CrossAttnDownBlock2D" if i >= n - cfg["attention_levels"] else "DownBlock2D" for i in range(n))
    up = tuple("CrossAttnUpBlock2D" if i < cfg["attention_levels"] else "UpBlock2D" for i in range(n))
    return UNet2DConditionModel(
        sample_size=latent_size, in_channels=latent_channels, out_channels=latent_channels,
        down_block_types=down, up_block_types=up, block_out_channels=tuple(cfg["block_out_channels"]),
        layers_per_block=cfg["layers_per_block"], cross_attention_dim=cfg["cross_attention_dim"],
        attention_head_dim=cfg["attention_head_dim"], norm_num_groups=cfg["norm_num_groups"],
    )


def build_scheduler(cfg: dict) -> DDPMScheduler:
    return DDPMScheduler(num_train_timesteps=cfg["num_train_timesteps"], beta_schedule=cfg["beta_schedule"],
                         beta_start=cfg["beta_start"], beta_end=cfg["beta_end"],
                         prediction_type=cfg["prediction_type"], clip_sample=False,
                         rescale_betas_zero_snr=cfg["rescale_betas_zero_snr"])


PROMPT_FILE = "prompt_embedding.safetensors"


def null_embedding(unet: UNet2DConditionModel, batch: int) -> torch.Tensor:
    """The fixed text conditioning of the unconditional teacher: the encoded ``teacher.prompt`` of a pretrained
    text-to-image model (SD's unconditional input is the encoded empty prompt), else zeros, one token (the tiny
    in-pipeline teacher, trained with exactly that)."""
    emb = getattr(unet, "prompt_embedding", None)
    if emb is None:
        return torch.zeros(batch, 1, unet.config.cross_attention_dim, device=unet.device, dtype=unet.dtype)
    return emb.to(device=unet.device, dtype=unet.dtype).expand(batch, -1, -1)


def unet_forward(unet: UNet2DConditionModel, z: torch.Tensor, t: torch.Tensor,
                 cond: torch.Tensor | None = None, timestep_cond: torch.Tensor | None = None) -> torch.Tensor:
    """A teacher-shaped UNet's output at (z, t) with the null embedding; ``cond`` (the LR on the latent grid) is
    concatenated to z for the models built by ``add_condition_channels`` (LDM-SR, CM, GD); ``timestep_cond`` is
    added to the time embedding of a UNet with ``time_cond_proj_dim`` (LCM's guidance-scale embedding)."""
    inp = z if cond is None else torch.cat([z, cond], dim=1)
    return unet(inp, t, null_embedding(unet, len(z)), timestep_cond=timestep_cond).sample


def add_guidance_embedding(unet: UNet2DConditionModel, dim: int) -> UNet2DConditionModel:
    """A copy of ``unet`` whose time embedding also takes LCM's guidance-scale embedding (``time_cond_proj_dim``),
    through a new projection initialised to zero: the copy's output equals ``unet``'s until it trains."""
    # without the bookkeeping keys: diffusers resets every key listed in `_use_default_values` (this one included)
    config = {k: v for k, v in unet.config.items() if not k.startswith("_")}
    student = UNet2DConditionModel.from_config({**config, "time_cond_proj_dim": dim})
    missing, unexpected = student.load_state_dict(unet.state_dict(), strict=False)
    if set(missing) != {"time_embedding.cond_proj.weight"} or unexpected:
        raise RuntimeError(f"guidance embedding: unexpected weights {missing} / {unexpected}")
    torch.nn.init.zeros_(student.time_embedding.cond_proj.weight)
    if getattr(unet, "prompt_embedding", None) is not None:
        student.prompt_embedding = unet.prompt_embedding
    return student.to(unet.device)


def guidance_embedding(w: torch.Tensor, dim: int) -> torch.Tensor:
    """LCM's ``get_guidance_scale_embedding``: sin / cos of 1000 w at geometric frequencies, which is diffusers'
    sinusoidal timestep embedding with ``downscale_freq_shift=1`` and sin first."""
    from diffusers.models.embeddings import get_timestep_embedding

    return get_timestep_embedding(w.flatten() * 1000.0, dim, flip_sin_to_cos=False, downscale_freq_shift=1)


def add_condition_channels(unet: UNet2DConditionModel, extra: int) -> UNet2DConditionModel:
    """A copy of ``unet`` whose ``conv_in`` takes ``extra`` more input channels, their weights zero.

    The LR condition is concatenated to the latent (as in the SD x4 upscaler); with zero weights the
    adapted model's output equals the unconditional one at initialisation.
    """
    cfg = dict(unet.config)
    cfg["in_channels"] = unet.config.in_channels + extra
    new = UNet2DConditionModel.from_config(cfg)
    state = unet.state_dict()
    w = state["conv_in.weight"]
    state["conv_in.weight"] = torch.cat([w, torch.zeros(w.shape[0], extra, *w.shape[2:], dtype=w.dtype, device=w.device)],
                                        dim=1)
    new.load_state_dict(state)
    new.prompt_embedding = getattr(unet, "prompt_embedding", None)
    return new.to(unet.device)


def lr_condition(lr: torch.Tensor, latent_hw: tuple[int, int]) -> torch.Tensor:
    """The LR image resized (bicubic) to the latent grid: the condition every conditional model here is fed."""
    if tuple(lr.shape[-2:]) == tuple(latent_hw):
        return lr
    return F.interpolate(lr, size=tuple(latent_hw), mode="bicubic", align_corners=False)


class AdaptedUNet(torch.nn.Module):
    """CDD's conditional model (paper 4.1): the pretrained UNet plus a ControlNet-style conditional encoder.

    The encoder is ``ControlNetModel.from_unet`` (a copy of the UNet's encoder) fed the LR at latent resolution;
    its residuals join the UNet's skip connections. Default: ControlNet's zero-initialised output convolutions
    (the authors' code). ``gate=True``: paper eq. 10, ``h = h_pre + w * h_cond`` with a learnable scalar ``w = 0``
    and ordinarily initialised output convolutions (zero convolutions times w = 0 would get no gradient at all).
    Either way the adapted model equals the unconditional one at initialisation.
    """

    def __init__(self, unet: UNet2DConditionModel, controlnet: ControlNetModel, gate: bool = False):
        super().__init__()
        self.unet, self.controlnet = unet, controlnet
        self.gate = torch.nn.Parameter(torch.zeros(())) if gate else None

    @classmethod
    def from_unet(cls, unet: UNet2DConditionModel, cond_channels: int, gate: bool = False) -> "AdaptedUNet":
        # one conditioning-embedding level: the condition enters at latent resolution (no downsampling)
        controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(unet.config.block_out_channels[0],),
                                               conditioning_channels=cond_channels)
        if gate:
            for conv in [*controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block]:
                conv.reset_parameters()
        return cls(unet, controlnet.to(unet.device), gate)

    def forward(self, z: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        emb = null_embedding(self.unet, len(z))
        scale = 1.0 if self.gate is None else self.gate
        down, mid = self.controlnet(z, t, emb, controlnet_cond=cond, conditioning_scale=scale, return_dict=False)
        return self.unet(z, t, emb, down_block_additional_residuals=down, mid_block_additional_residual=mid).sample

    def save(self, path: str) -> None:
        """``unet/`` and ``controlnet/`` as plain diffusers folders (the gate folded into the output convolutions)."""
        import copy

        controlnet = self.controlnet
        if self.gate is not None:  # w * conv(h) = conv'(h) with weight and bias scaled by w: exact
            controlnet = copy.deepcopy(controlnet)
            with torch.no_grad():
                for conv in [*controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block]:
                    conv.weight.mul_(self.gate)
                    conv.bias.mul_(self.gate)
        os.makedirs(path, exist_ok=True)
        save_model(self.unet, os.path.join(path, "unet"))
        save_model(controlnet, os.path.join(path, "controlnet"))

    @classmethod
    def load(cls, path: str) -> "AdaptedUNet":
        return cls(load_unet(os.path.join(path, "unet")),
                   ControlNetModel.from_pretrained(os.path.join(path, "controlnet")).eval()).eval()


def count_params(module: torch.nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def save_model(model, path: str) -> None:
    """diffusers ``save_pretrained`` (safetensors) into a temp folder, then an atomic rename."""
    import shutil

    tmp = path.rstrip("/") + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    if getattr(model, "prompt_embedding", None) is not None:  # travels with every UNet built on the teacher
        from safetensors.torch import save_file

        save_file({"prompt_embedding": model.prompt_embedding.detach().cpu().contiguous()}, os.path.join(tmp, PROMPT_FILE))
    shutil.rmtree(path, ignore_errors=True)
    os.replace(tmp, path)


def load_autoencoder(path: str) -> AutoencoderKL:
    return AutoencoderKL.from_pretrained(path).eval()


def load_unet(path: str) -> UNet2DConditionModel:
    unet = UNet2DConditionModel.from_pretrained(path).eval()
    if os.path.isfile(os.path.join(path, PROMPT_FILE)):
        from safetensors.torch import load_file

        unet.prompt_embedding = load_file(os.path.join(path, PROMPT_FILE))["prompt_embedding"]
    return unet


def load_scheduler(model_dir: str) -> DDPMScheduler:
    return DDPMScheduler.from_pretrained(os.path.join(model_dir, "scheduler"))


def ddim_scheduler(config, spacing: str):
    """The benchmark's DDIM sampler on a training schedule: eta 0, no clipping, the clean end point at alpha = 1,
    ``spacing`` the grid (``trailing``: the first of few steps at t = 999)."""
    from diffusers import DDIMScheduler

    return DDIMScheduler.from_config(config, clip_sample=False, set_alpha_to_one=True, timestep_spacing=spacing)


@torch.no_grad()
def encode(vae, images: torch.Tensor, batch: int = 256) -> torch.Tensor:
    """HR images in [-1, 1] -> scaled latents (posterior mode: deterministic)."""
    out = [vae.encode(images[i : i + batch].to(vae.device)).latent_dist.mode().to(images.device)
           for i in range(0, len(images), batch)]
    return torch.cat(out) * vae.config.scaling_factor


@torch.no_grad()
def decode(vae, latents: torch.Tensor, batch: int = 256) -> torch.Tensor:
    out = [vae.decode(latents[i : i + batch].to(vae.device) / vae.config.scaling_factor).sample.to(latents.device)
           for i in range(0, len(latents), batch)]
    return torch.cat(out).clamp(-1, 1)
