"""Figures a person would rather look at than read: sample grids, loss curves, 2-D/1-D samples,
labelled image strips, and the mean images E[x|z] they show for latent-variable likelihood models.

All figures are written through :func:`pyprogen.io.save_figure` (atomic PNG).
"""
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from .io import save_figure  # noqa: E402


def image_grid(x, nrow=None):
    """``(n, C, H, W)`` in [0, 1] -> one ``(H', W', C)`` array, padded by one pixel."""
    x = x.detach().cpu().float().clamp(0, 1)
    n, c, h, w = x.shape
    nrow = nrow or math.ceil(math.sqrt(n))
    ncol = math.ceil(n / nrow)
    grid = torch.ones(c, ncol * (h + 1) + 1, nrow * (w + 1) + 1)
    for i in range(n):
        r, q = divmod(i, nrow)
        grid[:, 1 + r * (h + 1):1 + r * (h + 1) + h, 1 + q * (w + 1):1 + q * (w + 1) + w] = x[i]
    return grid.permute(1, 2, 0).squeeze(-1).numpy()


def plot_samples(samples, path, title=None, reference=None):
    """Images as a grid; 2-D points as a scatter (over ``reference``); 1-D values as a histogram."""
    samples = samples.detach().cpu().float()
    fig, ax = plt.subplots(figsize=(5, 5))
    if samples.dim() == 4:
        ax.imshow(image_grid(samples), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.axis("off")
    elif samples.dim() == 2 and samples.shape[1] == 2:
        if reference is not None:
            ax.scatter(*reference[:2000].cpu().T, s=2, c="0.7", label="data")
        ax.scatter(*samples.T, s=2, c="C0", label="samples")
        ax.set_aspect("equal")
        ax.legend(loc="upper right")
    else:
        flat = samples.reshape(len(samples), -1)[:, 0]
        if reference is not None:
            ax.hist(reference.reshape(-1).cpu().numpy(), bins=60, density=True, alpha=0.4, label="data")
        ax.hist(flat.numpy(), bins=60, density=True, alpha=0.6, label="samples")
        ax.legend()
    if title:
        ax.set_title(title)
    save_figure(fig, path)


def plot_history(history, path, title=None):
    """Training curves: every numeric key of the per-epoch entries against the epoch."""
    keys = [k for k in history[0] if k not in ("epoch", "seconds") and isinstance(history[0][k], (int, float))]
    fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3), squeeze=False)
    epochs = [e["epoch"] for e in history]
    for ax, key in zip(axes[0], keys):
        ax.plot(epochs, [e.get(key) for e in history], marker="o", ms=3)
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    save_figure(fig, path)


@torch.no_grad()
def mean_images(model, z):
    """E[x | z] for given latents ``z`` (n, latent_dim), shape ``(n, *data_shape)``: the model run with
    its ``"z"`` site conditioned on ``z`` (``poutine.condition``), then the ``"x"`` site's mean (the
    likelihood's, e.g. sigmoid(logits) for Bernoulli) or, for an implicit model, its value G(z)."""
    import pyro.poutine as poutine

    site = poutine.trace(poutine.condition(model.model, data={"z": z})).get_trace(n=len(z)).nodes["x"]
    likelihood = getattr(model, "likelihood", None)
    if likelihood is not None:
        return likelihood.mean_of(site["fn"])
    return site["value"]


def plot_image_rows(rows, path, title=None):
    """``rows``: list of ``(label, images (n, C, H, W))``, one labelled strip of images per row."""
    rows = [(label, images.detach().cpu().float()) for label, images in rows]
    width = max(len(images) for _, images in rows)
    fig, axes = plt.subplots(len(rows), 1, figsize=(0.6 * width + 1.6, 0.75 * len(rows) + 0.5), squeeze=False)
    for ax, (label, images) in zip(axes[:, 0], rows):
        ax.imshow(image_grid(images, nrow=width), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=10)
    save_figure(fig, path)


def sample_label(model):
    """What a grid of ``model.sample(n, mean=True)`` shows, as a figure title says it."""
    if getattr(model, "likelihood", None) is None:
        return "G(z), z ~ p(z)" if getattr(model, "latent_dim", 0) else "samples"
    if getattr(model, "latent_dim", 0) > 0:
        return "mean images E[x|z], z ~ p(z)"
    return "per-pixel means E[x_i | x_<i] along draws"
