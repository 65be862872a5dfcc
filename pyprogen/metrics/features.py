"""Sample quality and diversity in one feature space: a small classifier trained once per data set.

- :func:`frechet_distance` (the FID of Heusel et al. 2017, eq. 6, in this classifier's features):

      d² = ‖μ_a − μ_b‖² + Tr(Σ_a + Σ_b − 2 (Σ_a Σ_b)^{1/2}),

  with Tr (Σ_a Σ_b)^{1/2} = Σ_i √λ_i, λ the eigenvalues of the symmetric PSD matrix
  Σ_a^{1/2} Σ_b Σ_a^{1/2} (same spectrum as Σ_a Σ_b), so no complex ``sqrtm`` round-off.
- :func:`precision_recall` (Kynkäänniemi et al. 2019, eq. 1–2): the real manifold is the union of
  balls around each real feature with radius its distance to its k-th nearest real neighbour (k = 3);
  precision is the share of generated features inside it, recall the share of real features inside
  the generated manifold built the same way.
- :func:`classes_covered`: classes the classifier predicts for at least ``min_count`` samples; the
  default ``max(1, round(N / (5K)))`` is the PacGAN rule of :mod:`pyprogen.metrics.modes`.
- :func:`feature_classifier`: a small conv net (MLP for vectors) trained on the labelled training
  set and cached under ``$PYPROGEN_CACHE`` or ``~/.cache/pyprogen`` (``io.save_torch``, loaded with
  ``weights_only=True``); its penultimate ReLU layer (128 units) is the feature space.

Absolute numbers are not comparable with published Inception-FIDs: the feature net is this one.
"""
import hashlib
import math
import os

import numpy as np
import torch
from torch import nn
from ..progress import progress_bar

from ..errors import PyprogenError, expect
from ..io import load_torch, save_torch
from ..seeding import seeded

FEATURES = 128
VERSION = 1  # bump when the architecture or training recipe changes (invalidates caches)


def _features(a, argument):
    t = torch.as_tensor(np.asarray(a) if not torch.is_tensor(a) else a).detach().cpu().double()
    expect(t.dim() == 2 and t.shape[0] >= 2, argument, "an (N >= 2, D) array of features", tuple(t.shape))
    expect(bool(torch.isfinite(t).all()), argument, "finite values", "NaN or inf")
    return t


def trace_sqrt_product(cov_a, cov_b):
    """Tr (Σ_a Σ_b)^{1/2} for symmetric PSD matrices, from the eigenvalues of Σ_a^{1/2} Σ_b Σ_a^{1/2}."""
    w, v = torch.linalg.eigh(cov_a)
    root_a = (v * w.clamp_min(0).sqrt()) @ v.T
    middle = root_a @ cov_b @ root_a
    lam = torch.linalg.eigvalsh((middle + middle.T) / 2)
    return float(lam.clamp_min(0).sqrt().sum())


def frechet_distance(a, b):
    """Fréchet distance between Gaussians fitted to feature sets ``a`` (N, D) and ``b`` (M, D)."""
    a, b = _features(a, "a"), _features(b, "b")
    expect(a.shape[1] == b.shape[1], "b", f"features of dimension {a.shape[1]}", b.shape[1])
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T).reshape(a.shape[1], -1), torch.cov(b.T).reshape(b.shape[1], -1)
    d2 = float(((mu_a - mu_b) ** 2).sum()) + float(torch.trace(cov_a) + torch.trace(cov_b))
    d2 -= 2 * trace_sqrt_product(cov_a, cov_b)
    return max(d2, 0.0)


def _kth_radii(x, k):
    """Distance of each row of ``x`` to its k-th nearest other row."""
    expect(isinstance(k, int) and 1 <= k < x.shape[0], "k", f"an integer in [1, {x.shape[0] - 1}]", k)
    d = torch.cdist(x, x)
    return d.kthvalue(k + 1, dim=1).values  # index 0 of the sorted row is the point itself (distance 0)


def _inside(points, centers, radii, chunk=1024):
    hits = [(torch.cdist(points[i:i + chunk], centers) <= radii).any(1) for i in range(0, len(points), chunk)]
    return float(torch.cat(hits).double().mean())


def precision_recall(real, fake, *, k=3):
    """``(precision, recall)`` of ``fake`` against ``real`` features (Kynkäänniemi et al. 2019)."""
    real, fake = _features(real, "real"), _features(fake, "fake")
    expect(real.shape[1] == fake.shape[1], "fake", f"features of dimension {real.shape[1]}", fake.shape[1])
    precision = _inside(fake, real, _kth_radii(real, k))
    recall = _inside(real, fake, _kth_radii(fake, k))
    return precision, recall


def classes_covered(predicted, num_classes, *, min_count=None):
    """``{"classes_covered", "class_counts"}`` for predicted class labels of N samples."""
    labels = torch.as_tensor(np.asarray(predicted) if not torch.is_tensor(predicted) else predicted).long().reshape(-1)
    expect(labels.numel() >= 1, "predicted", "at least one label", 0)
    expect(isinstance(num_classes, int) and num_classes >= 1, "num_classes", "a positive integer", num_classes)
    expect(bool(((labels >= 0) & (labels < num_classes)).all()), "predicted", f"labels in [0, {num_classes})")
    if min_count is None:
        min_count = max(1, round(labels.numel() / (5 * num_classes)))
    counts = torch.bincount(labels, minlength=num_classes)
    return {"classes_covered": int((counts >= min_count).sum()), "class_counts": counts.tolist()}


class FeatureClassifier(nn.Module):
    """Images ``(C, H, W)``: two stride-2 convs, 7x7 average pool, 128 ReLU units, logits.
    Vectors ``(D,)``: a 256-128 ReLU MLP. ``features(x)`` is the 128-unit penultimate layer."""

    def __init__(self, data_shape, num_classes):
        super().__init__()
        self.data_shape, self.num_classes = tuple(data_shape), int(num_classes)
        if len(self.data_shape) == 3:
            c = self.data_shape[0]
            self.body = nn.Sequential(nn.Conv2d(c, 32, 4, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 4, 2, 1), nn.ReLU(),
                                      nn.AdaptiveAvgPool2d(7), nn.Flatten(), nn.Linear(64 * 49, FEATURES), nn.ReLU())
        else:
            self.body = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(self.data_shape), 256), nn.ReLU(),
                                      nn.Linear(256, FEATURES), nn.ReLU())
        self.head = nn.Linear(FEATURES, self.num_classes)

    def forward(self, x):
        return self.head(self.body(x))

    @torch.no_grad()
    def features(self, x, batch_size=500):
        return torch.cat([self.body(x[i:i + batch_size].float()) for i in range(0, len(x), batch_size)])

    @torch.no_grad()
    def predict(self, x, batch_size=500):
        return torch.cat([self(x[i:i + batch_size].float()).argmax(-1) for i in range(0, len(x), batch_size)])


def cache_dir(directory=None):
    return directory or os.environ.get("PYPROGEN_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "pyprogen")


def _key(x, y, num_classes, epochs, seed):
    h = hashlib.sha1()
    h.update(f"v{VERSION}:{tuple(x.shape)}:{num_classes}:{epochs}:{seed}".encode())
    h.update((x * 255).round().to(torch.uint8).numpy().tobytes())
    h.update(y.to(torch.int64).numpy().tobytes())
    return h.hexdigest()[:16]


def _train(net, x, y, *, epochs, seed, batch_size=128, lr=1e-3, progress=False):
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    steps = epochs * math.ceil(len(x) / batch_size)
    net.train()
    with progress_bar(total=steps, desc="feature classifier", disable=not progress, mininterval=0.5) as bar:
        for _ in range(epochs):
            perm = torch.randperm(len(x), generator=gen)
            for i in range(0, len(x), batch_size):
                idx = perm[i:i + batch_size]
                loss = nn.functional.cross_entropy(net(x[idx]), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                bar.update(1)
    net.eval()


def feature_classifier(x, y, *, num_classes=None, x_test=None, y_test=None, epochs=3, seed=0, directory=None,
                       progress=False):
    """A :class:`FeatureClassifier` trained on ``(x, y)``, loaded from the cache when one was trained before.

    Returns ``(net, info)`` with ``info = {"path", "cached", "test_accuracy"}`` (accuracy on
    ``(x_test, y_test)`` when given, measured when the net was trained).
    """
    x = torch.as_tensor(x).float()
    y = torch.as_tensor(y).long().reshape(-1)
    expect(x.dim() >= 2 and len(x) == len(y) and len(x) >= 2, "y", f"one label per data point ({len(x)})", len(y))
    num_classes = int(num_classes or int(y.max()) + 1)
    expect(bool(((y >= 0) & (y < num_classes)).all()), "y", f"labels in [0, {num_classes})")
    path = os.path.join(cache_dir(directory), "classifiers", f"{_key(x, y, num_classes, epochs, seed)}.pt")
    net = FeatureClassifier(x.shape[1:], num_classes)
    if os.path.isfile(path):
        try:
            state = load_torch(path)
            net.load_state_dict(state["state_dict"])
            net.eval()
            return net, {"path": path, "cached": True, "test_accuracy": state.get("test_accuracy")}
        except (PyprogenError, KeyError, RuntimeError):
            pass  # unreadable or stale cache entry: train again and overwrite it
    with seeded(seed):
        net = FeatureClassifier(x.shape[1:], num_classes)
        _train(net, x, y, epochs=epochs, seed=seed, progress=progress)
    accuracy = None
    if x_test is not None and y_test is not None:
        y_test = torch.as_tensor(y_test).long().reshape(-1)
        accuracy = float((net.predict(torch.as_tensor(x_test).float()) == y_test).double().mean())
    save_torch({"state_dict": net.state_dict(), "test_accuracy": accuracy, "num_classes": num_classes}, path)
    return net, {"path": path, "cached": False, "test_accuracy": accuracy}


def sample_metrics(classifier, real, fake, *, k=3):
    """FID-style distance, precision, recall and classes covered of ``fake`` against ``real`` images."""
    real_f = classifier.features(torch.as_tensor(real).float())
    fake_f = classifier.features(torch.as_tensor(fake).float())
    precision, recall = precision_recall(real_f, fake_f, k=k)
    out = {"fid": frechet_distance(real_f, fake_f), "precision": precision, "recall": recall}
    out.update(classes_covered(classifier.predict(torch.as_tensor(fake).float()), classifier.num_classes))
    return out
