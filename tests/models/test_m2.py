"""M2 (Kingma et al. 2014): the enumerated ELBO equals the explicit sum over the labels, labelled points
give the labelled bound, the classification term, semi-supervised training learns to classify."""
import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine
from pyro.infer import Trace_ELBO, TraceEnum_ELBO

from pyprogen.errors import PyprogenError
from pyprogen.models import build
from pyprogen.models.conditional_vae import with_onehot
from pyprogen.models.m2 import M2, fit_labelled


def small_m2(seed=0, **kw):
    torch.manual_seed(seed)
    return M2((1, 4, 4), latent_dim=3, hidden=(16,), **kw)


def binary(n, seed=1):
    return (torch.rand(n, 1, 4, 4, generator=torch.Generator().manual_seed(seed)) < 0.5).float()


def test_enumerated_elbo_equals_the_explicit_sum_over_the_ten_labels():
    """−TraceEnum_ELBO = Σ_n [Σ_y q(y|x_n) L(x_n, y) + H(q(y|x_n))] with L(x, y) = log p(x|y,z) + log p(y)
    + log p(z) − log q(z|x,y) at the z the enumerated guide drew for (x_n, y), computed by hand per label."""
    m, x = small_m2(), binary(5)
    pyro.set_rng_seed(1)
    enumerated = TraceEnum_ELBO(max_plate_nesting=1).loss(m.model, m.guide, x)
    pyro.set_rng_seed(1)  # the same draws of z, one per (label, point), to share the Monte-Carlo noise
    z_all = poutine.trace(poutine.enum(m.guide, first_available_dim=-2)).get_trace(x).nodes["z"]["value"]
    assert z_all.shape == (10, 5, 3)
    with torch.no_grad():
        q_y = torch.softmax(m.classifier(x), -1)
        total = 0.0
        for n in range(5):
            xn = x[n].reshape(-1)
            for label in range(10):
                y = torch.tensor(label)
                z = z_all[label, n]
                loc, scale = m.encoder(with_onehot(xn[None], y[None], 10))
                logits = m.decoder(with_onehot(z[None], y[None], 10))[0]
                L = (dist.Bernoulli(logits=logits).log_prob(xn).sum() + torch.log(torch.tensor(0.1))
                     + dist.Normal(0.0, 1.0).log_prob(z).sum() - dist.Normal(loc[0], scale[0]).log_prob(z).sum())
                total += float(q_y[n, label] * L)
            total += float(-(q_y[n] * q_y[n].log()).sum())
    assert abs(enumerated + total) < 1e-4 * max(1.0, abs(total))


def labelled_bound(m, xn, label, z):
    """L(x, y) = log p(x|y,z) + log p(y) + log p(z) − log q(z|x,y) at one z, by hand."""
    y = torch.tensor(label)
    loc, scale = m.encoder(with_onehot(xn[None], y[None], 10))
    logits = m.decoder(with_onehot(z[None], y[None], 10))[0]
    return (dist.Bernoulli(logits=logits).log_prob(xn).sum() + torch.log(torch.tensor(0.1))
            + dist.Normal(0.0, 1.0).log_prob(z).sum() - dist.Normal(loc[0], scale[0]).log_prob(z).sum())


def test_a_mixed_minibatch_gives_U_on_unlabelled_rows_and_L_plus_classification_on_labelled_rows():
    """Labels −1 (missing) and given in one batch, as fit(model, x, labels=y) passes them: −TraceEnum_ELBO =
    Σ_unlabelled [Σ_y q(y|x) L(x, y) + H(q(y|x))] + Σ_labelled [L(x, y) + α log q(y|x)], by hand at the z the
    enumerated guide drew (tolerance 1e-4 relative)."""
    m, x = small_m2(alpha=2.0), binary(6)
    y = torch.tensor([-1, 4, -1, 0, 9, -1])
    pyro.set_rng_seed(3)
    loss = TraceEnum_ELBO(max_plate_nesting=1).loss(m.model, m.guide, x, y)
    pyro.set_rng_seed(3)
    z_all = poutine.trace(poutine.enum(m.guide, first_available_dim=-2)).get_trace(x, y).nodes["z"]["value"]
    assert z_all.shape == (10, 6, 3)
    total = 0.0
    with torch.no_grad():
        log_q = torch.log_softmax(m.classifier(x), -1)
        for n in range(6):
            xn = x[n].reshape(-1)
            if y[n] < 0:
                total += sum(float(log_q[n, c].exp() * labelled_bound(m, xn, c, z_all[c, n])) for c in range(10))
                total += float(-(log_q[n].exp() * log_q[n]).sum())
            else:
                c = int(y[n])
                total += float(labelled_bound(m, xn, c, z_all[c, n]) + 2.0 * log_q[n, c])
    assert abs(loss + total) < 1e-4 * max(1.0, abs(total))


def test_labelled_points_give_the_labelled_bound():
    """With y observed, nothing is enumerated: Trace_ELBO's loss is −[log p(x|y,z) + log p(y) + log p(z) − log q(z|x,y)]
    − α log q(y|x) (the classification term, the model's "y_class" site)."""
    m, x = small_m2(), binary(4)
    y = torch.tensor([0, 3, 9, 3])
    pyro.set_rng_seed(2)
    loss = Trace_ELBO().loss(m.model, m.guide, x, y)
    pyro.set_rng_seed(2)
    gt = poutine.trace(m.guide).get_trace(x, y)
    assert "y" not in gt.nodes
    mt = poutine.trace(poutine.replay(m.model, trace=gt)).get_trace(x, y)
    assert mt.nodes["y"]["is_observed"] and mt.nodes["y_class"]["scale"] == m.alpha
    expected = -(mt.log_prob_sum() - gt.log_prob_sum())
    assert loss == pytest.approx(float(expected.detach()), rel=1e-6)
    ce = torch.nn.functional.cross_entropy(m.classifier(x), y, reduction="sum")
    bound = -(mt.log_prob_sum() - mt.nodes["y_class"]["fn"].log_prob(y).sum() * m.alpha - gt.log_prob_sum())
    assert loss == pytest.approx(float((bound + m.alpha * ce).detach()), rel=1e-6)


def test_fit_with_missing_labels_learns_the_labels_of_unlabelled_points():
    """The same task through fit(model, x, labels=y) with −1 for missing labels (8 of 400 kept, balanced rows)."""
    from pyprogen.data.semi_supervised import balanced_rows, keep_labels
    from pyprogen.train import fit

    g = torch.Generator().manual_seed(3)
    y = torch.arange(400) % 2
    protos = torch.tensor([[1.0] * 8 + [0.0] * 8, [0.0] * 8 + [1.0] * 8])
    x = (torch.rand(400, 16, generator=g) < 0.1 + 0.8 * protos[y]).float().reshape(400, 1, 4, 4)
    kept = keep_labels(y, 8, seed=0)
    rows = balanced_rows(kept)
    torch.manual_seed(0)
    m = build("m2", (1, 4, 4), num_classes=2, latent_dim=2, hidden=(32,), alpha=1.0)
    fit(m, x[rows], labels=kept[rows], epochs=5, batch_size=50, lr=1e-2, progress=False)
    hidden = kept == -1
    assert (m.classify(x[hidden]) == y[hidden]).float().mean() > 0.95


def test_classification_term_is_alpha_times_cross_entropy():
    m, x = small_m2(alpha=2.5), binary(6)
    y = torch.tensor([1, 2, 3, 4, 5, 6])
    loss = Trace_ELBO().loss(m.classify_model, m.classify_guide, x, y)
    ce = torch.nn.functional.cross_entropy(m.classifier(x), y, reduction="sum")
    assert loss == pytest.approx(2.5 * float(ce.detach()), rel=1e-5)


def test_semi_supervised_training_learns_the_labels_of_unlabelled_points():
    """Two well-separated classes of 4x4 patterns, 8 labels out of 200: the unlabelled points are classified."""
    g = torch.Generator().manual_seed(3)
    y = torch.arange(200) % 2
    protos = torch.tensor([[1.0] * 8 + [0.0] * 8, [0.0] * 8 + [1.0] * 8])
    x = (torch.rand(200, 16, generator=g) < 0.1 + 0.8 * protos[y]).float().reshape(200, 1, 4, 4)
    labelled = torch.zeros(200, dtype=torch.bool)
    labelled[:8] = True
    m = build("m2", (1, 4, 4), num_classes=2, latent_dim=2, hidden=(32,), alpha=1.0)
    history = fit_labelled(m, x, y, labelled=labelled, steps=150, batch_size=50, labelled_batch_size=8, lr=1e-2)
    assert len(history) == 150 and {"unlabelled", "labelled", "classify"} <= set(history[-1])
    assert (m.classify(x[~labelled]) == y[~labelled]).float().mean() > 0.95


def test_conv_classifier_gives_the_same_interface():
    m = small_m2(classifier="conv")
    x, y = binary(6), torch.tensor([0, 1, 2, 3, 4, 5])
    assert m.class_logits(x).shape == (6, 10) and m.classify(x).shape == (6,)
    assert TraceEnum_ELBO(max_plate_nesting=1).loss(m.model, m.guide, x) > 0
    with pytest.raises(PyprogenError, match="classifier"):
        M2((1, 4, 4), classifier="rnn")
    assert M2((1, 28, 28)).classifier_kind == "conv" and M2((1, 4, 4)).classifier_kind == "mlp"  # "auto"
    assert M2((784,)).classifier_kind == "mlp" and M2((1, 28, 28), classifier="mlp").classifier_kind == "mlp"
    with pytest.raises(PyprogenError, match="data_shape"):
        M2((1, 6, 6), classifier="conv")


def test_unsupervised_default_loss_and_sampling():
    m, x = small_m2(), binary(8)
    assert isinstance(m.default_loss(), TraceEnum_ELBO)
    assert m.sample(5).shape == (5, 1, 4, 4)
    assert m.sample(3, label=7).shape == (3, 1, 4, 4)


def test_bad_input_raises():
    m, x = small_m2(), binary(4)
    with pytest.raises(PyprogenError, match="y"):
        Trace_ELBO().loss(m.model, m.guide, x, torch.tensor([0, 1, 2]))
    with pytest.raises(PyprogenError, match="y"):
        Trace_ELBO().loss(m.model, m.guide, x, torch.tensor([0, 1, 2, 10]))
    with pytest.raises(PyprogenError, match="alpha"):
        M2((1, 4, 4), alpha=-1.0)
    with pytest.raises(PyprogenError, match="labelled"):
        fit_labelled(m, x, torch.zeros(4), labelled=torch.ones(3, dtype=torch.bool))
