"""Flow guides (IAF, planar, radial): log-determinants against autograd Jacobians, exact log_prob of the
guide's own samples, zero-weight flows, an exact-posterior flow with zero-variance importance weights,
and every VAE-family model with every guide."""
import math

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import SVI, Trace_ELBO
from torch import nn
from torch.autograd.functional import jacobian

from pyprogen.errors import PyprogenError
from pyprogen.infer import IWAE, JitTraceMeanField_ELBO, log_weights
from pyprogen.models import VAE, BetaTCVAE, BetaVAE, WAE, build
from pyprogen.models.guides import FlowGuide, IAFStep, build_guide

FLOWS = ["iaf", "planar", "radial"]
D, C = 3, 4


def _flow(kind, flow_length=1, seed=0, spread=0.3):
    """A float64 flow guide with N(0, spread²) weights, so that every step is far from the identity."""
    torch.manual_seed(seed)
    guide = build_guide(kind, D, C, flow_length=flow_length, hidden=(8,)).double()
    with torch.no_grad():
        for p in guide.parameters():
            p.copy_(spread * torch.randn_like(p))
    return guide


def _base_draw(q, z):
    """The base sample behind a sample ``z`` of ``q`` (each step's cache, walked backwards as log_prob does)."""
    for t in reversed(q.transforms):
        z = t.inv(z)
    return z


@pytest.mark.parametrize("kind", FLOWS)
def test_step_log_det_equals_autograd_jacobian(kind):
    """log|det ∂f/∂z| from the transform equals log|det| of torch.autograd.functional.jacobian (abs 1e-4),
    at 5 random points and contexts (float64)."""
    step = _flow(kind).steps[0]
    torch.manual_seed(1)
    moved = 0.0
    for _ in range(5):
        h, z = torch.randn(C, dtype=torch.float64), torch.randn(D, dtype=torch.float64)
        t = step.condition(h)
        y = t(z)
        log_det = t.log_abs_det_jacobian(z, y)
        jac = jacobian(lambda u: step.condition(h)(u), z)
        assert float(log_det.detach()) == pytest.approx(float(torch.linalg.slogdet(jac)[1]), abs=1e-4)
        moved = max(moved, float((jac - torch.eye(D, dtype=torch.float64)).abs().max()))
    assert moved > 0.1  # the steps tested are far from the identity (measured 0.17 / 0.33 / 0.19)


@pytest.mark.parametrize("kind", FLOWS)
def test_guide_log_prob_is_the_exact_density_of_its_samples(kind):
    """q.log_prob(z) for its own sample z = f_3∘f_2∘f_1(ε) equals log N(ε; μ, σ) − log|det J(ε)| with J the
    autograd Jacobian of the whole flow (abs 1e-4, float64, 4 points)."""
    guide = _flow(kind, flow_length=3)
    torch.manual_seed(2)
    loc, scale = torch.randn(4, D, dtype=torch.float64), torch.rand(4, D, dtype=torch.float64) + 0.5
    h = torch.randn(4, C, dtype=torch.float64)
    q = guide(loc, scale, h)
    z = q.rsample()
    assert z.shape == (4, D) and q.batch_shape == (4,) and q.event_shape == (D,)
    log_q, eps = q.log_prob(z), _base_draw(q, z)
    for n in range(4):
        def flow(u, n=n):
            for step in guide.steps:
                u = step.condition(h[n])(u)
            return u

        assert torch.allclose(flow(eps[n]), z[n], atol=1e-8)
        exact = dist.Normal(loc[n], scale[n]).to_event(1).log_prob(eps[n]) - torch.linalg.slogdet(jacobian(flow, eps[n]))[1]
        assert float(log_q[n].detach()) == pytest.approx(float(exact.detach()), abs=1e-4)


@pytest.mark.parametrize("kind", ["planar", "radial"])
def test_a_flow_with_zero_weights_is_its_base_normal(kind):
    """All weights 0: planar gives û = 0 and radial β = 0, so z = ε and log q(z) = log N(z; μ, σ) (abs 1e-6)."""
    guide = build_guide(kind, D, C, flow_length=2)
    with torch.no_grad():
        for p in guide.parameters():
            p.zero_()
    loc, scale, h = torch.randn(5, D), torch.rand(5, D) + 0.5, torch.randn(5, C)
    q = guide(loc, scale, h)
    z = q.rsample()
    assert torch.allclose(_base_draw(q, z), z, atol=1e-6)
    assert torch.allclose(q.log_prob(z), dist.Normal(loc, scale).to_event(1).log_prob(z), atol=1e-6)


# -- an IAF step that is the exact posterior of a linear-Gaussian model -------------------------------------
A = torch.tensor([[1.5, -0.5], [0.3, 1.0], [0.8, 0.7]])  # x ~ N(A z, S² I) in 3-D, z ~ N(0, I) in 2-D
S = 0.8
SIGMA = torch.linalg.inv(torch.eye(2) + A.T @ A / S**2)  # posterior covariance; mean SIGMA Aᵀ x / S²
L = torch.linalg.cholesky(SIGMA)


class ExactPosteriorAR(nn.Module):
    """(mean, logit σ) of one stable IAF step (Kingma et al. 2016, eq. 14: z' = σ ⊙ z + (1 − σ) ⊙ m) that maps
    ε ~ N(0, I) to μ(x) + L ε: σ_i = L_ii (L_ii < 1 since Σ ≺ I), m_i = (μ_i + Σ_{j<i} L_ij ε_j) / (1 − L_ii)."""

    permutation = torch.arange(2)

    def get_permutation(self):
        return self.permutation

    def forward(self, eps, context):
        mu = (context @ A / S**2) @ SIGMA  # (…, 2); SIGMA is symmetric
        diag = torch.diagonal(L)
        mean = torch.stack([mu[..., 0], mu[..., 1] + L[1, 0] * eps[..., 0]], -1) / (1 - diag)
        logit = torch.log(diag) - torch.log1p(-diag) - 2.0  # Pyro adds sigmoid_bias = 2
        return mean, logit.expand_as(mean)


def test_exact_posterior_flow_guide_has_zero_variance_importance_weights():
    flow = FlowGuide([IAFStep(ExactPosteriorAR())])
    x = torch.tensor([[0.5, -1.0, 2.0], [1.0, 0.0, -0.3], [-2.0, 1.5, 0.2]])

    def model(x):
        with pyro.plate("data", len(x)):
            z = pyro.sample("z", dist.Normal(torch.zeros(len(x), 2), 1.0).to_event(1))
            pyro.sample("x", dist.Normal(z @ A.T, S).to_event(1), obs=x)

    def guide(x):
        with pyro.plate("data", len(x)):
            pyro.sample("z", flow(torch.zeros(len(x), 2), torch.ones(len(x), 2), x))

    lw = log_weights(model, guide, x, num_particles=200)
    log_px = dist.MultivariateNormal(torch.zeros(3), A @ A.T + S**2 * torch.eye(3)).log_prob(x)
    assert lw.shape == (200, 3)
    assert float(lw.var(0).max()) < 1e-8  # a wrong log-det or density would show up as spread here
    assert torch.allclose(lw.mean(0), log_px, atol=1e-4)


# -- the guides inside the VAE family ---------------------------------------------------------------------------
X = (torch.rand(6, 1, 28, 28) > 0.5).float()


@pytest.mark.parametrize("kind", ["diagonal", *FLOWS])
def test_vae_guides_run_trace_elbo_iwae_and_vectorised_weights(kind):
    vae = VAE((1, 28, 28), latent_dim=4, guide=kind, flow_length=2)
    assert math.isfinite(Trace_ELBO().loss(vae.model, vae.guide, X))
    assert math.isfinite(IWAE(3).loss(vae.model, vae.guide, X))
    assert log_weights(vae.model, vae.guide, X, num_particles=5).shape == (5, 6)
    assert vae.sample(3).shape == (3, 1, 28, 28) and vae.encode(X).shape == (6, 4)
    assert torch.equal(vae.encode(X), vae.encode(X))  # seeded Monte-Carlo mean: the same codes twice
    assert type(vae.default_loss()) is JitTraceMeanField_ELBO  # analytic KL if Pyro has it, else Monte Carlo


def test_the_flow_context_is_the_encoders_last_hidden_layer():
    vae = VAE((1, 28, 28), latent_dim=4, guide="iaf", hidden=(64, 32))
    assert vae.flow.steps[0].net.context_dim == 32
    conv = VAE((1, 28, 28), latent_dim=4, guide="planar", net="conv")
    assert conv.flow.steps[0].net.layers[0].in_features == 256  # ConvEncoder's 256-unit head


@pytest.mark.parametrize("kind", FLOWS)
def test_pyro_svi_trains_the_flow_weights(kind):
    data = (torch.rand(32, 12) > 0.5).float()
    vae = VAE((12,), latent_dim=3, hidden=(16,), guide=kind)
    before = [p.detach().clone() for p in vae.flow.parameters()]
    svi = SVI(vae.model, vae.guide, pyro.optim.Adam({"lr": 0.01}), Trace_ELBO())
    svi.step(data)
    assert any(name.startswith("flow.") for name in pyro.get_param_store())
    assert all(not torch.equal(b, p) for b, p in zip(before, vae.flow.parameters()))


@pytest.mark.parametrize("cls, kw", [(BetaVAE, {"beta": 2.0}), (WAE, {}), (BetaTCVAE, {"dataset_size": 100})])
def test_vae_family_models_inherit_the_guides(cls, kw):
    data = (torch.rand(16, 12) > 0.5).float()
    model = cls((12,), latent_dim=3, hidden=(16,), guide="iaf", **kw)
    if cls is BetaTCVAE:  # the MSS estimator needs a factorised q(z|x): a clear error, not a wrong number
        with pytest.raises(PyprogenError, match="factorised"):
            model.default_loss().loss(model.model, model.guide, data)
        return
    assert math.isfinite(model.default_loss().loss(model.model, model.guide, data))


@pytest.mark.parametrize("kw, needle", [({"guide": "maf"}, "guide: unknown guide 'maf'"),
                                        ({"guide": "iaf", "flow_length": 0}, "flow_length"),
                                        ({"guide": "planar", "flow_length": 2.5}, "flow_length"),
                                        ({"guide": "iaf", "latent_dim": 1}, "latent_dim"),
                                        ({"guide": "radial", "flow_hidden": (0,)}, "flow_hidden")])
def test_bad_guide_arguments_are_one_line_errors(kw, needle):
    kw = {"latent_dim": 2, **kw}
    with pytest.raises(PyprogenError, match=needle) as info:
        build("vae", (4,), **kw)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("kind", FLOWS)
def test_flow_guides_train_through_fit_on_mnist_digits(kind):
    """3 epochs of fit on 300 binarized-MNIST digits: the training loss falls every epoch."""
    from pyprogen.data import load_dataset
    from pyprogen.train import fit

    data = load_dataset("binarized-mnist", "train").x[:300]
    vae = build("vae", (1, 28, 28), latent_dim=8, guide=kind, flow_length=2)
    history = fit(vae, data, epochs=3, batch_size=50, progress=False)
    losses = [h["loss"] for h in history]
    assert losses[0] > losses[1] > losses[2], losses


def test_a_trained_flow_guide_vae_is_rebuilt_by_load(tmp_path):
    """fit writes the guide/prior keywords with the model; load rebuilds the same guide density (abs 1e-5)."""
    from pyprogen.train import fit, load

    data = (torch.rand(40, 12) > 0.5).float()
    vae = build("vae", (12,), latent_dim=3, hidden=(16,), guide="iaf", prior="mog", prior_components=3)
    fit(vae, data, epochs=1, batch_size=20, out=str(tmp_path), progress=False)
    again = load(str(tmp_path))
    assert again.guide_name == "iaf" and again.prior_name == "mog"
    with torch.no_grad():
        q1, q2 = vae.posterior(data[:5]), again.posterior(data[:5])
        z = q1.rsample()
        base = _base_draw(q1, z)
        y, log_det = base, 0.0  # the rebuilt flow, run forward from the same base draw
        for t in q2.transforms:
            y_next = t(y)
            log_det = log_det + t.log_abs_det_jacobian(y, y_next)
            y = y_next
        assert torch.allclose(y, z, atol=1e-5)
        assert torch.allclose(q2.base_dist.log_prob(base) - log_det, q1.log_prob(z), atol=1e-5)
        assert torch.allclose(again.prior(5).log_prob(z), vae.prior(5).log_prob(z), atol=1e-5)


def test_the_default_loss_gives_trace_elbos_gradient_in_expectation_for_a_flow():
    """The compiled mean-field ELBO with a Monte-Carlo KL (the default for flows) against Trace_ELBO: mean
    gradients over 200 draws each, per coordinate z = Δmean / standard error; E[z²] = 1 if they agree
    (measured 1.005 for iaf at 300 draws); a wrong term (e.g. a missing log-det) gives E[z²] ≫ 1."""
    data = (torch.rand(16, 12) > 0.5).float()
    vae = VAE((12,), latent_dim=3, hidden=(16,), guide="iaf")

    def grads(loss, seed):
        pyro.set_rng_seed(seed)
        out = []
        for _ in range(200):
            vae.zero_grad()
            loss.differentiable_loss(vae.model, vae.guide, data).backward()
            out.append(torch.cat([p.grad.flatten() for p in vae.parameters()]))
        return torch.stack(out)

    a, b = grads(vae.default_loss(), 1), grads(Trace_ELBO(), 2)
    se = ((a.var(0) + b.var(0)) / 200).sqrt()
    z = ((a.mean(0) - b.mean(0)) / se)[se > 1e-6]
    assert 0.7 < float((z**2).mean()) < 1.3
