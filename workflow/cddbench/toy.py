"""The known-answer tier's problem: super-resolution of a Gaussian-mixture prior, where everything is exact.

x in R^d (d = 16) is drawn from a K-component Gaussian mixture (K = 8, full covariances, seeded); the condition is
c = A x + sigma_c n with A the 4x average pooling (c in R^{d/4}, the "LR") and n ~ N(0, I). Components come in pairs
that share their low-pass mean and differ in detail that A averages away, so a condition leaves the detail
ambiguous: the posterior p(x | c) is multimodal, as super-resolution's is. Because every piece is Gaussian within a
component, in closed form (float64):
  - p(x | c): per component Gaussian conditioning, m_k(c) = mu_k + S_k A^T (A S_k A^T + sigma_c^2 I)^-1 (c - A mu_k),
    P_k = S_k - S_k A^T (...)^-1 A S_k, weights w_k(c) ~ pi_k N(c; A mu_k, A S_k A^T + sigma_c^2 I);
  - the noised marginals p_t(z_t) and p_t(z_t | c), z_t = alpha_t x + sigma_t eps: the same mixtures with means
    alpha_t m and covariances alpha_t^2 P + sigma_t^2 I;
  - E[x | z_t] and E[x | z_t, c] (the exact x-predictions, hence the exact v- and eps-predictions of any schedule):
    sum_k r_k(z_t) (m_k + alpha_t P_k (alpha_t^2 P_k + sigma_t^2 I)^-1 (z_t - alpha_t m_k));
  - exact posterior samples and the exact posterior mean.
Written here because no maintained library gives the noised conditional mixture's predictions; torch's
``MultivariateNormal`` gives the densities the tests check them against.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from cddbench import schedule


@dataclass
class Mixture:
    """A Gaussian mixture, possibly one per condition: ``weights`` [..., K], ``means`` [..., K, d], ``covs`` [K, d, d]
    (the covariances of the posterior do not depend on the condition)."""
    weights: torch.Tensor
    means: torch.Tensor
    covs: torch.Tensor

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x) for x [..., d] (one mixture per row when the mixture is batched)."""
        comp = torch.distributions.MultivariateNormal(self.means, covariance_matrix=self.covs)
        return torch.logsumexp(self.weights.log() + comp.log_prob(x.unsqueeze(-2)), dim=-1)

    def sample(self, n: int, g: torch.Generator) -> torch.Tensor:
        """n draws of each mixture: [n, d], or [B, n, d] for a batch of B mixtures."""
        w = self.weights if self.weights.ndim == 2 else self.weights[None]
        k = torch.multinomial(w, n, replacement=True, generator=g)  # [B, n]
        means = (self.means if self.means.ndim == 3 else self.means[None]).gather(
            1, k[..., None].expand(-1, -1, self.means.shape[-1]))
        chol = torch.linalg.cholesky(self.covs)[k]  # [B, n, d, d]
        eps = torch.randn(means.shape, generator=g, dtype=means.dtype)
        x = means + (chol @ eps[..., None])[..., 0]
        return x if self.weights.ndim == 2 else x[0]

    def mean(self) -> torch.Tensor:
        return (self.weights[..., None] * self.means).sum(-2)

    def responsibilities(self, x: torch.Tensor) -> torch.Tensor:
        """p(k | x) [..., K]: the component each sample belongs to (mode coverage)."""
        comp = torch.distributions.MultivariateNormal(self.means, covariance_matrix=self.covs)
        return torch.softmax(self.weights.log() + comp.log_prob(x.unsqueeze(-2)), dim=-1)


def denoise(mix: Mixture, z: torch.Tensor, alpha: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """E[x | z_t = z] for x ~ ``mix`` (batched over rows of z, one mixture per row or one for all), z_t = alpha x +
    sigma eps; alpha, sigma [B]."""
    a, s = alpha[:, None, None, None], sigma[:, None, None, None]
    eye = torch.eye(mix.covs.shape[-1], dtype=mix.covs.dtype)
    if (alpha == alpha[0]).all() and (sigma == sigma[0]).all():  # one time for the batch (sampling): K factorisations
        a, s = a[:1], s[:1]
    cov_t = a**2 * mix.covs[None] + s**2 * eye  # [B or 1, K, d, d]
    means = mix.means if mix.means.ndim == 3 else mix.means[None]  # [B or 1, K, d]
    resid = z[:, None, :] - a[..., 0] * means  # [B, K, d]
    chol = torch.linalg.cholesky(cov_t)
    if len(chol) == 1:  # (a^2 P + s^2 I)^-1 (z - a m): per component, every row as a right-hand side
        solved = torch.cholesky_solve(resid.permute(1, 2, 0), chol[0]).permute(2, 0, 1)
    else:
        solved = torch.cholesky_solve(resid[..., None], chol)[..., 0]
    logdet = 2 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
    log_n = -0.5 * ((resid * solved).sum(-1) + logdet + z.shape[-1] * math.log(2 * math.pi))
    r = torch.softmax(mix.weights.log() + log_n, dim=-1)  # [B, K]
    x_k = means + a[..., 0] * torch.einsum("kij,bkj->bki", mix.covs, solved)
    return (r[..., None] * x_k).sum(-2)


class SRMixture:
    """The problem: prior, degradation and their closed forms. ``seed`` draws the prior; the rest is fixed."""

    def __init__(self, d: int = 16, pairs: int = 4, factor: int = 4, sigma_c: float = 0.1, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.d, self.factor, self.sigma_c = d, factor, sigma_c
        self.A = torch.kron(torch.eye(d // factor), torch.full((1, factor), 1.0 / factor)).double()  # 4x average pool
        detail = torch.eye(d).double() - self.A.T @ torch.linalg.pinv(self.A.T)  # what A averages away
        low = torch.randn(pairs, d, generator=g, dtype=torch.float64)
        low = 0.6 * low @ (torch.eye(d).double() - detail)  # the pair's shared low-pass mean
        high = 0.8 * torch.randn(pairs, d, generator=g, dtype=torch.float64) @ detail
        means = torch.cat([low + high, low - high])  # pair j: components j and j + pairs, mirror details
        basis = torch.randn(2 * pairs, d, d, generator=g, dtype=torch.float64) / math.sqrt(d)
        covs = 0.04 * basis @ basis.transpose(-1, -2) + 0.01 * torch.eye(d).double()
        weights = torch.rand(2 * pairs, generator=g, dtype=torch.float64) + 0.5
        self.prior = Mixture(weights / weights.sum(), means, covs)

    @property
    def cond_dim(self) -> int:
        return self.d // self.factor

    def pairs(self, n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """n draws of (x, c) from the joint."""
        x = self.prior.sample(n, g)
        return x, self.degrade(x, g)

    def degrade(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        return x @ self.A.T + self.sigma_c * torch.randn(x.shape[:-1] + (self.cond_dim,), generator=g,
                                                         dtype=x.dtype)

    def posterior(self, c: torch.Tensor) -> Mixture:
        """p(x | c) for a batch of conditions c [B, d/4]: one mixture per row."""
        p = self.prior
        A, eye = self.A, torch.eye(self.cond_dim).double()
        cov_c = A @ p.covs @ A.T + self.sigma_c**2 * eye  # [K, d/4, d/4]
        gain = p.covs @ A.T @ torch.linalg.inv(cov_c)  # [K, d, d/4]
        resid = c.double()[:, None, :] - p.means @ A.T  # [B, K, d/4]
        means = p.means[None] + torch.einsum("kij,bkj->bki", gain, resid)
        covs = p.covs - gain @ A @ p.covs
        covs = 0.5 * (covs + covs.transpose(-1, -2))
        like = torch.distributions.MultivariateNormal(p.means @ A.T, covariance_matrix=cov_c).log_prob(
            c.double()[:, None, :])  # [B, K]
        weights = torch.softmax(p.weights.log() + like, dim=-1)
        return Mixture(weights, means, covs)


class ExactModel:
    """The exact network of the problem as the callable every loss and sampler takes, ``net(z, t, cond) -> output``
    in the scheduler's prediction type: unconditional (the teacher, the pretrained prior: ``cond`` ignored) or
    conditional (E[x | z_t, c])."""

    def __init__(self, problem: SRMixture, scheduler, conditional: bool):
        self.problem, self.scheduler, self.conditional = problem, scheduler, conditional

    def x_hat(self, z: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        t = torch.as_tensor(t).expand(len(z))
        a, s = (v.double().flatten() for v in schedule.alpha_sigma(self.scheduler, t, 1))
        mix = self.problem.posterior(cond) if self.conditional else self.problem.prior
        return denoise(mix, z.double(), a, s).to(z.dtype)

    def __call__(self, z: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        x = self.x_hat(z, t, cond)
        a, s = schedule.alpha_sigma(self.scheduler, torch.as_tensor(t).expand(len(z)).to(z.device), z.ndim)
        kind = self.scheduler.config.prediction_type
        if kind == "v_prediction":  # x = a z - s v
            return (a * z - x) / s
        if kind == "epsilon":
            return (z - a * x) / s
        if kind == "sample":
            return x
        raise ValueError(f"unsupported prediction_type {kind!r}")


def energy_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The unbiased (U-statistic) energy distance 2 E|X - Y| - E|X - X'| - E|Y - Y'| between sample sets
    x [B, n, d] and y [B, m, d], per row [B]; its expectation is 0 when both come from one distribution."""
    def mean_pairwise(a, b, same):
        dist = torch.cdist(a, b)
        if same:
            n = a.shape[1]
            return dist.sum((-1, -2)) / (n * (n - 1))
        return dist.mean((-1, -2))
    x, y = x.double(), y.double()
    return 2 * mean_pairwise(x, y, False) - mean_pairwise(x, x, True) - mean_pairwise(y, y, True)


def scores(problem: SRMixture, c: torch.Tensor, samples: torch.Tensor, reference: torch.Tensor) -> dict:
    """The tier's exact metrics per test condition, for ``samples`` [B, n, d] of p(x | c) against exact posterior
    ``reference`` samples [B, m, d]: energy distance, squared error of the sample mean against the exact posterior
    mean (per dimension), and mode coverage (the posterior mass of the components that receive a sample: each sample
    belongs to its most responsible component)."""
    post = problem.posterior(c)
    mean_err = (samples.double().mean(1) - post.mean()).pow(2).mean(-1)
    resp = Mixture(post.weights[:, None], post.means[:, None], post.covs).responsibilities(samples.double())
    hit = torch.zeros_like(post.weights).scatter_(1, resp.argmax(-1), 1.0)
    return {"energy_distance": energy_distance(samples, reference), "mean_sq_error": mean_err,
            "mode_coverage": (hit * post.weights).sum(-1)}
