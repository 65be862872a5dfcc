"""Latent-space metrics of models with an amortised encoder.

- :func:`active_units` (Burda et al. 2016, sec. 5.2): unit u is active when
  A_u = Cov_x(E_{q(z|x)}[z_u]) > 0.01.
- :func:`beta_vae_score` (Higgins et al. 2017, sec. 3) and :func:`factor_vae_score` (Kim & Mnih 2018,
  sec. 4) computed as in disentanglement_lib (Locatello et al. 2019) with its default settings:
  batches of 64, 10,000 training and 5,000 evaluation points, the encoder mean as representation.
  β-VAE: the feature of a batch is mean_b |r(x_b) − r(x'_b)| over pairs sharing the value of one
  factor k; a multinomial logistic regression (sklearn's default objective, C = 1) predicts k; the
  score is its evaluation accuracy. FactorVAE: representations are divided by their global standard
  deviation (10,000 points), dimensions with std < 0.05 are pruned (disentanglement_lib's
  ``prune_dims.threshold``), each batch with factor k fixed votes for argmin_j Var(r_j / s_j); a
  majority-vote classifier maps dimensions to factors; the score is its evaluation accuracy.

Factors come from a labelled finite set (the dSprites subset) instead of a simulator: a batch that
fixes factor k picks points uniformly among those sharing one value of k, the other factors follow
the set's own (near-uniform) distribution.
"""
import numpy as np
import pyro.poutine as poutine
import torch

from ..errors import expect


@torch.no_grad()
def encoder_means(model, x, *, batch_size=500):
    """E_q[z|x], shape (N, K): ``model.encode`` when it exists, else the mean of the guide's ``"z"`` site."""
    x = torch.as_tensor(x).float()
    parts = []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        if hasattr(model, "encode"):
            parts.append(model.encode(xb))
        else:
            trace = poutine.trace(model.guide).get_trace(xb)
            parts.append(trace.nodes["z"]["fn"].mean)
    return torch.cat(parts).reshape(len(x), -1)


def unit_activity(means):
    """A_u = Cov_x(E_q[z_u|x]) for every unit: the per-dimension variance of the posterior means."""
    means = torch.as_tensor(means).double()
    expect(means.dim() == 2 and means.shape[0] >= 2, "means", "an (N >= 2, K) array", tuple(means.shape))
    return means.var(0, unbiased=True)


def active_units(model, x, threshold=0.01):
    """Number of active latent units of ``model`` on data ``x`` (Burda et al. 2016)."""
    expect(isinstance(threshold, (int, float)) and threshold >= 0, "threshold", "a number >= 0", threshold)
    return int((unit_activity(encoder_means(model, x)) > threshold).sum())


class FactorIndex:
    """Data points grouped by the value of each discrete factor (N, F), for vectorised sampling."""

    def __init__(self, factors):
        f = np.asarray(factors.cpu() if torch.is_tensor(factors) else factors)
        expect(f.ndim == 2 and f.shape[0] >= 2, "factors", "an (N >= 2, F) array of discrete factors", f.shape)
        self.factors = f
        self.inverse, self.order, self.starts, self.counts = [], [], [], []
        for k in range(f.shape[1]):
            _, inverse, counts = np.unique(f[:, k], return_inverse=True, return_counts=True)
            self.inverse.append(inverse.reshape(-1))
            self.order.append(np.argsort(inverse, kind="stable"))
            self.starts.append(np.concatenate([[0], np.cumsum(counts)[:-1]]))
            self.counts.append(counts)
        # factors with one value cannot be varied or identified
        self.usable = [k for k in range(f.shape[1]) if len(self.counts[k]) > 1]

    def _members(self, k, groups, rng):
        """One uniformly drawn member of each value group ``groups`` (indices into factor k's values)."""
        offsets = (rng.random(len(groups)) * self.counts[k][groups]).astype(np.int64)
        return self.order[k][self.starts[k][groups] + offsets]

    def fixed_pair(self, k, size, rng):
        """Two index arrays of length ``size`` whose points share the value of factor k pairwise."""
        a = rng.integers(0, len(self.factors), size)
        return a, self._members(k, self.inverse[k][a], rng)

    def fixed_batch(self, k, size, rng):
        """``size`` indices whose points all share one value of factor k (that of a random point)."""
        group = self.inverse[k][rng.integers(0, len(self.factors))]
        return self._members(k, np.full(size, group), rng)


def _logistic_regression(x, y, num_classes, C=1.0, steps=200):
    """Multinomial logistic regression on the raw features minimising C·Σ logloss + ½‖W‖² (sklearn's
    ``LogisticRegression()`` objective, which disentanglement_lib uses unscaled), by L-BFGS."""
    x = torch.as_tensor(x, dtype=torch.float64)
    y = torch.as_tensor(y, dtype=torch.long)
    w = torch.zeros(x.shape[1], num_classes, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(num_classes, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(x @ w + b, y, reduction="sum") * C + 0.5 * (w ** 2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    w, b = w.detach(), b.detach()
    return lambda z: (torch.as_tensor(z, dtype=torch.float64) @ w + b).argmax(-1)


def _codes(codes):
    c = np.asarray(codes.cpu() if torch.is_tensor(codes) else codes, dtype=np.float64)
    expect(c.ndim == 2 and c.shape[0] >= 2, "codes", "an (N >= 2, K) array", c.shape)
    return c


def beta_vae_score(codes, factors, *, batch_size=64, num_train=10000, num_eval=5000, seed=0):
    """β-VAE disentanglement score in [0, 1]: ``{"train_accuracy", "eval_accuracy"}``."""
    codes, index = _codes(codes), FactorIndex(factors)
    expect(len(codes) == len(index.factors), "factors", f"one row per code ({len(codes)})", len(index.factors))
    rng = np.random.default_rng(seed)

    def batch(num):
        labels = rng.choice(index.usable, num)
        feats = np.stack([np.abs(codes[a] - codes[b]).mean(0)
                          for a, b in (index.fixed_pair(k, batch_size, rng) for k in labels)])
        return feats, labels

    x_train, y_train = batch(num_train)
    x_eval, y_eval = batch(num_eval)
    num_classes = index.factors.shape[1]
    predict = _logistic_regression(x_train, y_train, num_classes)
    return {"train_accuracy": float((predict(x_train).numpy() == y_train).mean()),
            "eval_accuracy": float((predict(x_eval).numpy() == y_eval).mean())}


def factor_vae_score(codes, factors, *, batch_size=64, num_train=10000, num_eval=5000, num_variance_estimate=10000,
                     prune_threshold=0.05, seed=0):
    """FactorVAE disentanglement score in [0, 1]: ``{"train_accuracy", "eval_accuracy", "num_active_dims"}``."""
    codes, index = _codes(codes), FactorIndex(factors)
    expect(len(codes) == len(index.factors), "factors", f"one row per code ({len(codes)})", len(index.factors))
    rng = np.random.default_rng(seed)
    sample = rng.integers(0, len(codes), num_variance_estimate)
    global_var = codes[sample].var(0, ddof=1)
    active = np.flatnonzero(np.sqrt(global_var) >= prune_threshold)
    if active.size == 0:
        return {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0}
    num_factors = index.factors.shape[1]

    def votes(num):
        table = np.zeros((num_factors, active.size), dtype=np.int64)
        for k in rng.choice(index.usable, num):
            local = codes[index.fixed_batch(k, batch_size, rng)][:, active].var(0, ddof=1)
            table[k, np.argmin(local / global_var[active])] += 1
        return table

    train = votes(num_train)
    classifier = train.argmax(0)
    cols = np.arange(active.size)
    evaluation = votes(num_eval)
    return {"train_accuracy": float(train[classifier, cols].sum() / train.sum()),
            "eval_accuracy": float(evaluation[classifier, cols].sum() / evaluation.sum()),
            "num_active_dims": int(active.size)}
