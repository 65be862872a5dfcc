"""JitTraceMeanField_ELBO compiles once (Pyro 1.9.2's re-traces every step) and gives the same loss."""
import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import SVI, TraceMeanField_ELBO
from pyro.infer import JitTraceMeanField_ELBO as PyroJitTraceMeanField_ELBO
from pyro.optim import Adam

from pyprogen.infer import JitTraceMeanField_ELBO
from pyprogen.models import VAE

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.trace` is deprecated:DeprecationWarning")

CALLS = {"model": 0}


def model(x):
    CALLS["model"] += 1
    w = pyro.param("w", torch.tensor(1.0))
    with pyro.plate("data", x.shape[0]):
        z = pyro.sample("z", dist.Normal(torch.zeros(x.shape[0], 2), 1.0).to_event(1))
        pyro.sample("x", dist.Normal(w * z.sum(-1), 0.5), obs=x)


def guide(x):
    a = pyro.param("a", torch.tensor(0.1))
    with pyro.plate("data", x.shape[0]):
        pyro.sample("z", dist.Normal(a * x[:, None].expand(-1, 2), 0.7).to_event(1))


def model_calls_per_step(loss_cls, steps=5):
    pyro.clear_param_store()
    CALLS["model"] = 0
    svi = SVI(model, guide, Adam({"lr": 0.01}), loss=loss_cls(ignore_jit_warnings=True))
    x = torch.linspace(-2, 2, 6)
    counts = []
    for _ in range(steps):
        svi.step(x)
        counts.append(CALLS["model"])
    return counts


def test_compiled_once_while_pyros_version_retraces():
    ours = model_calls_per_step(JitTraceMeanField_ELBO)
    theirs = model_calls_per_step(PyroJitTraceMeanField_ELBO)
    assert ours[0] >= 1 and ours[-1] == ours[0], ours  # Python model runs only while compiling
    # Pyro 1.9.2 re-traces on every step; if this fails, Pyro fixed the bug and the subclass can go.
    assert theirs[-1] >= theirs[0] + 4, theirs


def test_loss_equals_trace_mean_field_on_the_same_seed():
    x = torch.linspace(-2, 2, 6)
    jit = JitTraceMeanField_ELBO(ignore_jit_warnings=True)
    jit.differentiable_loss(model, guide, x)  # compile first: compiling consumes random numbers
    for seed in (0, 1, 2):
        pyro.set_rng_seed(seed)
        a = jit.differentiable_loss(model, guide, x).item()
        pyro.set_rng_seed(seed)
        b = TraceMeanField_ELBO().differentiable_loss(model, guide, x).item()
        assert a == pytest.approx(b, rel=1e-4)


def test_jit_elbo_trains_the_vae_in_svi():
    pyro.set_rng_seed(0)
    data = torch.bernoulli(torch.sigmoid(3 * torch.randn(20)).expand(64, 20))
    vae = VAE((20,), latent_dim=2, hidden=(32,))
    svi = SVI(vae.model, vae.guide, Adam({"lr": 1e-2}), loss=JitTraceMeanField_ELBO(ignore_jit_warnings=True))
    losses = [svi.step(data) / len(data) for _ in range(40)]
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < 0.8 * first, (first, last)
