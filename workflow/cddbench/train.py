"""The one training loop every model and method plugs into.

A method supplies the trainable module and ``loss_fn(batch, step) -> {"loss": total, other terms...}``;
this loop owns the rest: AdamW (weight decay 1e-2), grad-norm clipping at 1.0, constant LR, the EMA copy,
a seeded batch order, a loss-curve CSV and a progress bar. A non-finite loss stops the run with the step and
the term named.
"""
from __future__ import annotations

import copy
import csv
import os
from typing import Callable, Iterator

import torch
from tqdm.auto import tqdm


class EMA:
    """theta_ema <- mu * theta_ema + (1 - mu) * theta over the trainable parameters (buffers are copied)."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        for e, p in zip(self.model.parameters(), model.parameters()):
            if p.requires_grad:  # frozen parameters are equal already
                e.lerp_(p.detach(), 1.0 - self.decay)
        for e, b in zip(self.model.buffers(), model.buffers()):
            e.copy_(b)


def autocast(device: str, precision: str):
    """bf16 autocast on ``device`` (config ``precision: bf16``), else a no-op: weights and optimiser stay fp32."""
    return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16, enabled=precision == "bf16")


def batches(n: int, batch_size: int, seed: int) -> Iterator[torch.Tensor]:
    """Endless seeded epochs of shuffled indices (a fixed batch order for a fixed seed)."""
    g = torch.Generator().manual_seed(seed)
    while True:
        perm = torch.randperm(n, generator=g)
        for i in range(0, n - batch_size + 1, batch_size):  # drop the ragged tail: equal-size batches
            yield perm[i : i + batch_size]


def fit(model: torch.nn.Module, loss_fn: Callable[[torch.Tensor, int], dict], tcfg: dict, n_items: int,
        seed: int, log_csv: str, desc: str, after_step: Callable[[], None] | None = None,
        precision: str = "fp32") -> torch.nn.Module:
    """Train ``model`` for ``tcfg['steps']`` steps; return the EMA copy (or the model itself if ema_decay == 0).

    The model trains on the device its parameters are on; ``loss_fn`` runs under bf16 autocast when
    ``precision == "bf16"`` (backward, optimiser and EMA in fp32). ``after_step`` runs after each optimiser step
    (a distillation method's target-network update).
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError(f"{desc}: the model has no trainable parameters")
    opt = torch.optim.AdamW(params, lr=tcfg["lr"], weight_decay=1e-2)
    ema = EMA(model, tcfg["ema_decay"]) if tcfg["ema_decay"] > 0 else None
    order = batches(n_items, min(tcfg["batch_size"], n_items), seed)
    os.makedirs(os.path.dirname(log_csv) or ".", exist_ok=True)
    model.train()
    with open(log_csv, "w", newline="") as f:
        writer = None
        bar = tqdm(range(1, tcfg["steps"] + 1), desc=desc, mininterval=5)
        running: dict[str, float] = {}
        for step in bar:
            with autocast(params[0].device, precision):
                terms = {name: value.float() for name, value in loss_fn(next(order), step).items()}
            for name, value in terms.items():
                if not torch.isfinite(value):
                    raise FloatingPointError(f"{desc}: loss term {name!r} is {value.item()} at step {step}")
            opt.zero_grad(set_to_none=True)
            terms["loss"].backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            if after_step is not None:
                after_step()
            if ema is not None:
                ema.update(model)
            for name, value in terms.items():
                running[name] = running.get(name, 0.0) + float(value.detach())
            if step % tcfg["log_every"] == 0 or step == tcfg["steps"]:
                k = tcfg["log_every"] if step % tcfg["log_every"] == 0 else step % tcfg["log_every"]
                row = {"step": step, **{n: v / k for n, v in running.items()}, "grad_norm": float(grad_norm)}
                if writer is None:
                    writer = csv.DictWriter(f, fieldnames=list(row))
                    writer.writeheader()
                writer.writerow(row)
                f.flush()
                bar.set_postfix(loss=f"{row['loss']:.4f}")
                running = {}
    model.eval()
    return ema.model if ema is not None else model
