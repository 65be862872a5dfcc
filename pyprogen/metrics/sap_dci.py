"""SAP and DCI disentanglement scores of codes (N, D) against ground-truth factors (N, K).

``sap(codes, factors)`` — Separated Attribute Predictability (Kumar, Sattigeri & Balakrishnan 2018,
sec. 5): a score matrix S (D × K) of how well each single code dimension predicts each factor, then
SAP = mean_k [S_(1)k − S_(2)k], the gap between the two most predictive codes. As in disentanglement_lib:
for discrete factors S_jk is the test accuracy of a classifier trained on code j alone (there a linear
SVM; here a multinomial logistic regression on the standardised code, also linear, so each class gets
one interval of the code); with ``continuous=True`` S_jk is the R² of a linear fit,
Cov(c_j, v_k)² / (Var c_j · Var v_k). Train/test split: the first ``train_fraction`` of the points.

``dci(codes, factors)`` — Disentanglement, Completeness, Informativeness (Eastwood & Williams 2018,
sec. 2): from a D × K matrix R of importances of code j for factor k, with P_jk = R_jk / Σ_k R_jk,

    D_j = 1 − H_K(P_j·),  D = Σ_j ρ_j D_j,  ρ_j = Σ_k R_jk / Σ R          (eq. 1–2)
    C_k = 1 − H_D(P̃_·k),  P̃_jk = R_jk / Σ_j R_jk,  C = mean_k C_k         (eq. 3)

(H_K: entropy with log base K). The paper obtains R from a regressor's importances (LASSO or random
forests; disentanglement_lib uses gradient-boosted trees). No tree learner is available here, so R_jk is
the *correlation ratio* η²(v_k | c_j) — the fraction of the factor's variance explained by the mean of
v_k within each of ``bins`` equal-width bins of c_j, a nonlinear univariate importance. On pure noise every
η² has the same expectation (bins − 1)/N, so R is near uniform and D, C ≈ 0, as the tree importances give;
unlike a joint regressor, two redundant codes both receive the importance of the factor they copy.
Factors that take a single value are dropped by both scores. Informativeness is the mean over factors of the test accuracy of a multinomial logistic regression from
all (standardised) codes (``informativeness``, higher is better; the paper reports the error 1 − this).
"""
import numpy as np
import torch

from ..errors import PyprogenError, expect
from .disentanglement import _discretise
from .latent import _logistic_regression


def _arrays(codes, factors, min_codes=1):
    codes = np.asarray(codes.detach().cpu() if torch.is_tensor(codes) else codes, dtype=np.float64)
    factors = np.asarray(factors.detach().cpu() if torch.is_tensor(factors) else factors)
    codes = codes[:, None] if codes.ndim == 1 else codes
    factors = factors[:, None] if factors.ndim == 1 else factors
    expect(codes.ndim == 2 and codes.shape[0] >= 4 and codes.shape[1] >= min_codes, "codes",
           f"an (N >= 4, D >= {min_codes}) array", codes.shape)
    expect(factors.ndim == 2 and factors.shape[0] == codes.shape[0], "factors",
           f"an (N, K) array with N = {codes.shape[0]}", factors.shape)
    if not (np.all(np.isfinite(codes)) and np.issubdtype(factors.dtype, np.number) and np.all(np.isfinite(factors))):
        raise PyprogenError("codes: expected finite numbers in codes and factors")
    varying = [f for f in range(factors.shape[1]) if np.unique(factors[:, f]).size > 1]
    expect(len(varying) >= 1, "factors", "at least one factor that takes two or more values", factors.shape)
    return codes, factors[:, varying]


def _split(n, train_fraction):
    expect(isinstance(train_fraction, float) and 0 < train_fraction < 1, "train_fraction", "a number in (0, 1)",
           train_fraction)
    cut = int(round(train_fraction * n))
    expect(2 <= cut <= n - 2, "train_fraction", "a split leaving at least 2 points on each side", train_fraction)
    return cut


def _standardise(train, test):
    mean, std = train.mean(0), train.std(0)
    std = np.where(std > 0, std, 1.0)
    return (train - mean) / std, (test - mean) / std


def _labels(values):
    if not np.all(values == np.round(values)):
        raise PyprogenError("factors: expected discrete factor values (integer labels); pass continuous=True")
    classes, labels = np.unique(values, return_inverse=True)
    return labels.reshape(-1), len(classes)


def _accuracy(x_train, y_train, x_test, y_test, num_classes):
    x_train, x_test = _standardise(x_train, x_test)
    predict = _logistic_regression(x_train, y_train, num_classes)
    return float((predict(x_test).numpy() == y_test).mean())


def sap_matrix(codes, factors, *, continuous=False, train_fraction=0.8):
    """The D × K score matrix S of SAP (see the module docstring)."""
    codes, factors = _arrays(codes, factors)
    d, k = codes.shape[1], factors.shape[1]
    s = np.zeros((d, k))
    if continuous:
        for j in range(d):
            for f in range(k):
                c, v = codes[:, j], factors[:, f].astype(np.float64)
                var_c, var_v = c.var(), v.var()
                if var_c > 0 and var_v > 0:
                    s[j, f] = ((c - c.mean()) * (v - v.mean())).mean() ** 2 / (var_c * var_v)
        return s
    cut = _split(len(codes), train_fraction)
    for f in range(k):
        labels, num_classes = _labels(factors[:, f])
        for j in range(d):
            c = codes[:, j:j + 1]
            s[j, f] = _accuracy(c[:cut], labels[:cut], c[cut:], labels[cut:], num_classes)
    return s


def sap(codes, factors, *, continuous=False, train_fraction=0.8):
    """SAP score in [0, 1]: mean over factors of the gap between the two most predictive single codes."""
    codes_arr, _ = _arrays(codes, factors, min_codes=2)
    s = np.sort(sap_matrix(codes_arr, factors, continuous=continuous, train_fraction=train_fraction), axis=0)
    return float(np.mean(s[-1] - s[-2]))


def importance_matrix(codes, factors, *, bins=20):
    """R (D × K): R_jk = η²(v_k | c_j), the share of Var(v_k) explained by its means in ``bins`` bins of c_j."""
    codes, factors = _arrays(codes, factors)
    expect(isinstance(bins, int) and not isinstance(bins, bool) and bins >= 2, "bins", "an integer >= 2", bins)
    r = np.zeros((codes.shape[1], factors.shape[1]))
    for j in range(codes.shape[1]):
        groups = _discretise(codes[:, j], bins)
        _, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
        for f in range(factors.shape[1]):
            v = factors[:, f].astype(np.float64)
            total = ((v - v.mean()) ** 2).sum()
            if total <= 0:
                continue
            means = np.bincount(inverse, weights=v) / counts
            r[j, f] = (counts * (means - v.mean()) ** 2).sum() / total
    return r


def _normalised_entropy(p, base):
    p = p[p > 0]
    return float(-(p * np.log(p)).sum() / np.log(base)) if base > 1 else 0.0


def dci_from_importance(r):
    """Disentanglement and completeness (Eastwood & Williams 2018, eq. 1–3) of an importance matrix R (D × K)."""
    r = np.asarray(r, dtype=np.float64)
    expect(r.ndim == 2 and np.all(r >= 0), "importance", "a (D, K) matrix of non-negative importances", r.shape)
    d, k = r.shape
    total = r.sum()
    if total <= 0:
        return 0.0, 0.0
    disent, rho = np.zeros(d), r.sum(1) / total
    for j in range(d):
        if r[j].sum() > 0:
            disent[j] = 1.0 - _normalised_entropy(r[j] / r[j].sum(), k)
    complete = [1.0 - _normalised_entropy(r[:, f] / r[:, f].sum(), d) for f in range(k) if r[:, f].sum() > 0]
    return float((rho * disent).sum()), float(np.mean(complete)) if complete else 0.0


def dci(codes, factors, *, bins=20, train_fraction=0.8):
    """DCI scores ``{"disentanglement", "completeness", "informativeness"}`` in [0, 1] of discrete factors."""
    codes, factors = _arrays(codes, factors)
    disent, complete = dci_from_importance(importance_matrix(codes, factors, bins=bins))
    cut = _split(len(codes), train_fraction)
    accuracies = []
    for f in range(factors.shape[1]):
        labels, num_classes = _labels(factors[:, f])
        accuracies.append(_accuracy(codes[:cut], labels[:cut], codes[cut:], labels[cut:], num_classes))
    return {"disentanglement": disent, "completeness": complete, "informativeness": float(np.mean(accuracies))}
