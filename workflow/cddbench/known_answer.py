"""The known-answer tier: the methods on ``cddbench.toy``'s problem, where the teacher and the answer are exact.

Every row trains through the same loss classes and samples through the same samplers as the image tier, with a small
MLP (``ToyNet``) in place of the UNet and ``AdaptedToy`` (a ControlNet in miniature) in place of CDD's adapted UNet.
The teacher ("the pretrained prior") is ``toy.ExactModel``; the conditional rows start, as on images, from a network
of the prior: an MLP fitted to prior samples by the diffusion loss (``init: pretrained``), or fresh weights
(``init: random``). Hyperparameters are the image config's ``methods`` / ``variants`` entries (the ablations come for
free), budgets are the config's ``known_answer`` section. Rows:
  exact        the exact conditional model, DDIM at each step count (and 200: it must reach the floor)
  ldm_sr       the prior MLP fine-tuned with its condition concatenated (zero-initialised input columns)
  dpm_solver   this seed's ldm_sr row sampled by DPM-Solver / DPM-Solver++ (the variant)
  cdd          CDDLoss on AdaptedToy (Ours; ``regime: adapter`` is Ours*), the exact prior as the teacher
  cm           CMLoss distilling this seed's ldm_sr row
  gd           ProgressiveDistillationLoss halving the exact prior, then the conditional fine-tune
  sid, sid_lsg SiD's training step (methods.sid.training_step) on copies of this seed's ldm_sr row (SiD-LSG: of the
               condition-dropout variant), one step
  dmd2         DMD2's training step (methods.dmd2.training_step), its GAN head on the fake MLP's last hidden layer
  lcm          CM with LCM's guidance-augmented ODE on the condition-dropout ldm_sr row, the student taking the
               guidance scale through zero-initialised embedding columns (ToyNet.with_guidance)
The peers (sid, sid_lsg, dmd2, lcm) run when the config has them (``--configfile configs/peers.yaml``), as on images.
Not here: CDD's ``guidance.distance: l2_pixel | lpips`` (they need the image decoder: no pixel space apart from x).
"""
from __future__ import annotations

import copy
import os

import torch
from torch import nn

from cddbench import config as config_mod
from cddbench import methods, schedule, toy
from cddbench.methods.cdd import CDDLoss, guidance_distance
from cddbench.methods.cm import CMLoss, f
from cddbench.methods.common import DiffusionLoss, drop_condition, guided, multistep_consistency
from cddbench.methods.dmd2 import DMD2Loss, denoising_grid
from cddbench.methods.dmd2 import training_step as dmd2_training_step
from cddbench.methods.gd import ProgressiveDistillationLoss, ddim_grid
from cddbench.methods.sid import LSG_CONDITION_DROPOUT, SiDLoss
from cddbench.methods.sid import training_step as sid_training_step
from cddbench.train import EMA, fit, optimizer

NOT_ON_THIS_TIER = {"guidance.distance": ("l2_pixel", "lpips")}  # variants that need an image decoder
METRICS = ("energy_distance", "mean_sq_error", "mode_coverage")  # per test condition (toy.scores)


class ToyNet(nn.Module):
    """``(z [B, d], t, cond [B, d/4] | None) -> output [B, d]``: an MLP on z, the condition (zeros when None) and
    diffusers' sinusoidal timestep embedding."""

    def __init__(self, d: int, cond_dim: int, hidden: int, layers: int, temb: int = 32, guidance_dim: int = 0):
        super().__init__()
        self.d, self.cond_dim, self.temb, self.guidance_dim = d, cond_dim, temb, guidance_dim
        self.trunk = nn.ModuleList([nn.Linear(d + cond_dim + temb + guidance_dim, hidden)]
                                   + [nn.Linear(hidden, hidden) for _ in range(layers - 1)])
        self.out = nn.Linear(hidden, d)

    def inputs(self, z, t, cond, w_embedding=None):
        from diffusers.models.embeddings import get_timestep_embedding

        emb = get_timestep_embedding(torch.as_tensor(t, device=z.device).expand(len(z)), self.temb)
        cond = torch.zeros(len(z), self.cond_dim, device=z.device) if cond is None else cond
        parts = [z, cond.to(z.dtype), emb.to(z.dtype)]
        if self.guidance_dim:  # LCM's guidance-scale embedding (zeros: none given)
            parts.append(torch.zeros(len(z), self.guidance_dim) if w_embedding is None else w_embedding.to(z.dtype))
        return torch.cat(parts, 1)

    def features(self, z, t, cond, residuals=None, w_embedding=None):
        """The last hidden layer; ``residuals`` (one per layer) are added after each (AdaptedToy's control)."""
        h = self.inputs(z, t, cond, w_embedding)
        for i, layer in enumerate(self.trunk):
            h = nn.functional.silu(layer(h))
            if residuals is not None:
                h = h + residuals[i]
        return h

    def forward(self, z, t, cond, w_embedding=None):
        return self.out(self.features(z, t, cond, w_embedding=w_embedding))

    def with_guidance(self, dim: int) -> "ToyNet":
        """A copy that also takes LCM's guidance-scale embedding through new zero-initialised input columns: it
        equals this network until it trains (``models.add_guidance_embedding``'s zero projection)."""
        net = ToyNet(self.d, self.cond_dim, self.out.in_features, len(self.trunk), self.temb, dim)
        net.load_state_dict({k: v for k, v in self.state_dict().items() if k != "trunk.0.weight"}, strict=False)
        with torch.no_grad():
            net.trunk[0].weight.zero_()
            net.trunk[0].weight[:, :self.trunk[0].in_features] = self.trunk[0].weight
        return net

    def with_condition(self) -> "ToyNet":
        """A copy whose condition columns start at zero: it equals this network until it trains (LDM-SR's
        zero-initialised LR channels)."""
        net = copy.deepcopy(self)
        with torch.no_grad():
            net.trunk[0].weight[:, self.d:self.d + self.cond_dim] = 0
        return net


class AdaptedToy(nn.Module):
    """CDD's adapted model in miniature: the frozen-or-trained backbone sees no condition; a copy of its trunk (the
    control branch) sees z plus the condition through a zero-initialised projection, and adds each of its hidden
    layers to the backbone's through zero-initialised linears, so the model starts equal to the backbone."""

    def __init__(self, backbone: ToyNet):
        super().__init__()
        self.backbone, self.control = backbone, copy.deepcopy(backbone)
        hidden = backbone.out.in_features
        self.cond_in = nn.Linear(backbone.cond_dim, backbone.d)
        self.zero = nn.ModuleList(nn.Linear(hidden, hidden) for _ in backbone.trunk)
        for layer in [self.cond_in, *self.zero]:
            nn.init.zeros_(layer.weight), nn.init.zeros_(layer.bias)

    def forward(self, z, t, cond):
        h, residuals = self.control.inputs(z + self.cond_in(cond), t, None), []
        for layer, zero in zip(self.control.trunk, self.zero):
            h = nn.functional.silu(layer(h))
            residuals.append(zero(h))
        return self.backbone.out(self.backbone.features(z, t, None, residuals))


class Tier:
    """One seed's setting: the problem, its schedule, the training pairs, the prior network and where logs go."""

    def __init__(self, cfg: dict, scheduler, out_dir: str):
        k = cfg["known_answer"]
        self.cfg, self.k, self.scheduler, self.out_dir = cfg, k, scheduler, out_dir
        self.problem = problem_of(cfg)
        g = torch.Generator().manual_seed(cfg["seed"])
        x, c = self.problem.pairs(k["train_pairs"], g)
        self.x, self.c = x.float(), c.float()
        self.teacher = toy.ExactModel(self.problem, scheduler, conditional=False)
        self.prior = self.fit_prior()
        self.test_c, self.reference = test_set(cfg, self.problem)

    def net(self) -> ToyNet:
        n = self.k["net"]
        return ToyNet(self.problem.d, self.problem.cond_dim, n["hidden"], n["layers"])

    def budget(self, tcfg: dict) -> dict:
        """A ``train`` section of the image config at this tier's scale: its steps and learning rate times
        known_answer.train's over LDM-SR's (the rows keep the image tier's ratios), this tier's batch size, and the
        section's own EMA and optimiser settings (SiD's Adam betas, DMD2's clipping)."""
        ldm = self.cfg["methods"]["ldm_sr"]["train"]
        steps = round(tcfg["steps"] * self.k["train"]["steps"] / ldm["steps"])
        own = {key: tcfg[key] for key in ("ema_decay", "betas", "weight_decay", "grad_clip") if key in tcfg}
        return {**self.k["train"], "steps": max(1, steps), "lr": tcfg["lr"] * self.k["train"]["lr"] / ldm["lr"], **own}

    def fit(self, net, loss_fn, tcfg, seed, name, **kw):
        return fit(net, loss_fn, tcfg, len(self.x), seed, os.path.join(self.out_dir, "logs", f"{name}.csv"), name,
                   **kw)

    def fit_prior(self) -> ToyNet:
        """The network of the prior the conditional rows start from (the image tier's pretrained teacher UNet): an
        MLP fitted to prior samples by the diffusion loss, once for all training seeds."""
        torch.manual_seed(self.cfg["seed"])
        net, loss = self.net(), DiffusionLoss(self.scheduler)
        g = torch.Generator().manual_seed(self.cfg["seed"] + 1)
        return self.fit(net, lambda idx, step: loss(net, self.x[idx], None, g), self.k["prior"], self.cfg["seed"],
                        "prior").requires_grad_(False)

    def backbone(self, init: str) -> ToyNet:
        return copy.deepcopy(self.prior).requires_grad_(True) if init == "pretrained" else self.net()


# Each row: (tier, run name, its resolved methods entry, training seed, the trained network of the run it builds on)
# -> (sampler (c, steps, noise) -> x, its network). One generator per row and seed (the image tier's STREAM + 100).
def row_exact(tier, run, m, seed, base):
    net = toy.ExactModel(tier.problem, tier.scheduler, conditional=True)
    return _ddim_sampler(tier, net, "trailing"), None


def row_ldm_sr(tier, run, m, seed, base):
    torch.manual_seed(seed)
    net = tier.backbone(m["init"]).with_condition()
    loss, g = DiffusionLoss(tier.scheduler), torch.Generator().manual_seed(seed + 103)
    p = m.get("condition_dropout", 0.0)
    net = tier.fit(net, lambda idx, step: loss(net, tier.x[idx], drop_condition(tier.c[idx], p, g), g),
                   tier.budget(m["train"]), seed, f"{run}_{seed}").requires_grad_(False)
    return _ddim_sampler(tier, net, tier.cfg["sampler"]["timestep_spacing"]), net


def row_dpm_solver(tier, run, m, seed, base):
    """This seed's ldm_sr row sampled with diffusers' DPM-Solver(++) (no training; as methods.dpm_solver)."""
    from diffusers import DPMSolverMultistepScheduler

    solver = DPMSolverMultistepScheduler.from_config(
        tier.scheduler.config, algorithm_type=m["algorithm_type"], solver_order=m["solver_order"],
        timestep_spacing=tier.cfg["sampler"]["timestep_spacing"],
        final_sigmas_type="sigma_min" if m["algorithm_type"] == "dpmsolver" else "zero")
    return (lambda c, steps, noise: schedule.solve(base, noise, c, solver, steps)), None


def row_cdd(tier, run, m, seed, base):
    torch.manual_seed(seed)
    online = AdaptedToy(tier.backbone(m["init"]))
    if m["regime"] == "adapter":  # Ours*: the backbone frozen
        online.backbone.requires_grad_(False)
    target = EMA(online, m["target_ema"])
    # the method's own d_x (l2_latent: x is this tier's latent; the pixel-space ones are NOT_ON_THIS_TIER)
    loss = CDDLoss.from_config(m, tier.teacher, tier.scheduler, guidance_distance(m["guidance"]["distance"], None, {}))
    g = torch.Generator().manual_seed(seed + 104)
    net = tier.fit(online, lambda idx, step: loss(online, target.model, tier.x[idx], tier.c[idx], tier.x[idx], g),
                   tier.budget(m["train"]), seed, f"{run}_{seed}", after_step=lambda: target.update(online))

    def sample(c, steps, noise):
        times = schedule.few_step_timesteps(tier.scheduler.config.num_train_timesteps, m["distill_steps"],
                                            steps).tolist()
        return schedule.few_step_ddim(net, noise, c, tier.scheduler, times, m["consistency_space"])
    return sample, net


def row_cm(tier, run, m, seed, base):
    """CM distilling this seed's ldm_sr row; with a ``guidance_range`` (LCM, as in methods.cm) the teacher's step is
    the guidance-augmented one, w ~ U[guidance_range] per sample, and the student takes w through zero-initialised
    embedding columns (ToyNet.with_guidance), sampled with ``sample_guidance``."""
    from cddbench.models import guidance_embedding

    lo, hi = m.get("guidance_range", (0.0, 0.0))
    online = (base.with_guidance(m["embedding_dim"]) if hi > 0 else copy.deepcopy(base)).requires_grad_(True)
    target = EMA(online, m["target_ema"])
    loss = CMLoss(tier.scheduler, N=m["distill_steps"], distance=m["distance"], huber_c=m["huber_c"])
    g = torch.Generator().manual_seed(seed + 105)

    def step(idx, k):
        if hi == 0:
            return loss(online, target.model, base, tier.x[idx], tier.c[idx], g)
        w = torch.empty(len(idx)).uniform_(lo, hi, generator=g)
        emb = guidance_embedding(w, m["embedding_dim"])
        return loss(lambda z, t, c: online(z, t, c, emb), lambda z, t, c: target.model(z, t, c, emb), base,
                    tier.x[idx], tier.c[idx], g, w.view(-1, 1))

    net = tier.fit(online, step, tier.budget(m["train"]), seed, f"{run}_{seed}",
                   after_step=lambda: target.update(online))

    def sample(c, steps, noise):
        emb = (guidance_embedding(torch.full((len(c),), float(m["sample_guidance"])), m["embedding_dim"])
               if hi > 0 else None)
        times = schedule.few_step_timesteps(tier.scheduler.config.num_train_timesteps, m["distill_steps"],
                                            steps).tolist()
        return multistep_consistency(
            lambda z, t: f(lambda z_, t_, c_: net(z_, t_, c_, emb), z, torch.full((len(z),), t), c, tier.scheduler),
            times, noise, tier.scheduler)
    return sample, net


def row_gd(tier, run, m, seed, base):
    (steps,) = m["steps"]
    torch.manual_seed(seed)
    teacher, student = tier.teacher, tier.backbone("pretrained")
    g = torch.Generator().manual_seed(seed + 106)
    for r in range(m["rounds"]):  # the first round halves the exact prior itself
        student_steps = steps * 2 ** (m["rounds"] - 1 - r)
        loss = ProgressiveDistillationLoss(tier.scheduler, student_steps=student_steps)
        online = (student if r == 0 else copy.deepcopy(teacher)).requires_grad_(True)
        teacher = tier.fit(online, lambda idx, k: loss(online, teacher, tier.x[idx], g), tier.budget(m["train"]),
                           seed + r, f"{run}_{seed}_round{r + 1}").requires_grad_(False)
    online = teacher.with_condition().requires_grad_(True)
    finetune = DiffusionLoss(tier.scheduler, timesteps=ddim_grid(tier.scheduler, steps)[:-1])
    net = tier.fit(online, lambda idx, k: finetune(online, tier.x[idx], tier.c[idx], g), tier.budget(m["finetune"]),
                   seed, f"{run}_{seed}_finetune")
    return _ddim_sampler(tier, net, "trailing"), net


def row_sid(tier, run, m, seed, base):
    """SiD, and SiD-LSG with ``kappa`` != 1 (guided teacher and fake network, the fake's conditions dropped)."""
    kappa = m.get("kappa", 1.0)
    gen, fake = (copy.deepcopy(base).requires_grad_(True) for _ in range(2))
    tcfg = tier.budget(m["train"])
    fake_opt = optimizer(list(fake.parameters()), tcfg)
    loss = SiDLoss(tier.scheduler, alpha=m["alpha"], t_init=m["t_init"])
    g = torch.Generator().manual_seed(seed + (109 if kappa != 1 else 107))
    p_null = LSG_CONDITION_DROPOUT if kappa != 1 else 0.0
    step = sid_training_step(loss, gen, fake, guided(fake, kappa), fake_opt, guided(base, kappa),
                             lambda idx: tier.c[idx], (tier.problem.d,), p_null, g)
    net = tier.fit(gen, step, tcfg, seed, f"{run}_{seed}")
    return (lambda c, steps, noise: loss.generate(net, noise, c)), net


class ToyHead(nn.Module):
    """DMD2's classifier head on the fake network's last hidden layer (the image tier's sits on the UNet's
    mid-block)."""

    def __init__(self, hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, 1))

    def forward(self, h):
        return self.net(h)[:, 0]


def row_dmd2(tier, run, m, seed, base):
    gen, fake = (copy.deepcopy(base).requires_grad_(True) for _ in range(2))
    head = ToyHead(fake.out.in_features)
    tcfg = tier.budget(m["train"])
    critic_opt = optimizer([*fake.parameters(), *head.parameters()], tcfg)
    loss = DMD2Loss(tier.scheduler, grid=denoising_grid(m["denoising_steps"],
                                                        tier.scheduler.config.num_train_timesteps),
                    gan_weight_critic=m["gan_weight_critic"], gan_weight_generator=m["gan_weight_generator"])
    g = torch.Generator().manual_seed(seed + 108)
    step = dmd2_training_step(loss, gen, fake, head, fake, lambda z, t, c: head(fake.features(z, t, c)), base,
                              critic_opt, tcfg.get("grad_clip", 1.0), m["critic_steps"], tier.c, tier.x, g)
    net = tier.fit(gen, step, tcfg, seed, f"{run}_{seed}")

    def sample(c, steps, noise):
        return multistep_consistency(lambda z, t: loss.x_hat(net, z, t, c), loss.grid[:steps], noise, tier.scheduler)
    return sample, net


ROWS = {"exact": row_exact, "ldm_sr": row_ldm_sr, "dpm_solver": row_dpm_solver, "cdd": row_cdd, "cm": row_cm,
        "gd": row_gd, "sid": row_sid, "sid_lsg": row_sid, "dmd2": row_dmd2, "lcm": row_cm}


def _ddim_sampler(tier, net, spacing: str):
    from cddbench.models import ddim_scheduler

    ddim = ddim_scheduler(tier.scheduler.config, spacing)
    return lambda c, steps, noise: schedule.solve(net, noise, c, ddim, steps)


def skipped(cfg: dict) -> dict[str, str]:
    """The config's runs this tier does not run, and why (the tier's log and claims name them)."""
    out = {}
    for name, r in config_mod.runs(cfg).items():
        if r["method"] not in ROWS:
            out[name] = f"no row for method {r['method']!r} on this tier (module docstring)"
        elif any(r["changed"].get(key) in v for key, v in NOT_ON_THIS_TIER.items()):
            out[name] = "needs the image decoder (a pixel-space guidance distance)"
    return out


def runs(cfg: dict) -> dict[str, dict]:
    """The tier's runs: the exact reference, then every run of the config whose method has a row here (variants
    included), except those that need an image decoder (``NOT_ON_THIS_TIER``); each with its step counts."""
    k = cfg["known_answer"]
    out = {"exact": {"method": "exact", "config": {}, "steps": [*k["steps"], 200]}}
    for name, r in config_mod.runs(cfg).items():
        if name in skipped(cfg):
            continue
        m = r["config"]
        grid = m.get("distill_steps", m.get("denoising_steps", cfg["teacher"]["schedule"]["num_train_timesteps"]))
        steps = m["steps"] if r["method"] in ("gd", "sid", "sid_lsg") else [s for s in k["steps"] if s <= grid]
        out[name] = {**r, "steps": steps + ([200] if r["method"] == "ldm_sr" else [])}
    return out


@torch.no_grad()
def evaluate(tier: Tier, sampler, steps: int, sampling_seed: int, keep: list | None = None) -> dict:
    """The exact metrics of a sampler on the tier's test conditions (``toy.scores``): per condition. With ``keep``
    (a list), the samples of the first FIGURE_CONDITIONS conditions are appended to it (the figure's)."""
    n, (conditions, d) = tier.k["samples_per_condition"], (len(tier.test_c), tier.problem.d)
    c = tier.test_c.float().repeat_interleave(n, 0)
    noise = torch.randn(len(c), d, generator=torch.Generator().manual_seed(sampling_seed))
    x = torch.cat([sampler(c[i:i + 4096], steps, noise[i:i + 4096]) for i in range(0, len(c), 4096)])
    x = x.view(conditions, n, d)
    if keep is not None:
        keep.append(x[:FIGURE_CONDITIONS].numpy())
    return toy.scores(tier.problem, tier.test_c, x, tier.reference)


FIGURE_CONDITIONS, FIGURE_STEPS = 3, 4  # the samples figure: the first test conditions, each run at 4 steps (SiD: 1)


def run(cfg: dict, scheduler, out_dir: str, train_seed: int | None) -> tuple["pd.DataFrame", dict]:
    """One job of the tier, one row per test condition (the claims' unit): every trained run at ``train_seed`` and
    each of its step counts, or with ``train_seed`` None the exact rows (``floor``: fresh exact posterior samples
    against the reference, a perfect sampler's values; ``exact``: the exact model sampled by DDIM). Also
    {run: its samples of the first FIGURE_CONDITIONS test conditions at FIGURE_STEPS steps (or its fewest)}."""
    import pandas as pd

    tier, frames, samples = Tier(cfg, scheduler, out_dir), [], {}

    def add(run, method, steps, metrics):
        frame = pd.DataFrame({name: v.numpy() for name, v in metrics.items()})
        frame.insert(0, "condition", range(len(frame)))
        for col, value in (("train_seed", -1 if train_seed is None else train_seed), ("steps", steps),
                           ("method", method), ("run", run)):
            frame.insert(0, col, value)
        frames.append(frame)

    todo = runs(cfg)
    if train_seed is None:
        g = torch.Generator().manual_seed(cfg["seed"] + 3)
        fresh = tier.problem.posterior(tier.test_c).sample(cfg["known_answer"]["samples_per_condition"], g)
        add("floor", "exact", 0, toy.scores(tier.problem, tier.test_c, fresh, tier.reference))
        samples["posterior"] = fresh[:FIGURE_CONDITIONS].float().numpy()
        todo = {"exact": todo["exact"]}
    else:
        todo.pop("exact")
    built = {}  # runs that others build on first (a JSON config from a rule has its keys sorted)
    for name, r in sorted(todo.items(), key=lambda item: methods.base(item[1]["method"]) is not None
                          if item[1]["method"] in methods.METHODS else False):
        base = built.get(methods.base(r["method"])) if r["method"] in methods.METHODS else None
        sampler, built[name] = ROWS[r["method"]](tier, name, r["config"], train_seed or 0, base)
        shown = FIGURE_STEPS if FIGURE_STEPS in r["steps"] else min(r["steps"])
        for steps in r["steps"]:
            keep = [] if steps == shown else None
            add(name, r["method"], steps, evaluate(tier, sampler, steps, cfg["seed"] if train_seed is None
                                                   else train_seed, keep))
            if keep:
                samples[name] = keep[0]
    return pd.concat(frames, ignore_index=True), samples


def summary(per_condition: "pd.DataFrame") -> "pd.DataFrame":
    """table.csv: each run and step count, metrics averaged over test conditions and training seeds."""
    per_seed = per_condition.groupby(["run", "method", "steps", "train_seed"], sort=False)[list(METRICS)].mean()
    table = per_seed.groupby(["run", "method", "steps"], sort=False).agg(["mean", "std", "count"])
    table.columns = [f"{m}_{stat}" if stat != "count" else "train_seeds" for m, stat in table.columns]
    return table.loc[:, ~table.columns.duplicated()].reset_index()



def cells(per_condition: "pd.DataFrame") -> dict:
    """The claims' cells (``cddbench.paired``) with test *conditions* as the unit: per (run, steps) and training
    seed, each metric's mean over conditions and its leave-one-condition-out values."""
    from cddbench.paired import Replicate

    out = {}
    for (run, steps, seed), frame in per_condition.groupby(["run", "steps", "train_seed"], sort=False):
        values = {m: float(frame[m].mean()) for m in METRICS}
        n = len(frame)
        loo = {m: (frame[m].sum() - frame[m].to_numpy()) / (n - 1) for m in METRICS}
        out.setdefault((run, int(steps)), []).append(
            Replicate(0, values, loo, train_seed=max(int(seed), 0), trained=int(seed) >= 0))
    return out


def claims_markdown(claims: "pd.DataFrame", comparisons: "pd.DataFrame", per_condition: "pd.DataFrame") -> str:
    from cddbench.claims import to_markdown

    k = per_condition[per_condition["train_seed"] >= 0]
    head = (f"# The paper's claims on the known-answer tier\n\nThe image tier's rule and comparisons "
            f"(`cddbench.claims`) on `cddbench.known_answer`'s records: {per_condition['condition'].nunique()} "
            f"independent test conditions are the unit (read *photograph* in the rule below as *test condition*), "
            f"{k['train_seed'].nunique()} training seeds. In FD's place the energy distance to exact posterior "
            "samples, in LPIPS's the squared error of the sample mean against the exact posterior mean; image "
            "metrics (saturation, sharpness) and runs that need an image decoder are *not tested* here.\n\n")
    return head + to_markdown(claims, comparisons, unit="conditions")


def samples_figure(problem: "toy.SRMixture", conditions: torch.Tensor, samples: dict, out_png: str) -> None:
    """Each run's samples (rows) beside exact posterior samples for a few test conditions (columns), projected on
    the axis between the condition's two most probable posterior components (the detail the condition leaves open)
    and the posterior's main direction across the rest; circles: the posterior's component means, sized by weight."""
    from cddbench.figures import _plt

    plt = _plt()
    post = problem.posterior(conditions.double())
    from cddbench.paper import OURS_STAR

    # the rows of Table 1 and the peers (the ablations are in the steps figure)
    names = ["posterior"] + [n for n in samples if n != "posterior" and ("-" not in n or n == OURS_STAR)]
    fig, axes = plt.subplots(len(names), len(conditions), figsize=(2.2 * len(conditions), 1.7 * len(names)),
                             squeeze=False, sharex="col", sharey="col")
    for j in range(len(conditions)):
        top = post.weights[j].argsort(descending=True)[:2]
        u = post.means[j, top[0]] - post.means[j, top[1]]
        u = u / u.norm()
        spread = post.sample(512, torch.Generator().manual_seed(j))[j]
        rest = spread - spread.mean(0) - ((spread - spread.mean(0)) @ u)[:, None] * u
        v = torch.linalg.svd(rest, full_matrices=False).Vh[0]
        for i, name in enumerate(names):
            ax = axes[i, j]
            x = torch.as_tensor(samples[name][j]).double()
            ax.scatter((x @ u).numpy(), (x @ v).numpy(), s=4, alpha=0.6)
            means = post.means[j]
            ax.scatter((means @ u).numpy(), (means @ v).numpy(), s=300 * post.weights[j].numpy(), facecolors="none",
                       edgecolors="k", linewidths=0.6)
            ax.tick_params(labelsize=5)
            if j == 0:
                ax.set_ylabel(name, fontsize=6)
            if i == 0:
                ax.set_title(f"condition {j}", fontsize=7)
    fig.tight_layout()
    fig.savefig(out_png, dpi=120)
    plt.close(fig)


def steps_figure(table: "pd.DataFrame", out_png: str) -> None:
    """Each metric against sampling steps: the Table 1 rows, the peers and the ablations (``figures.steps_panels``),
    the floor (a perfect sampler's value) dashed."""
    from cddbench import paper
    from cddbench.figures import steps_panels

    floor = table[table["run"] == "floor"].iloc[0]
    shown = table[table["run"] != "floor"]
    present = set(shown["run"])
    rows = {"exact": "exact", "LDM-SR": "ldm_sr", "DPM-Solver": "dpm_solver", "CM": "cm", "GD": "gd",
            "Ours": paper.OURS, "Ours*": paper.OURS_STAR}
    peers = {"Ours": paper.OURS, **{p: p for p in paper.PEERS if p in present}}
    ablations = {"Ours": paper.OURS, **{r.removeprefix("cdd-"): r for r in sorted(present) if r.startswith("cdd-")
                                        and r != paper.OURS_STAR}}
    steps_panels(shown, [("Table 1 rows", rows), ("peers", peers), ("CDD ablations", ablations)], list(METRICS),
                 out_png, reference={m: floor[f"{m}_mean"] for m in METRICS}, reference_label="floor")


def problem_of(cfg: dict) -> "toy.SRMixture":
    p = cfg["known_answer"]["problem"]
    return toy.SRMixture(p["d"], p["pairs"], 4, p["sigma_c"], p["seed"])


def test_set(cfg: dict, problem: "toy.SRMixture") -> tuple[torch.Tensor, torch.Tensor]:
    """The test conditions (independent draws of the joint) and exact posterior samples of each (the reference);
    no fitting, so the figures draw the same conditions as the jobs."""
    k = cfg["known_answer"]
    g = torch.Generator().manual_seed(cfg["seed"] + 2)
    c = problem.pairs(k["test_conditions"], g)[1]
    return c, problem.posterior(c).sample(k["samples_per_condition"], g)
