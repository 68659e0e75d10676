"""The one training loop every model and method plugs into.

A method supplies the trainable module and ``loss_fn(batch, step) -> {"loss": total, other terms...}``;
this loop owns the rest: AdamW (weight decay 1e-2; ``betas`` / ``weight_decay`` / ``grad_clip`` of the train section
change it), grad-norm clipping at 1.0, constant LR, the EMA copy,
a seeded batch order, a loss-curve CSV, a progress bar, bf16 autocast on request and resumable checkpoints
(``Checkpoint``). A non-finite loss stops the run with the step and the term named.
"""
from __future__ import annotations

import copy
import csv
import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from typing import Callable

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


# The noise / timestep streams of training, each a generator of its own drawn from one seed (config `seed` for a
# teacher trained here, `train_seeds` for the runs) plus a fixed offset per method (its module's STREAM; the
# teacher's is pretrain.TEACHER_STREAM), so one method's draws never shift another's. Model init draws from torch's
# global generator seeded with the seed itself, the batch order from BatchOrder(seed). The offsets are the values
# earlier releases wrote inline: keeping them keeps every published number.
def stream(seed: int, offset: int) -> torch.Generator:
    """The generator of the training stream at ``offset`` for ``seed``."""
    return torch.Generator().manual_seed(seed + offset)


def optimizer(params, tcfg: dict) -> torch.optim.AdamW:
    """AdamW with the train section's ``betas`` and ``weight_decay`` (default (0.9, 0.999) and 1e-2: every method
    but SiD, whose Adam has betas (0, 0.999) and no weight decay)."""
    return torch.optim.AdamW(params, lr=tcfg["lr"], betas=tuple(tcfg.get("betas", (0.9, 0.999))),
                             weight_decay=tcfg.get("weight_decay", 1e-2))


class BatchOrder:
    """Endless seeded epochs of shuffled indices (a fixed batch order for a fixed seed), with a resumable state."""

    def __init__(self, n: int, batch_size: int, seed: int):
        self.n, self.batch_size = n, batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.perm, self.i = None, 0

    def __next__(self) -> torch.Tensor:
        if self.perm is None or self.i + self.batch_size > self.n:  # drop the ragged tail: equal-size batches
            self.perm, self.i = torch.randperm(self.n, generator=self.generator), 0
        self.i += self.batch_size
        return self.perm[self.i - self.batch_size : self.i]

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state(), "perm": self.perm, "i": self.i}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.perm, self.i = state["perm"], state["i"]


@dataclass
class Checkpoint:
    """Where ``fit`` saves its whole state (every ``every`` steps and at the end) and resumes from.

    ``extra``: state the loss function owns (a target network, a discriminator and its optimiser,
    ``torch.Generator``s), saved and restored with the rest. ``key`` says what the run is (its config); a
    checkpoint with another key is ignored, never resumed.
    """
    path: str
    every: int
    key: str
    extra: dict = field(default_factory=dict)


def checkpoint_at(folder: str, name: str, cfg: dict, **extra) -> Checkpoint | None:
    """The checkpoint of the fit() call ``name`` of a job whose config is ``cfg`` (None without a folder)."""
    if not folder:
        return None
    key = hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest() + "/" + name
    return Checkpoint(os.path.join(folder, f"{name}.pt"), cfg["checkpoint_every"], key, extra)


def _state(obj):
    return obj.get_state() if isinstance(obj, torch.Generator) else obj.state_dict()


def _restore(obj, state) -> None:
    obj.set_state(state) if isinstance(obj, torch.Generator) else obj.load_state_dict(state)


def _save_atomic(state: dict, path: str) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)  # a kill mid-write leaves the previous checkpoint intact


def fit(model: torch.nn.Module, loss_fn: Callable[[torch.Tensor, int], dict], tcfg: dict, n_items: int,
        seed: int, log_csv: str, desc: str, after_step: Callable[[], None] | None = None,
        precision: str = "fp32", checkpoint: Checkpoint | None = None) -> torch.nn.Module:
    """Train ``model`` for ``tcfg['steps']`` steps; return the EMA copy (or the model itself if ema_decay == 0).

    The model trains on the device its parameters are on; ``loss_fn`` runs under bf16 autocast when
    ``precision == "bf16"`` (backward, optimiser and EMA in fp32). ``after_step`` runs after each optimiser step
    (a distillation method's target-network update). With a ``checkpoint``, a run killed at any point and started
    again continues from the last checkpoint and ends with the same weights, bit for bit on CPU.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError(f"{desc}: the model has no trainable parameters")
    opt = optimizer(params, tcfg)
    clip = tcfg.get("grad_clip", 1.0)  # None: no clipping (SiD)
    ema = EMA(model, tcfg["ema_decay"]) if tcfg["ema_decay"] > 0 else None
    order = BatchOrder(n_items, min(tcfg["batch_size"], n_items), seed)
    parts = {"model": model, "opt": opt, "order": order, **({"ema": ema.model} if ema else {}),
             **({f"extra.{k}": v for k, v in checkpoint.extra.items()} if checkpoint else {})}
    rows: list[dict] = []
    running: dict[str, float] = {}
    start = 1
    if checkpoint and os.path.isfile(checkpoint.path):
        saved = torch.load(checkpoint.path, map_location="cpu", weights_only=True)  # tensors and plain data only
        if saved["key"] == checkpoint.key:
            for name, obj in parts.items():
                _restore(obj, saved[name])
            torch.set_rng_state(saved["torch_rng"])
            rows, running, start = saved["rows"], saved["running"], saved["step"] + 1
            print(f"{desc}: resumed from the checkpoint at step {saved['step']} ({checkpoint.path})", flush=True)
        else:
            print(f"{desc}: ignoring {checkpoint.path}: it belongs to another config", flush=True)
    os.makedirs(os.path.dirname(log_csv) or ".", exist_ok=True)
    model.train()
    with open(log_csv, "w", newline="") as f:
        writer = None
        if rows:  # the resumed run's log repeats the rows written before the interruption
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        bar = tqdm(range(start, tcfg["steps"] + 1), desc=desc, mininterval=5)
        for step in bar:
            with autocast(params[0].device, precision):
                terms = {name: value.float() for name, value in loss_fn(next(order), step).items()}
            for name, value in terms.items():
                if not torch.isfinite(value):
                    raise FloatingPointError(f"{desc}: loss term {name!r} is {value.item()} at step {step}")
            opt.zero_grad(set_to_none=True)
            terms["loss"].backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(params, clip if clip is not None else math.inf)
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
                rows.append(row)
                f.flush()
                bar.set_postfix(loss=f"{row['loss']:.4f}")
                running = {}
            if checkpoint and (step % checkpoint.every == 0 or step == tcfg["steps"]):
                _save_atomic({"key": checkpoint.key, "step": step, "rows": rows, "running": running,
                              "torch_rng": torch.get_rng_state(), **{n: _state(o) for n, o in parts.items()}},
                             checkpoint.path)
    model.eval()
    return ema.model if ema is not None else model
