"""GPU-hours of a paper-scale run: FLOPs counted, throughput measured (``cddbench gpu-check``) or assumed.

    python workflow/scripts/estimate_gpu_hours.py --measured tests/data/gpu_check_h200.json     # rates measured on an H200
    python workflow/scripts/estimate_gpu_hours.py --tflops 125                                 # an assumed rate instead

The FLOPs of one forward pass of each network are counted with torch's FlopCounterMode on the meta device (no
weights, no download) for Stable Diffusion v1.5's published architecture (the paper config's teacher) at 512 px.
Each stage's cost per training image is then written in those units (backward ~ 2x forward, frozen networks
forward only), times steps x batch from the config, divided by a sustained throughput. With ``--measured`` that
throughput is the one ``cddbench gpu-check`` measured on SD-1.5's architecture at the paper config's batches: the
counted TFLOPs of a timed LDM-SR / CDD (Ours) / Ours* iteration over its seconds, each stage divided by the rate of
the iteration it resembles (CM, GD, ESRGAN and the encoding by LDM-SR's: they were not timed), sampling by the timed
LDM-SR-200 sampler's. Without it, ``--tflops`` (125: 40% of an A100's bf16 peak) is assumed for everything.
"""
from __future__ import annotations

import argparse
import json

import cddbench  # noqa: F401  (first: the torchvision shim diffusers needs)
import torch
import yaml
from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel
from torch.utils.flop_counter import FlopCounterMode

from cddbench import config as config_mod
from cddbench.methods import esrgan
from cddbench.paper import TABLE1_RUNS


def forward_flops(fn) -> float:
    with FlopCounterMode(display=False) as counter:
        fn()
    return float(counter.get_total_flops())


def network_flops(cfg: dict) -> dict[str, float]:
    """TFLOPs of one forward pass per image: U (UNet), C (conditional encoder), E / D (VAE encode / decode), G / Dd
    (Real-ESRGAN generator / discriminator)."""
    size = cfg["data"]["patch_size"]
    with torch.device("meta"):
        unet = UNet2DConditionModel(  # stable-diffusion-v1-5/unet/config.json
            sample_size=size // 8, block_out_channels=(320, 640, 1280, 1280), layers_per_block=2,
            down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
            up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3, cross_attention_dim=768, attention_head_dim=8)
        vae = AutoencoderKL(  # stable-diffusion-v1-5/vae/config.json
            block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=4, layers_per_block=2, sample_size=size)
        controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(320,), conditioning_channels=3)
        gen, disc = esrgan.build(cfg["methods"]["esrgan"])
        z, t, text = torch.zeros(1, 4, size // 8, size // 8), torch.tensor([500]), torch.zeros(1, 77, 768)
        x, lr, cond = torch.zeros(1, 3, size, size), torch.zeros(1, 3, size // 4, size // 4), torch.zeros(1, 3, size // 8, size // 8)
        n = {"U": forward_flops(lambda: unet(z, t, text)),
             "C": forward_flops(lambda: controlnet(z, t, text, controlnet_cond=cond)),
             "E": forward_flops(lambda: vae.encode(x)), "D": forward_flops(lambda: vae.decode(z)),
             "G": forward_flops(lambda: gen(lr)), "Dd": forward_flops(lambda: disc(x))}
    return {k: v / 1e12 for k, v in n.items()}


def train_cost(method: str, m: dict, n: dict) -> tuple[float, str]:
    """(TFLOPs per training image, the formula) of one run's training; backward = 2x forward."""
    U, C, D, G, Dd = n["U"], n["C"], n["D"], n["G"], n["Dd"]
    if method == "ldm_sr":
        return 3 * U, "3U"
    if method == "cm":
        return 5 * U, "3U online + U teacher + U target"
    if method == "esrgan":
        return 3 * G + 9 * Dd, "3G + 9Dd (after the L1 warm-up: 3G)"
    if method == "cdd":
        online = 3 * (U + C) if m["regime"] == "full" else (U + C) + (U + 2 * C)  # adapter: no backbone weight grads
        cost, formula = online + 2 * (U + C), "3(U+C) online + 2(U+C) predictor/target"
        if m["regime"] != "full":
            formula = "(U+C) + (U+2C) online, frozen backbone + 2(U+C) predictor/target"
        if m["guidance"]["distance"] != "l2_latent" and m["guidance"]["weight"] > 0:
            cost, formula = cost + 3 * D, formula + " + 3D decode for the pixel-space guidance"
        return cost, formula
    raise ValueError(method)


def measured_rates(path: str, cfg: dict, n: dict) -> dict[str, float]:
    """TFLOP/s of each timed iteration and sampler of a ``cddbench gpu-check`` record (its networks are SD-1.5's)."""
    with open(path) as f:
        rec = json.load(f)
    if rec["arch"] != "sd15" or rec["hr_size"] != cfg["data"]["patch_size"]:
        raise ValueError(f"{path}: measured {rec['arch']} at {rec['hr_size']} px, the config is SD-1.5 at "
                         f"{cfg['data']['patch_size']} px")
    m = cfg["methods"]["cdd"]
    cost = {"ldm_sr": train_cost("ldm_sr", {}, n)[0], "cdd": train_cost("cdd", {**m, "regime": "full"}, n)[0],
            "cdd_adapter": train_cost("cdd", {**m, "regime": "adapter"}, n)[0]}
    rates = {k: cost[k] * t["batch_size"] / t["seconds_per_iteration"] for k, t in rec["training"].items()}
    s = rec["sampling"]["ldm_sr_200"]
    rates["sample"] = (s["steps"] * n["U"] + n["D"]) / s["seconds_per_image"]
    return rates


def images(tcfg: dict) -> int:
    return tcfg["steps"] * tcfg["batch_size"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", nargs="+", default=["config.yaml", "configs/paper.yaml"],
                    help="config.yaml and the overlays merged over it")
    ap.add_argument("--tflops", type=float, default=125.0, help="assumed sustained TFLOP/s per GPU (without --measured)")
    ap.add_argument("--measured", default=None, help="a `cddbench gpu-check` JSON: its measured rates instead")
    ap.add_argument("--test-images", type=int, default=600, help="test images (DIV2K valid: 100 x 6 crops of 512)")
    args = ap.parse_args()
    cfg = config_mod.load(*args.config)
    n = network_flops(cfg)
    rates = measured_rates(args.measured, cfg, n) if args.measured else {}

    def hours(tflop: float, kind: str = "ldm_sr") -> float:
        return tflop / rates.get(kind, args.tflops) / 3600

    print("TFLOPs per image, one forward pass: " + ", ".join(f"{k} {v:.3f}" for k, v in n.items()))
    if rates:
        print(f"measured ({args.measured}), TFLOP/s: " + ", ".join(f"{k} {v:.0f}" for k, v in rates.items()))
    rate_name = "the measured rates" if rates else f"{args.tflops:g} TFLOP/s (assumed)"
    print(f"\n| stage | run | per image (TFLOPs) | formula | GPU-hours at {rate_name} |")
    print("| --- | --- | --- | --- | --- |")
    patches = 800 * cfg["data"]["max_patches_per_source"]  # DIV2K train: 800 images at the patch cap
    rows = [("encode_train", "-", n["E"], "E per training patch", hours(n["E"] * patches))]
    replicates = len(cfg["train_seeds"])  # every trained run is trained once per training seed
    for run, spec in config_mod.runs(cfg).items():
        method, m = spec["method"], spec["config"]
        if method in ("ldm_sr", "cm", "cdd", "esrgan"):
            cost, formula = train_cost(method, m, n)
            seen = images(m["train"])
            if method == "esrgan":  # the L1 warm-up steps update the generator only
                warm = m["warmup_steps"] * m["train"]["batch_size"]
                total = 3 * n["G"] * warm + cost * (seen - warm)
            else:
                total = cost * seen
            kind = ("cdd" if m["regime"] == "full" else "cdd_adapter") if method == "cdd" else "ldm_sr"
            rows.append(("train", run, cost, f"{formula} (x {replicates} training seeds)",
                         hours(total * replicates, kind)))
        elif method == "gd":
            per_round, fine = 5 * n["U"], 3 * n["U"]
            total = per_round * images(m["train"]) * m["rounds"] + fine * images(m["finetune"])
            rows.append(("train", run, per_round, "5U per halving image (3U student + 2U teacher), 3U fine-tune "
                         f"(x {replicates} training seeds)", hours(total * replicates)))
    sample_total = 0.0
    for run, spec in config_mod.runs(cfg).items():
        method = spec["method"]
        if method in ("bicubic", "esrgan"):
            continue
        per_step = n["U"] + (n["C"] if method == "cdd" else 0.0)
        seeds = len(cfg["seeds"] if run in TABLE1_RUNS else cfg["ablation_seeds"]) * replicates
        for steps in spec["config"]["steps"]:
            sample_total += (steps * per_step + n["D"]) * args.test_images * seeds
    rows.append(("sample", "all runs, steps and seeds", None, "steps x (U [+C]) + D per test image",
                 hours(sample_total, "sample")))
    for stage, run, cost, formula, h in rows:
        print(f"| {stage} | {run} | {'' if cost is None else f'{cost:.2f}'} | {formula} | {h:.1f} |")
    print(f"| **total** | | | | **{sum(r[-1] for r in rows):.0f}** |")


if __name__ == "__main__":
    main()
