"""Conditional VAE p(x | y, z): sites and shapes, the labelled ELBO, class-conditional sampling, training."""
import pyro
import pytest
import torch
from pyro import poutine
from pyro.infer import Trace_ELBO

from pyprogen.errors import PyprogenError
from pyprogen.models import build
from pyprogen.models.conditional_vae import ConditionalVAE, with_onehot
from pyprogen.models.m2 import fit_labelled


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
    with pytest.raises(PyprogenError, match="y: the conditional VAE needs a label"):
        Trace_ELBO().loss(m.model, m.guide, x)
    with pytest.raises(PyprogenError, match="label"):
        m.sample(2, label=12)
    with pytest.raises(PyprogenError, match="y"):
        Trace_ELBO().loss(m.model, m.guide, x, torch.tensor([0.5, 1.0]))
    with pytest.raises(PyprogenError, match="labelled"):
        fit_labelled(m, x, torch.tensor([0, 1]), labelled=torch.tensor([True, False]))
    with pytest.raises(PyprogenError, match="num_classes"):
        ConditionalVAE((1, 4, 4), num_classes=1)
