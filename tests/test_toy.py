"""The known-answer tier's closed forms (cddbench.toy) against Bayes' rule, Monte Carlo and autograd."""
import pytest
import torch

from cddbench import schedule, toy


@pytest.fixture(scope="module")
def problem():
    return toy.SRMixture(seed=0)


@pytest.fixture(scope="module")
def sched():
    from cddbench import models

    return models.build_scheduler({"num_train_timesteps": 1000, "beta_schedule": "scaled_linear",
                                   "beta_start": 0.00085, "beta_end": 0.012, "prediction_type": "v_prediction",
                                   "rescale_betas_zero_snr": True})


def test_the_posterior_is_bayes_rule(problem):
    """log p(x | c) = log p(x) + log N(c; A x, sigma_c^2 I) - log p(c), exactly, at any x."""
    g = torch.Generator().manual_seed(0)
    x, c = problem.pairs(6, g)
    x_any = x + 0.3 * torch.randn(x.shape, generator=g, dtype=x.dtype)
    post = problem.posterior(c)
    lik = torch.distributions.MultivariateNormal(x_any @ problem.A.T, problem.sigma_c**2 * torch.eye(4).double())
    p = problem.prior
    cov_c = problem.A @ p.covs @ problem.A.T + problem.sigma_c**2 * torch.eye(4).double()
    log_c = torch.logsumexp(p.weights.log() + torch.distributions.MultivariateNormal(
        p.means @ problem.A.T, covariance_matrix=cov_c).log_prob(c[:, None]), -1)
    want = p.log_prob(x_any) + lik.log_prob(c) - log_c
    torch.testing.assert_close(post.log_prob(x_any), want, rtol=1e-9, atol=1e-9)


def test_posterior_samples_and_mean_match_monte_carlo(problem):
    """Importance-weighted prior samples (weights p(c | x)) against the closed-form mean and the sampler's mean."""
    g = torch.Generator().manual_seed(1)
    _, c = problem.pairs(3, g)
    prior = problem.prior.sample(400_000, g)
    post = problem.posterior(c)
    samples = post.sample(20_000, g)
    for i in range(3):
        logw = -((prior @ problem.A.T - c[i]) ** 2).sum(-1) / (2 * problem.sigma_c**2)
        w = torch.softmax(logw, 0)
        ess = 1 / (w**2).sum()
        assert ess > 200, ess  # enough prior draws near c for the check to mean something
        mc = (w[:, None] * prior).sum(0)
        tol = 5 * ((w[:, None] * (prior - mc) ** 2).sum(0) / ess).sqrt().max()
        assert (mc - post.mean()[i]).abs().max() < tol
        assert (samples[i].mean(0) - post.mean()[i]).abs().max() < 0.03
    assert (post.weights.sort(-1, descending=True).values[:, 1] > 0.05).any()  # the posterior is multimodal


@pytest.mark.parametrize("conditional", [False, True])
def test_exact_denoiser_is_tweedie_of_the_noised_density(problem, sched, conditional):
    """E[x | z_t] = (z + sigma^2 grad log p_t(z)) / alpha, with p_t the noised mixture, by autograd."""
    g = torch.Generator().manual_seed(2)
    x, c = problem.pairs(5, g)
    t = torch.tensor([10, 200, 500, 800, 990])
    a, s = (v.double() for v in schedule.alpha_sigma(sched, t, 1))
    z = (a[:, None] * x + s[:, None] * torch.randn(x.shape, generator=g, dtype=x.dtype)).requires_grad_(True)
    mix = problem.posterior(c) if conditional else problem.prior
    eye = torch.eye(problem.d).double()
    logp = []
    for i in range(len(z)):
        w = mix.weights[i] if conditional else mix.weights
        mu = mix.means[i] if conditional else mix.means
        noised = toy.Mixture(w, a[i] * mu, a[i] ** 2 * mix.covs + s[i] ** 2 * eye)
        logp.append(noised.log_prob(z[i]))
    (grad,) = torch.autograd.grad(torch.stack(logp).sum(), z)
    tweedie = (z + s[:, None] ** 2 * grad) / a[:, None]
    model = toy.ExactModel(problem, sched, conditional)
    torch.testing.assert_close(model.x_hat(z.detach(), t, c), tweedie.detach(), rtol=1e-7, atol=1e-7)
    # the model's output, read back by the schedule algebra, is that x prediction
    out = model(z.detach().float(), t, c.float())
    x_hat, _ = schedule.pred_to_x_eps(out, z.detach().float(), t, sched)
    torch.testing.assert_close(x_hat.double(), tweedie.detach(), rtol=1e-4, atol=1e-4)


def test_energy_distance_is_near_zero_for_one_distribution_and_positive_apart(problem):
    g = torch.Generator().manual_seed(3)
    _, c = problem.pairs(200, g)
    post = problem.posterior(c)
    a, b = post.sample(64, g), post.sample(64, g)
    same = toy.energy_distance(a, b)
    assert abs(same.mean()) < 3 * same.std() / len(same) ** 0.5  # unbiased: mean zero within its error
    assert (toy.energy_distance(a + 0.5, b).mean() > 10 * same.std() / len(same) ** 0.5)


def test_scores_of_exact_samples_are_the_floor_and_a_collapsed_sampler_loses_modes(problem):
    g = torch.Generator().manual_seed(4)
    _, c = problem.pairs(300, g)
    post = problem.posterior(c)
    ref = post.sample(64, g)
    exact = toy.scores(problem, c, post.sample(64, g), ref)
    mean_only = toy.scores(problem, c, post.mean()[:, None].expand(-1, 64, -1), ref)
    assert exact["mode_coverage"].mean() > 0.95 and mean_only["mode_coverage"].mean() < 0.8
    assert mean_only["energy_distance"].mean() > 5 * exact["energy_distance"].mean().abs()
    assert mean_only["mean_sq_error"].mean() < 1e-20  # the posterior mean itself: no mean error, wrong distribution
