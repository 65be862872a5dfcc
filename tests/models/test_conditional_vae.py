"""Conditional VAE p(x | y, z): sites and shapes, the labelled ELBO, class-conditional sampling, training."""
from functools import partial

import pyro
import pytest
import torch
from pyro import poutine
from pyro.infer import Trace_ELBO

from pyprogen.errors import PyprogenError
from pyprogen.models import build
from pyprogen.models.conditional_vae import ConditionalVAE, with_onehot
from pyprogen.models.m2 import fit_labelled
from pyprogen.train import fit


def test_with_onehot_broadcasts_enumerated_labels():
    a = torch.randn(5, 3)
    y = torch.arange(4).reshape(4, 1)  # an enumerated label, shape (K, 1)
    out = with_onehot(a, y, 4)
    assert out.shape == (4, 5, 7)
    assert torch.equal(out[2, 1, 3:], torch.tensor([0.0, 0.0, 1.0, 0.0])) and torch.equal(out[2, 1, :3], a[1])


def test_sites_and_labelled_elbo():
    torch.manual_seed(0)
    m = build("cvae", (1, 4, 4), latent_dim=2, hidden=(8,))
    x = (torch.rand(3, 1, 4, 4) < 0.5).float()
    y = torch.tensor([0, 5, 9])
    pyro.set_rng_seed(1)
    loss = Trace_ELBO().loss(m.model, m.guide, x, y)
    pyro.set_rng_seed(1)
    gt = poutine.trace(m.guide).get_trace(x, y)
    mt = poutine.trace(poutine.replay(m.model, trace=gt)).get_trace(x, y)
    assert [k for k, v in mt.nodes.items() if v["type"] == "sample" and k != "data"] == ["y", "z", "x"]
    assert all(any(f.name == "data" for f in mt.nodes[k]["cond_indep_stack"]) for k in ("y", "z", "x"))
    assert loss == pytest.approx(float(-(mt.log_prob_sum() - gt.log_prob_sum()).detach()), rel=1e-6)


def test_class_conditional_samples_follow_the_label():
    """After training on two classes (top half on vs bottom half on), samples with label k look like class k."""
    torch.manual_seed(2)
    g = torch.Generator().manual_seed(2)
    y = torch.arange(128) % 2
    protos = torch.tensor([[1.0] * 8 + [0.0] * 8, [0.0] * 8 + [1.0] * 8])
    x = (torch.rand(128, 16, generator=g) < 0.05 + 0.9 * protos[y]).float().reshape(128, 1, 4, 4)
    m = ConditionalVAE((1, 4, 4), num_classes=2, latent_dim=2, hidden=(32,))
    fit_labelled(m, x, y, steps=150, labelled_batch_size=64, lr=1e-2)
    for label in (0, 1):
        s = m.sample(200, label=label).reshape(200, 16)
        top, bottom = s[:, :8].mean(), s[:, 8:].mean()
        assert (top > 0.8 and bottom < 0.2) if label == 0 else (top < 0.2 and bottom > 0.8)
    assert m.sample(4).shape == (4, 1, 4, 4)


def test_missing_labels_and_bad_labels_raise():
    m = ConditionalVAE((1, 4, 4), latent_dim=2, hidden=(8,))
    x = torch.ones(2, 1, 4, 4)
    with pytest.raises(PyprogenError, match="labels: ConditionalVAE needs a label for every data point"):
        fit(m, x, epochs=1, progress=False)
    with pytest.raises(PyprogenError, match="labels: expected 2 labels"):
        fit(m, x, labels=torch.tensor([0, 1, 1]), epochs=1, progress=False)
    with pytest.raises(PyprogenError, match="labels: pass the data as a tensor"):
        fit(m, torch.utils.data.TensorDataset(x), labels=torch.tensor([0, 1]), epochs=1, progress=False)
    with pytest.raises(PyprogenError, match="labels: VAE's model"):
        fit(build("vae", (1, 4, 4), latent_dim=2, hidden=(8,)), x, labels=torch.tensor([0, 1]), epochs=1,
            progress=False)
    with pytest.raises(PyprogenError, match="label"):
        m.sample(2, label=12)
    with pytest.raises(PyprogenError, match="y"):
        Trace_ELBO().loss(m.model, m.guide, x, torch.tensor([0.5, 1.0]))
    with pytest.raises(PyprogenError, match="labelled"):
        fit_labelled(m, x, torch.tensor([0, 1]), labelled=torch.tensor([True, False]))
    with pytest.raises(PyprogenError, match="num_classes"):
        ConditionalVAE((1, 4, 4), num_classes=1)


def two_class_data(n=256, seed=2):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    protos = torch.tensor([[1.0] * 8 + [0.0] * 8, [0.0] * 8 + [1.0] * 8])
    return (torch.rand(n, 16, generator=g) < 0.05 + 0.9 * protos[y]).float().reshape(n, 1, 4, 4), y


def test_fit_with_labels_trains_the_class_conditional_model():
    """fit(cvae, x, labels=y): each step calls model(x, y) on its rows; the same check as with fit_labelled."""
    x, y = two_class_data()
    torch.manual_seed(2)
    m = ConditionalVAE((1, 4, 4), num_classes=2, latent_dim=2, hidden=(32,))
    fit(m, x, labels=y, epochs=40, batch_size=64, lr=1e-2, progress=False)
    for label in (0, 1):
        s = m.sample(200, label=label).reshape(200, 16)
        top, bottom = s[:, :8].mean(), s[:, 8:].mean()
        assert (top > 0.8 and bottom < 0.2) if label == 0 else (top < 0.2 and bottom > 0.8)


def test_without_a_label_the_guide_proposes_the_prior_label_and_log_likelihood_is_the_marginal():
    """log p(x) estimated with y ~ p(y) proposed equals log Σ_y p(y) p(x|y), each p(x|y) estimated with the label
    given (5,000 particles each; tolerance 0.05 nats)."""
    from pyprogen.metrics.likelihood import log_likelihood

    x, y = two_class_data(8)
    torch.manual_seed(2)
    m = ConditionalVAE((1, 4, 4), num_classes=2, latent_dim=2, hidden=(32,))
    fit(m, x, labels=y, epochs=5, batch_size=8, lr=1e-2, progress=False)
    pyro.set_rng_seed(0)
    marginal = log_likelihood(m.model, m.guide, x, num_particles=5000)
    per_label = torch.stack([log_likelihood(partial(m.model, y=torch.full((8,), c)), partial(m.guide, y=torch.full(
        (8,), c)), x, num_particles=5000) for c in (0, 1)])  # log p(x, y = c)
    assert torch.allclose(marginal, per_label.logsumexp(0), atol=0.05)
