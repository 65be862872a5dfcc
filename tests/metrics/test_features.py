"""Feature-space sample metrics: Fréchet distance, k-NN precision/recall, class coverage, the cached classifier."""
import numpy as np
import pytest
import scipy.linalg
import torch

from pyprogen.errors import PyprogenError
from pyprogen.metrics.features import (classes_covered, feature_classifier, frechet_distance, precision_recall,
                                       trace_sqrt_product)


def _scipy_frechet(a, b):
    """Reference: the FID formula with scipy.linalg.sqrtm (as in the TTUR reference code)."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(ca @ cb).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(ca + cb - 2 * root))


def test_frechet_of_a_set_with_itself_is_zero_and_grows_with_a_shift():
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(2000, 8, generator=gen) @ torch.randn(8, 8, generator=gen)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    # shifting every point by c leaves the covariance and adds exactly ||c||^2
    shifts = [0.5, 1.0, 2.0]
    d = [frechet_distance(a, a + s) for s in shifts]
    for s, v in zip(shifts, d):
        assert v == pytest.approx(8 * s ** 2, rel=1e-6)
    assert d[0] < d[1] < d[2]


def test_frechet_matches_scipy_sqrtm_reference():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(500, 6)) @ rng.normal(size=(6, 6))
    b = rng.normal(size=(400, 6)) @ rng.normal(size=(6, 6)) + 0.3
    assert frechet_distance(a, b) == pytest.approx(_scipy_frechet(a, b), rel=1e-6)


def test_trace_sqrt_product_of_commuting_diagonals():
    ca, cb = torch.diag(torch.tensor([1.0, 4.0, 9.0])).double(), torch.diag(torch.tensor([4.0, 1.0, 0.25])).double()
    assert trace_sqrt_product(ca, cb) == pytest.approx(2.0 + 2.0 + 1.5, abs=1e-9)


def test_precision_recall_identical_sets_are_one():
    x = torch.randn(300, 5, generator=torch.Generator().manual_seed(2))
    assert precision_recall(x, x, k=3) == (1.0, 1.0)


def test_precision_recall_hand_case_and_collapse():
    real = torch.tensor([[0.0], [1.0], [2.0], [3.0]])
    # k=1: each real radius is 1; fakes at 0.5 and 10 -> precision 1/2; the fake manifold of two
    # points (radius 9.5 each) covers every real point -> recall 1
    p, r = precision_recall(real, torch.tensor([[0.5], [10.0]]), k=1)
    assert (p, r) == (0.5, 1.0)
    # a collapsed generator (all samples near one real point) is precise but has low recall
    gen = torch.Generator().manual_seed(3)
    data = torch.randn(400, 2, generator=gen)
    collapsed = data[:1] + 0.01 * torch.randn(400, 2, generator=gen)
    p, r = precision_recall(data, collapsed, k=3)
    assert p == 1.0 and r < 0.05


def test_classes_covered_pacgan_rule():
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 19 + [3])  # N = 100, K = 5 -> min_count 4
    out = classes_covered(labels, 5)
    assert out["classes_covered"] == 3 and out["class_counts"] == [50, 30, 19, 1, 0]
    assert classes_covered(labels, 5, min_count=1)["classes_covered"] == 4
    with pytest.raises(PyprogenError, match="predicted"):
        classes_covered(torch.tensor([7]), 5)


def test_feature_classifier_learns_and_is_cached(tmp_path):
    """Two classes of 8x8 images (bright top half vs bright bottom half): near-perfect accuracy, then a
    second call loads the cached weights and gives identical features."""
    gen = torch.Generator().manual_seed(4)
    y = torch.randint(0, 2, (600,), generator=gen)
    x = 0.3 * torch.rand(600, 1, 8, 8, generator=gen)
    x[y == 0, :, :4] += 0.6
    x[y == 1, :, 4:] += 0.6
    net, info = feature_classifier(x[:500], y[:500], x_test=x[500:], y_test=y[500:], epochs=5, directory=tmp_path)
    assert not info["cached"] and info["test_accuracy"] >= 0.95
    again, info2 = feature_classifier(x[:500], y[:500], epochs=5, directory=tmp_path)
    assert info2["cached"] and info2["path"] == info["path"] and info2["test_accuracy"] == info["test_accuracy"]
    assert torch.equal(net.features(x[500:]), again.features(x[500:]))
    assert net.features(x[:10]).shape == (10, 128)
