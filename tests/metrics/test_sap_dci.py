"""SAP and DCI on constructed codes: the true factors as codes score high, noise scores ≈ 0, mixed or
redundant codes score in between; hand-checked pieces (R², the entropy formulas)."""
import numpy as np
import pytest

from pyprogen.errors import PyprogenError
from pyprogen.metrics.sap_dci import dci, dci_from_importance, importance_matrix, sap, sap_matrix


def factors(n=1000, seed=0):
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, 3, n), rng.integers(0, 6, n), rng.integers(0, 10, n)], 1)


def test_true_factors_as_codes_score_high():
    f = factors()
    codes = f + 0.01 * np.random.default_rng(1).standard_normal(f.shape)
    assert sap(codes, f) > 0.6
    scores = dci(codes, f)
    assert scores["disentanglement"] > 0.9 and scores["completeness"] > 0.9 and scores["informativeness"] > 0.95


def test_noise_codes_score_near_zero():
    f = factors()
    noise = np.random.default_rng(2).standard_normal((1000, 4))
    assert sap(noise, f) < 0.03
    scores = dci(noise, f)
    assert scores["disentanglement"] < 0.05 and scores["completeness"] < 0.05
    assert scores["informativeness"] < 0.5


def test_rotated_codes_are_informative_but_not_disentangled():
    f = factors().astype(float)
    f_std = (f - f.mean(0)) / f.std(0)
    rotation = np.linalg.qr(np.random.default_rng(3).standard_normal((3, 3)))[0]
    codes = f_std @ rotation.T
    good = dci(f_std, factors())
    mixed = dci(codes, factors())
    assert mixed["disentanglement"] < good["disentanglement"] - 0.3
    assert sap(codes, factors()) < sap(f_std, factors())


def test_continuous_sap_is_the_squared_correlation():
    rng = np.random.default_rng(4)
    v = rng.standard_normal((500, 1))
    c = np.concatenate([2 * v + 0.5 * rng.standard_normal((500, 1)), rng.standard_normal((500, 1))], 1)
    s = sap_matrix(c, v, continuous=True)
    assert s[0, 0] == pytest.approx(np.corrcoef(c[:, 0], v[:, 0])[0, 1] ** 2, rel=1e-10)
    assert sap(c, v, continuous=True) == pytest.approx(s[0, 0] - s[1, 0])


def test_dci_formulas_on_a_hand_matrix():
    assert dci_from_importance(np.eye(3)) == pytest.approx((1.0, 1.0))
    assert dci_from_importance(np.ones((3, 3))) == pytest.approx((0.0, 0.0), abs=1e-12)
    # one code explains both factors equally, a second explains nothing: D = 0, C = 1 (each factor in one code)
    d, c = dci_from_importance(np.array([[1.0, 1.0], [0.0, 0.0]]))
    assert d == pytest.approx(0.0) and c == pytest.approx(1.0)
    r = importance_matrix(np.arange(8.0)[:, None], np.arange(8)[:, None] // 2, bins=4)
    assert r[0, 0] == pytest.approx(1.0)  # each bin holds one factor value: η² = 1


def test_constant_factors_are_dropped_and_bad_input_raises():
    f = np.concatenate([factors(), np.zeros((1000, 1), dtype=int)], 1)
    codes = f[:, :3] + 0.01
    assert dci(codes, f)["completeness"] > 0.9
    with pytest.raises(PyprogenError, match="codes"):
        sap(np.ones((10, 1)), np.arange(10))
    with pytest.raises(PyprogenError, match="factors"):
        dci(np.ones((10, 2)), np.arange(9))
    with pytest.raises(PyprogenError, match="factors"):
        sap(np.random.rand(10, 2), np.random.rand(10))
    with pytest.raises(PyprogenError, match="codes"):
        dci(np.full((10, 2), np.nan), np.arange(10))
