"""Variance-preserving schedule algebra over a diffusers scheduler's ``alphas_cumprod``.

z_t = alpha_t x + sigma_t eps,  v = alpha_t eps - sigma_t x   (alpha_t = sqrt(abar_t), sigma_t = sqrt(1 - abar_t)).
diffusers implements the forward direction (``add_noise``, ``get_velocity``) but not the inverse conversions a
distillation loss needs (x_hat and eps_hat from any ``prediction_type``), so those few lines live here.
"""
from __future__ import annotations

import torch


def alpha_sigma(scheduler, t: torch.Tensor, ndim: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """alpha_t, sigma_t broadcastable to a ``ndim`` tensor; t is an integer timestep tensor (any shape [B] or []).

    t = -1 is the clean end point of a sampler (alpha = 1, sigma = 0), per element.
    """
    t = torch.as_tensor(t)
    abar = scheduler.alphas_cumprod.to(t.device)[t.long().clamp(min=0)].float()
    abar = torch.where(t < 0, torch.ones_like(abar), abar)
    shape = (-1,) + (1,) * (ndim - 1) if abar.ndim else ()
    return abar.sqrt().reshape(shape), (1 - abar).sqrt().reshape(shape)


def pred_to_x_eps(pred: torch.Tensor, z_t: torch.Tensor, t: torch.Tensor, scheduler) -> tuple[torch.Tensor, torch.Tensor]:
    """(x_hat, eps_hat) from a model output of the scheduler's ``prediction_type``."""
    a, s = alpha_sigma(scheduler, t, z_t.ndim)
    kind = scheduler.config.prediction_type
    if kind == "v_prediction":
        return a * z_t - s * pred, a * pred + s * z_t
    if kind == "epsilon":
        return (z_t - s * pred) / a, pred
    if kind == "sample":
        return pred, (z_t - a * pred) / s
    raise ValueError(f"unsupported prediction_type {kind!r}")


def noised(scheduler, x: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """z_t = alpha_t x + sigma_t eps at integer timesteps t (per element or one for all)."""
    a, s = alpha_sigma(scheduler, t, x.ndim)
    return a * x + s * eps


def predict(net, z: torch.Tensor, t: torch.Tensor, cond, scheduler, space: str = "eps"):
    """(x_hat, eps_hat) of a network ``net(z, t, cond) -> output`` at (z, t); ``space: x`` applies the
    consistency-model boundary scalings to x_hat (f(z, 0) = z) and gives the eps_hat consistent with it."""
    x_hat, eps_hat = pred_to_x_eps(net(z, t, cond), z, t, scheduler)
    if space == "x":
        x_hat = consistency_output(x_hat, z, t)
        a, s = alpha_sigma(scheduler, t, z.ndim)
        eps_hat = (z - a * x_hat) / s
    return x_hat, eps_hat


def solve(net, z: torch.Tensor, cond, scheduler, steps: int) -> torch.Tensor:
    """A network's samples with a diffusers sampling scheduler (DDIM, DPM-Solver, ...) at ``steps`` steps, from the
    initial noise ``z``: ``net(z, t, cond) -> output`` in the scheduler's prediction type."""
    scheduler.set_timesteps(steps)
    z = z * scheduler.init_noise_sigma
    for t in scheduler.timesteps:
        z = scheduler.step(net(scheduler.scale_model_input(z, t), t, cond), t, z).prev_sample  # DDIM: eta = 0
    return z


def few_step_ddim(net, z: torch.Tensor, cond, scheduler, times: list[int], space: str = "eps", on_step=None):
    """CDD's sampler (paper section 4): from z at times[0], one DDIM step per time with the network's (x_hat,
    eps_hat) to the next time, the last to the clean end point (s = -1). ``on_step()`` after each step."""
    for t, s in zip(times, times[1:] + [-1]):
        x_hat, eps_hat = predict(net, z, torch.full((len(z),), t, device=z.device), cond, scheduler, space)
        z = ddim_step(x_hat, eps_hat, torch.tensor(s, device=z.device), scheduler)
        if on_step is not None:
            on_step()
    return z


def training_target(x: torch.Tensor, eps: torch.Tensor, t: torch.Tensor, scheduler) -> torch.Tensor:
    """What a model of the scheduler's ``prediction_type`` must output at (x, eps, t)."""
    kind = scheduler.config.prediction_type
    if kind == "v_prediction":
        return scheduler.get_velocity(x, eps, t)
    if kind == "epsilon":
        return eps
    if kind == "sample":
        return x
    raise ValueError(f"unsupported prediction_type {kind!r}")


def ddim_step(x_hat: torch.Tensor, eps_hat: torch.Tensor, s: torch.Tensor, scheduler) -> torch.Tensor:
    """Deterministic DDIM update to timestep s (per element; s = -1 is the clean end point: alpha=1, sigma=0)."""
    a, sg = alpha_sigma(scheduler, torch.as_tensor(s, device=x_hat.device), x_hat.ndim)
    return a * x_hat + sg * eps_hat


def boundary_scalings(t: torch.Tensor, sigma_data: float = 0.5, timestep_scaling: float = 10.0,
                      ndim: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """Consistency-model boundary scalings (c_skip, c_out) at integer timesteps t: c_skip(0) = 1, c_out(0) = 0.

    f(z, t) = c_skip(t) z + c_out(t) x_hat(z, t) then satisfies f(z, 0) = z exactly (the LCM / CoDi-code form,
    with the timestep scaled by 10 so the boundary is sharp on a 1000-step grid).
    """
    u = torch.as_tensor(t).float() * timestep_scaling
    c_skip = sigma_data**2 / (u**2 + sigma_data**2)
    c_out = u / (u**2 + sigma_data**2).sqrt()
    shape = (-1,) + (1,) * (ndim - 1) if c_skip.ndim else ()
    return c_skip.reshape(shape), c_out.reshape(shape)


def consistency_output(x_hat: torch.Tensor, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The consistency-model parametrisation f(z, t) = c_skip(t) z + c_out(t) x_hat (f(z, 0) = z exactly)."""
    c_skip, c_out = boundary_scalings(t, ndim=z.ndim)
    return c_skip * z + c_out * x_hat


def draw_grid_times(grid_size: int, num_train_timesteps: int, batch: int, how: str,
                    g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(t, s = the grid point below t) on the distillation grid: one pair for the whole batch (``shared``) or one
    per sample (``per_sample``)."""
    grid = distillation_grid(num_train_timesteps, grid_size).flip(0)  # ascending: 0, k, 2k, ...
    i = torch.randint(1, grid_size, (1,) if how == "shared" else (batch,), generator=g).expand(batch)
    return grid[i], grid[i - 1]


def distillation_grid(num_train_timesteps: int, n: int) -> torch.Tensor:
    """The N-point distillation grid, descending: (arange(N) * T / N) reversed (N = 50: 980, 960, ..., 0)."""
    if not 1 <= n <= num_train_timesteps:
        raise ValueError(f"distillation grid size {n} must lie in 1..{num_train_timesteps}")
    return (torch.arange(n) * num_train_timesteps // n).flip(0)


def few_step_timesteps(num_train_timesteps: int, n: int, steps: int) -> torch.Tensor:
    """``steps`` timesteps sub-sampled from the distillation grid, starting at its top.

    The stride is ceil(N / steps), shrunk where needed so that ``steps`` points fit on the grid
    (N = 50: 1 -> [980]; 2 -> [980, 480]; 4 -> [980, 720, 460, 200]; 8 -> [980, 840, ..., 140, 0]).
    """
    grid = distillation_grid(num_train_timesteps, n)
    if not 1 <= steps <= n:
        raise ValueError(f"{steps} sampling steps: must lie in 1..{n} (the distillation grid size)")
    stride = -(-n // steps) if steps == 1 else min(-(-n // steps), (n - 1) // (steps - 1))
    return grid[::stride][:steps]
