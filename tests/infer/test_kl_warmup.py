"""KL warm-up: β_t = min(1, t / N) at update t, read from the optimiser's own count; the loss at β_t
equals the β-ELBO with β = β_t; fit and resume follow it exactly."""
import pyro
import pytest
import torch

from pyprogen.errors import PyprogenError
from pyprogen.infer import BetaELBO
from pyprogen.infer.kl_warmup import KLWarmup, warmup_coefficient, with_kl_options
from pyprogen.models import build
from pyprogen.train import fit


def test_coefficient_at_given_steps():
    assert [warmup_coefficient(t, 4) for t in (0, 1, 2, 4, 9)] == [0.0, 0.25, 0.5, 1.0, 1.0]
    assert warmup_coefficient(0, 0) == 1.0


def test_warmup_loss_is_the_beta_elbo_at_the_clock():
    torch.manual_seed(0)
    vae = build("vae", (6,), latent_dim=3, likelihood="bernoulli", hidden=(8,))
    x = (torch.rand(10, 6) > 0.5).float()
    t = {"now": 0}
    warm = KLWarmup(pyro.infer.Trace_ELBO(), 8)
    assert warm.coefficient == 1.0  # no clock bound: the plain objective
    warm.bind(lambda: t["now"])
    for now, beta in ((0, 0.0), (2, 0.25), (6, 0.75), (8, 1.0), (20, 1.0)):
        t["now"] = now
        assert warm.coefficient == beta
        pyro.set_rng_seed(1)
        got = warm.differentiable_loss(vae.model, vae.guide, x)
        pyro.set_rng_seed(1)
        want = BetaELBO(beta).differentiable_loss(vae.model, vae.guide, x)
        assert torch.allclose(got, want, rtol=1e-6)
    t["now"] = 0  # the test loss is the plain ELBO whatever the clock
    pyro.set_rng_seed(2)
    plain = pyro.infer.Trace_ELBO().loss(vae.model, vae.guide, x)
    pyro.set_rng_seed(2)
    assert warm.loss(vae.model, vae.guide, x) == pytest.approx(plain)


def test_fit_warms_up_with_the_update_count_and_resumes_exactly(tmp_path, monkeypatch):
    seen = []
    original = KLWarmup.differentiable_loss

    def record(self, *args, **kwargs):
        seen.append(self.coefficient)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(KLWarmup, "differentiable_loss", record)
    x = (torch.rand(48, 6, generator=torch.Generator().manual_seed(0)) > 0.5).float()

    def run(out, epochs, resume=False):
        torch.manual_seed(0)
        vae = build("vae", (6,), latent_dim=3, likelihood="bernoulli", hidden=(8,))
        hist = fit(vae, x, epochs=epochs, batch_size=16, kl_warmup=5, out=str(out), resume=resume, progress=False)
        return hist, vae

    full, vae_full = run(tmp_path / "full", 3)
    assert seen[1:] == [min(1.0, t / 5) for t in range(9)]  # seen[0]: parameter capture before any update
    run(tmp_path / "split", 1)
    seen.clear()
    resumed, vae_resumed = run(tmp_path / "split", 3, resume=True)
    assert seen[1:] == [min(1.0, t / 5) for t in range(3, 9)]
    assert [e["loss"] for e in resumed] == [e["loss"] for e in full]
    assert all(torch.equal(a, b) for a, b in zip(vae_full.parameters(), vae_resumed.parameters()))


def test_options_refuse_adversarial_losses():
    from pyprogen.infer import adversarial_loss

    with pytest.raises(PyprogenError, match="kl_warmup/free_bits"):
        with_kl_options(adversarial_loss("ns-gan"), kl_warmup=10)
    with pytest.raises(PyprogenError, match="kl_warmup"):
        with_kl_options(pyro.infer.Trace_ELBO(), kl_warmup=-1)
    loss = pyro.infer.Trace_ELBO()
    assert with_kl_options(loss) is loss and with_kl_options(loss, kl_warmup=0) is loss
