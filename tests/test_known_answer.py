"""The known-answer tier (cddbench.known_answer): the exact sampler reaches the floor, training moves each row off its
untrained initialisation, and the same config gives the same per-condition values."""
import copy

import pytest
import torch
import yaml

from cddbench import known_answer as ka
from cddbench import models


@pytest.fixture(scope="module")
def cfg(repo):
    from cddbench.config import merge

    with open(f"{repo}/config.yaml") as f:
        cfg = yaml.safe_load(f)
    with open(f"{repo}/configs/peers.yaml") as f:
        merge(cfg, yaml.safe_load(f))
    k = cfg["known_answer"]
    k.update(train_pairs=4000, test_conditions=200, samples_per_condition=16, train_seeds=[0])
    k["prior"] = {**k["prior"], "steps": 800}
    k["train"] = {**k["train"], "steps": 400}
    return cfg


@pytest.fixture(scope="module")
def tier(cfg, tmp_path_factory):
    return ka.Tier(cfg, models.build_scheduler(cfg["teacher"]["schedule"]), str(tmp_path_factory.mktemp("toy")))


def _mean_se(values: torch.Tensor) -> tuple[float, float]:
    return float(values.mean()), float(values.std() / len(values) ** 0.5)


def test_the_exact_sampler_at_200_steps_reaches_the_floor(tier):
    sampler, _ = ka.row_exact(tier, "exact", {}, 0, None)
    floor = ka.toy.scores(tier.problem, tier.test_c, tier.problem.posterior(tier.test_c).sample(
        16, torch.Generator().manual_seed(9)), tier.reference)["energy_distance"]
    at_200 = ka.evaluate(tier, sampler, 200, 0)["energy_distance"]
    diff, se = _mean_se(at_200 - floor)
    assert abs(diff) < 3 * se + 0.01, (diff, se)
    one_step = ka.evaluate(tier, sampler, 1, 0)  # the posterior mean itself (zero terminal SNR): one mode, no spread
    assert one_step["energy_distance"].mean() > 1.0 and one_step["mode_coverage"].mean() < 0.7


@pytest.mark.parametrize("row", ["ldm_sr", "cdd", "cm", "gd", "sid", "dmd2", "lcm"])
def test_training_moves_each_row_towards_the_posterior(tier, cfg, row):
    """Each trained row beats its untrained start with the same sampler: for the rows that start from the prior's
    network, that network (its condition columns at zero, so it ignores the condition); for the distilled peers,
    their copy of the LDM-SR row they distil."""
    runs = ka.runs(cfg)
    base = None
    if ka.methods.base(row):
        name = ka.methods.base(row)
        _, base = ka.row_ldm_sr(tier, name, runs[name]["config"], 0, None)
    sampler, _ = ka.ROWS[row](tier, row, runs[row]["config"], 0, base)
    steps = 1 if row == "sid" else 4
    if row == "sid":
        sid = ka.SiDLoss(tier.scheduler, alpha=runs[row]["config"]["alpha"], t_init=runs[row]["config"]["t_init"])
        untrained = lambda c, steps, noise: sid.generate(base, noise, c)  # noqa: E731
    elif row in ("dmd2", "lcm"):
        grid = (ka.denoising_grid(4) if row == "dmd2" else
                ka.schedule.few_step_timesteps(1000, runs[row]["config"]["distill_steps"], 4).tolist())
        untrained = lambda c, steps, noise: ka.multistep_consistency(  # noqa: E731
            lambda z, t: ka.schedule.predict(base, z, torch.full((len(z),), t), c, tier.scheduler)[0], grid[:steps],
            noise, tier.scheduler)
    else:
        untrained = ka._ddim_sampler(tier, tier.prior.with_condition(), "trailing")
    trained_ed = ka.evaluate(tier, sampler, steps, 0)["energy_distance"]
    untrained_ed = ka.evaluate(tier, untrained, steps, 0)["energy_distance"]
    diff, se = _mean_se(untrained_ed - trained_ed)
    assert diff > 3 * se, (row, diff, se)


def test_the_tier_is_deterministic_and_lists_its_runs(cfg, tmp_path):
    small = copy.deepcopy(cfg)
    small["known_answer"].update(test_conditions=20, samples_per_condition=4, train_pairs=500)
    small["known_answer"]["prior"]["steps"] = 20
    small["known_answer"]["train"]["steps"] = 20
    small["variants"] = {"cdd": {"regime": ["adapter"], "guidance.distance": ["lpips"]},
                         "dpm_solver": {"algorithm_type": ["dpmsolver++"]}}
    for peer in ("sid", "sid_lsg", "dmd2", "lcm"):
        small["methods"].pop(peer)
    sched = models.build_scheduler(cfg["teacher"]["schedule"])
    a, samples = ka.run(small, sched, str(tmp_path / "a"), 0)
    b, _ = ka.run(small, sched, str(tmp_path / "b"), 0)
    assert a.equals(b)
    assert samples["cdd"].shape == (ka.FIGURE_CONDITIONS, 4, 16) and samples.keys() == set(a["run"])
    assert set(a["run"]) == {"ldm_sr", "dpm_solver", "dpm_solver-algorithm_type=dpmsolver++", "cm", "gd", "cdd",
                             "cdd-regime=adapter"}  # the lpips guidance variant needs a decoder: not here
    assert set(a.loc[a["run"] == "ldm_sr", "steps"]) == {1, 2, 4, 8, 200}
    exact, exact_samples = ka.run(small, sched, str(tmp_path / "e"), None)
    assert set(exact_samples) == {"posterior", "exact"}
    assert set(exact["run"]) == {"floor", "exact"} and (exact["train_seed"] == -1).all()
    both = __import__("pandas").concat([a, exact])
    table = ka.summary(both)
    assert len(table) == len(a.groupby(["run", "steps"])) + 6
    assert set(ka.skipped(small)) == {"cdd-guidance.distance=lpips", "bicubic", "esrgan"}
    # the claims' cells: conditions as the unit, each metric's leave-one-condition-out means
    cells = ka.cells(both)
    (rep,) = cells[("cdd", 4)]
    values = a[(a["run"] == "cdd") & (a["steps"] == 4)]["energy_distance"].to_numpy()
    assert rep.values["energy_distance"] == pytest.approx(values.mean()) and rep.trained
    assert rep.loo["energy_distance"][3] == pytest.approx((values.sum() - values[3]) / (len(values) - 1))
    assert not cells[("exact", 4)][0].trained
    from cddbench import claims

    verdicts, comparisons = claims.evaluate(cells)
    saturation = comparisons[comparisons["comparison"].astype(str).str.contains("saturation")]
    assert len(saturation) and (saturation["verdict"] == "not tested").all()
    # the figures draw from these records; the figure's conditions are the tier's
    problem = ka.problem_of(small)
    conditions, _ = ka.test_set(small, problem)
    assert torch.equal(conditions, ka.Tier(small, sched, str(tmp_path / "t")).test_c)
    ka.steps_figure(table, str(tmp_path / "steps.png"))
    ka.samples_figure(problem, conditions[:ka.FIGURE_CONDITIONS], {**exact_samples, **samples},
                      str(tmp_path / "samples.png"))
    assert (tmp_path / "steps.png").stat().st_size > 10_000 and (tmp_path / "samples.png").stat().st_size > 10_000


def test_sid_and_dmd2_generator_losses_vanish_when_the_fake_network_is_the_exact_teacher(tier):
    """At the peers' fixed point (fake == teacher), with the exact conditional model for both, the generator's
    distillation term is exactly zero whatever the generator's samples, and so is its gradient (the score
    difference; SiD's is back-propagated through both networks, zero up to float rounding)."""
    exact = ka.toy.ExactModel(tier.problem, tier.scheduler, conditional=True)
    c = tier.test_c[:64].float()
    x_g = torch.randn(64, tier.problem.d, requires_grad=True)
    g = torch.Generator().manual_seed(0)
    sid = ka.SiDLoss(tier.scheduler, alpha=1.0, t_init=625).generator_loss(exact, exact, x_g, c, g)
    (grad,) = torch.autograd.grad(sid, x_g)
    assert sid.item() == 0.0 and grad.abs().max() < 1e-7
    dmd2 = ka.DMD2Loss(tier.scheduler, grid=ka.denoising_grid(4), gan_weight_generator=0.0)
    terms = dmd2.generator_loss(exact, exact, None, x_g, c, g)
    (grad,) = torch.autograd.grad(terms["loss"], x_g)
    assert terms["dm"].item() == 0.0 and grad.abs().max() == 0


def _consistency_function(teacher, sched, n_grid):
    """The exact consistency function of ``teacher``'s DDIM chain on the N-point grid, as a network output: f(z_t, t)
    is where the chain's steps from t (a grid point) land at 0 (f(z, 0) = z), returned as the v whose boundary-scaled
    x prediction is f."""
    grid = ka.schedule.distillation_grid(1000, n_grid).tolist()  # descending, ends at 0

    def chain(z, t, c):  # the teacher's DDIM steps along the grid from each row's t down to 0
        z = z.double()
        for u, s in zip(grid, grid[1:]):
            x_hat, eps_hat = ka.schedule.predict(teacher, z, torch.full((len(z),), u), c, sched)
            stepped = ka.schedule.ddim_step(x_hat, eps_hat, torch.full((len(z),), s), sched)
            z = torch.where((t >= u)[:, None], stepped, z)
        return z

    def consistent(z, t, c):
        t = torch.as_tensor(t).expand(len(z))
        c_skip, c_out = ka.schedule.boundary_scalings(t, ndim=2)
        target = chain(z, t, c)
        x_hat = torch.where(c_out > 0, (target - c_skip * z.double()) / c_out.clamp(min=1e-12), target)
        a, s = ka.schedule.alpha_sigma(sched, t, 2)
        return ((a * z.double() - x_hat) / s).float()  # v, so that x_hat = a z - s v

    return consistent


def _posterior_pairs(tier, n=16):
    c = tier.test_c[:n].float()
    return tier.problem.posterior(tier.test_c[:n]).sample(1, torch.Generator().manual_seed(0))[:, 0].float(), c


def test_cm_loss_is_zero_at_the_consistency_function_of_its_own_teacher(tier):
    """CM's fixed point: the student maps z_t to where the teacher's DDIM chain on the N-point grid lands at 0 from
    (z_t, t). With the exact conditional model as the teacher, that chain is computable, and the loss there is zero
    (up to the boundary scalings' round trip; measured 2.5e-15), while the exact denoiser itself, not consistent,
    has a loss (3.6e-3)."""
    from cddbench.methods.cm import CMLoss

    sched, n_grid = tier.scheduler, 20
    teacher = ka.toy.ExactModel(tier.problem, sched, conditional=True)
    consistent = _consistency_function(teacher, sched, n_grid)
    x, c = _posterior_pairs(tier)
    loss = CMLoss(sched, N=n_grid, distance="l2", huber_c=0.001)
    at_fixed_point = loss(consistent, consistent, teacher, x, c, torch.Generator().manual_seed(1))["loss"]
    denoiser = loss(teacher, teacher, teacher, x, c, torch.Generator().manual_seed(1))["loss"]
    assert at_fixed_point < 1e-8 and denoiser > 1e-3, (at_fixed_point, denoiser)


def test_cdd_consistency_term_is_zero_at_the_consistency_function_of_the_pretrained_teacher(tier):
    """CDD's consistency term has an exact zero where its z_s is the teacher's own ODE step: ``predictor:
    ddim_pretrained`` (z_s by the frozen unconditional teacher's DDIM step) in ``consistency_space: x`` (the authors'
    code), at the consistency function of that teacher's DDIM chain on the same N-point grid, for every pair of grid
    times and any condition (measured 2.0e-15). The exact unconditional denoiser is not consistent: 3.0e-3. (PREv and the
    paper's eps-space term have no exact zero: z_s from the real noise, or eps compared across times, is not on the
    chain; the guidance term's known answer is the next test.)"""
    from cddbench.methods.cdd import CDDLoss, guidance_distance

    sched, n_grid = tier.scheduler, 20
    teacher = ka.toy.ExactModel(tier.problem, sched, conditional=False)
    consistent = _consistency_function(teacher, sched, n_grid)
    x, c = _posterior_pairs(tier)
    loss = CDDLoss(teacher, sched, guidance_distance("l2_latent", None, {}), N=n_grid, lambda_=0.0,
                   predictor="ddim_pretrained", predictor_weights="target", space="x", distance="l2",
                   huber_c=0.001, time_sampling="per_sample")
    at_fixed_point = loss(consistent, consistent, x, c, None, torch.Generator().manual_seed(1))["consistency"]
    denoiser = loss(teacher, teacher, x, c, None, torch.Generator().manual_seed(1))["consistency"]
    assert at_fixed_point < 1e-8 and denoiser > 1e-3, (at_fixed_point, denoiser)


def test_cdd_guidance_term_is_least_at_the_exact_conditional_denoiser(tier):
    """CDD's conditional guidance (paper 4.3, ``l2_latent``) regresses x_hat(z_t, c, t) on the clean x: its expected
    value is least at the posterior mean E[x | z_t, c], the exact conditional denoiser. On the line from there to the
    exact *unconditional* denoiser, x_hat_rho = x_cond + rho (x_uncond - x_cond), the loss is a parabola in rho whose
    vertex is at 0; CDDLoss's own guidance value, on common random numbers (the same t, x, noise for every rho), puts
    it there within 0.05 (measured 0.004), and the unconditional end (rho = 1) costs more (0.296 against 0.187)."""
    from cddbench.methods.cdd import CDDLoss, guidance_distance

    sched = tier.scheduler
    cond_net = ka.toy.ExactModel(tier.problem, sched, conditional=True)
    uncond_net = ka.toy.ExactModel(tier.problem, sched, conditional=False)
    gen = torch.Generator().manual_seed(0)
    x, c = tier.problem.pairs(8192, gen)
    loss = CDDLoss(None, sched, guidance_distance("l2_latent", None, {}), N=50, lambda_=1.0, predictor="prev",
                   predictor_weights="online", space="eps", distance="l2", huber_c=0.001, time_sampling="per_sample")

    def guidance(rho):  # the prediction is affine in x_hat, so mixing the outputs mixes the x_hats
        net = lambda z, t, cond: (1 - rho) * cond_net(z, t, cond) + rho * uncond_net(z, t, cond)
        with torch.no_grad():
            return float(loss(net, net, x.float(), c.float(), None, torch.Generator().manual_seed(1))["guidance"])

    low, mid, high = guidance(-1.0), guidance(0.0), guidance(1.0)
    curvature = low + high - 2 * mid
    vertex = (low - high) / (2 * curvature)
    assert curvature > 0 and abs(vertex) < 0.05 and high > mid, (low, mid, high, vertex)
