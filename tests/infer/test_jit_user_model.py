"""The compiled mean-field ELBO (infer/compiled.py) on a user's own model in Pyro syntax.

The README's TinyVAE holds plain ``nn.Sequential`` nets that Pyro never sees (no ``pyro.module``):
their parameters must be inputs of the record, not constants (torch.jit.trace crashed with
"Cannot insert a Tensor that requires grad as a constant"). The record is built once per model,
reused by a refit and freed with the model.
"""
import gc
import warnings
import weakref

import pyro
import pyro.distributions as dist
import pyro.poutine as poutine
import pytest
import torch
from pyro.infer import TraceMeanField_ELBO
from torch import nn

from pyprogen.infer import JitTraceMeanField_ELBO, TorchSVI
from pyprogen.infer.compiled import _CACHE, CompiledLoss
from pyprogen.models import GenerativeModel
from pyprogen.train import fit


class TinyVAE(GenerativeModel):  # README, "custom model in Pyro syntax" (smaller nets)
    def __init__(self, k=4, d=12):
        super().__init__((d,), latent_dim=k)
        self.dec = nn.Sequential(nn.Linear(k, 32), nn.ReLU(), nn.Linear(32, d))
        self.enc = nn.Sequential(nn.Linear(d, 32), nn.ReLU(), nn.Linear(32, 2 * k))

    def model(self, x=None, n=None):
        n = self.batch_size(x, n)
        with pyro.plate("data", n):
            z = pyro.sample("z", dist.Normal(torch.zeros(n, self.latent_dim), 1.0).to_event(1))
            obs = None if x is None else x.reshape(n, -1)
            return pyro.sample("x", dist.Bernoulli(logits=self.dec(z)).to_event(1), obs=obs)

    def guide(self, x=None, n=None):
        loc, log_scale = self.enc(x.reshape(len(x), -1)).chunk(2, -1)
        with pyro.plate("data", len(x)):
            pyro.sample("z", dist.Normal(loc, log_scale.exp()).to_event(1))


def data(n=64, d=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.bernoulli(torch.sigmoid(3 * torch.randn(n, d, generator=g)))


def losses_and_grads(loss_fn, vae, x, seed):
    pyro.set_rng_seed(seed)
    loss = loss_fn(vae.model, vae.guide, x)
    grads = torch.autograd.grad(loss, list(vae.parameters()))
    return loss.item(), grads


def test_readme_tinyvae_trains_with_the_jit_elbo_and_equals_the_uncompiled_loss(tmp_path):
    pyro.clear_param_store()
    torch.manual_seed(0)
    vae, x = TinyVAE(), data(256)
    before = [p.detach().clone() for p in vae.parameters()]
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # no torch.jit.trace any more
        history = fit(vae, x, loss=JitTraceMeanField_ELBO(), epochs=3, batch_size=64, out=str(tmp_path / "run"),
                      progress=False)
    moved = [float((p.detach() - b).abs().max()) for p, b in zip(vae.parameters(), before)]
    assert all(m > 0 for m in moved), moved  # every parameter of both plain nn.Sequential nets trained
    assert history[-1]["loss"] < history[0]["loss"]
    jit, eager = JitTraceMeanField_ELBO(), TraceMeanField_ELBO()
    for seed in (0, 1, 2):
        a, ga = losses_and_grads(jit.differentiable_loss, vae, x[:64], seed)
        b, gb = losses_and_grads(eager.differentiable_loss, vae, x[:64], seed)
        assert a == pytest.approx(b, rel=1e-4, abs=1e-4)
        for g1, g2 in zip(ga, gb):
            torch.testing.assert_close(g1, g2, rtol=1e-4, atol=1e-5)


def test_the_first_call_consumes_no_random_numbers_and_equals_eager():
    vae, x = TinyVAE(), data()
    a, _ = losses_and_grads(JitTraceMeanField_ELBO().differentiable_loss, vae, x, 5)  # records, then runs
    b, _ = losses_and_grads(TraceMeanField_ELBO().differentiable_loss, vae, x, 5)
    assert a == pytest.approx(b, rel=1e-6)  # the same draws (float rounding may differ by memory alignment)


def test_refit_reuses_the_record_and_it_is_freed_with_the_model():
    pyro.clear_param_store()
    vae, x = TinyVAE(), data(128)
    fit(vae, x, loss=JitTraceMeanField_ELBO(), epochs=1, batch_size=64, progress=False)
    (entry,) = _CACHE[vae].values()
    assert isinstance(entry, CompiledLoss) and entry.traces == 1
    fit(vae, x, loss=JitTraceMeanField_ELBO(), epochs=2, batch_size=64, progress=False)  # a fresh estimator
    assert list(_CACHE[vae].values()) == [entry] and entry.traces == 1
    fit(vae, x, loss=JitTraceMeanField_ELBO(num_particles=2), epochs=1, batch_size=64, progress=False)
    assert len(_CACHE[vae]) == 2  # other settings, another record
    alive = weakref.ref(vae)
    del vae, entry
    gc.collect()
    assert alive() is None


def test_torchsvi_trains_the_plain_modules_without_listing_them():
    pyro.clear_param_store()
    vae, x = TinyVAE(), data()
    step = TorchSVI(vae.model, vae.guide, lambda p: torch.optim.Adam(p, lr=1e-2), JitTraceMeanField_ELBO())
    step.step(x)
    assert {id(p) for p in step.params} == {id(p) for p in vae.parameters()}


def test_new_shapes_and_training_mode_record_again_and_match_eager():
    vae = TinyVAE()
    jit, eager = JitTraceMeanField_ELBO(), TraceMeanField_ELBO()
    for n in (16, 7, 16):
        x = data(n)
        a, _ = losses_and_grads(jit.differentiable_loss, vae, x, n)
        b, _ = losses_and_grads(eager.differentiable_loss, vae, x, n)
        assert a == pytest.approx(b, rel=1e-5)
    vae.eval()
    a, _ = losses_and_grads(jit.differentiable_loss, vae, data(16), 1)
    assert jit.compile(vae.model, vae.guide).traces == 3


def test_inside_other_pyro_handlers_the_loss_runs_uncompiled():
    vae, x = TinyVAE(), data()
    jit, eager = JitTraceMeanField_ELBO(), TraceMeanField_ELBO()
    jit.differentiable_loss(vae.model, vae.guide, x)
    scaled = poutine.scale(scale=0.5)
    pyro.set_rng_seed(3)
    a = scaled(jit.differentiable_loss)(vae.model, vae.guide, x)
    pyro.set_rng_seed(3)
    b = scaled(eager.differentiable_loss)(vae.model, vae.guide, x)
    assert a.item() == pytest.approx(b.item(), rel=1e-6)


class NormVAE(TinyVAE):
    """Buffers updated in place (BatchNorm running statistics) and a no-grad region."""

    def __init__(self):
        super().__init__()
        self.norm = nn.BatchNorm1d(12)

    def guide(self, x=None, n=None):
        h = self.norm(x)
        with torch.no_grad():
            shift = self.enc(h).mean()  # no gradient may flow through this
        loc, log_scale = self.enc(h).chunk(2, -1)
        with pyro.plate("data", len(x)):
            pyro.sample("z", dist.Normal(loc + shift, log_scale.exp()).to_event(1))


def test_buffers_are_updated_in_place_and_no_grad_regions_stay_without_gradient():
    x = data()
    compiled, eager = NormVAE(), NormVAE()
    eager.load_state_dict(compiled.state_dict())
    jit = JitTraceMeanField_ELBO()
    for seed in range(3):
        a, ga = losses_and_grads(jit.differentiable_loss, compiled, x, seed)
        b, gb = losses_and_grads(TraceMeanField_ELBO().differentiable_loss, eager, x, seed)
        assert a == pytest.approx(b, rel=1e-5)
        for g1, g2 in zip(ga, gb):
            torch.testing.assert_close(g1, g2)
    torch.testing.assert_close(compiled.norm.running_mean, eager.norm.running_mean)
    assert int(compiled.norm.num_batches_tracked) == 3


def test_param_store_params_are_inputs_and_survive_a_cleared_store():
    def model(x):
        w = pyro.param("w", torch.tensor(1.0))
        s = pyro.param("s", torch.tensor(0.5), constraint=dist.constraints.positive)
        with pyro.plate("data", len(x)):
            z = pyro.sample("z", dist.Normal(torch.zeros(len(x)), 1.0))
            pyro.sample("x", dist.Normal(w * z, s), obs=x)

    def guide(x):
        a = pyro.param("a", torch.tensor(0.1))
        with pyro.plate("data", len(x)):
            pyro.sample("z", dist.Normal(a * x, 0.7))

    pyro.clear_param_store()
    x = torch.linspace(-2, 2, 6)
    jit, eager = JitTraceMeanField_ELBO(), TraceMeanField_ELBO()
    for _ in range(2):
        loss = jit.differentiable_loss(model, guide, x)
        params = [pyro.param(n).unconstrained() for n in ("w", "s", "a")]
        grads = torch.autograd.grad(loss, params)
        pyro.set_rng_seed(0)
        b = eager.differentiable_loss(model, guide, x)
        pyro.set_rng_seed(0)
        a = jit.differentiable_loss(model, guide, x)
        assert a.item() == pytest.approx(b.item(), rel=1e-6)
        assert all(float(g.abs()) > 0 for g in grads)
        pyro.clear_param_store()  # the program makes its params again; the record reads the new ones


def test_a_loss_that_differentiates_inside_runs_uncompiled_with_a_warning():
    from pyprogen.infer.compiled import CompiledLoss

    w = torch.tensor([0.5, -1.0], requires_grad=True)

    def penalised(model, guide, x):
        x = x.detach().requires_grad_(True)
        (g,) = torch.autograd.grad((w * x).pow(2).sum(), x, create_graph=True)
        return g.pow(2).sum()

    def model(x):
        pass

    x = torch.randn(3, 2)
    compiled = CompiledLoss(penalised, model, model)
    with pytest.warns(UserWarning, match="uncompiled"):
        a = compiled(x)
    torch.testing.assert_close(a, penalised(None, None, x))
    assert compiled.uncompilable and compiled(x).requires_grad


def test_a_first_call_without_gradients_does_not_leave_training_without_them():
    vae, x = TinyVAE(), data()
    jit = JitTraceMeanField_ELBO()
    with torch.no_grad():
        jit.differentiable_loss(vae.model, vae.guide, x)
    loss = jit.differentiable_loss(vae.model, vae.guide, x)
    assert all(g is not None for g in torch.autograd.grad(loss, list(vae.parameters())))


def test_model_and_guide_of_different_owners_and_a_changed_module():
    vae, other, x = TinyVAE(), TinyVAE(), data()
    jit, eager = JitTraceMeanField_ELBO(), TraceMeanField_ELBO()
    first = jit.compile(vae.model, other.guide)
    assert jit.compile(vae.model, other.guide) is first
    assert jit.compile(vae.model, vae.guide) is not first
    a, _ = losses_and_grads(jit.differentiable_loss, vae, x, 0)  # vae's own guide
    vae.enc.append(nn.Identity())
    vae.dec[0] = nn.Linear(4, 32)  # a new parameter object: the record reads it after a refresh
    compiled = jit.compile(vae.model, vae.guide)
    compiled.refresh()
    a, _ = losses_and_grads(jit.differentiable_loss, vae, x, 1)
    b, _ = losses_and_grads(eager.differentiable_loss, vae, x, 1)
    assert a == pytest.approx(b, rel=1e-6)
