"""What ``pyprogen compare`` shows a person: the Markdown table and two figures.

- :func:`compare_table`: one row per entry of ``compare.json``; ``n/a`` where a metric does not apply.
- :func:`plot_sample_grids`: one 8x8 sample grid per model, side by side.
- :func:`plot_traversals`: latent traversals of the encoder families (Higgins et al. 2017, fig. 7):
  one test image is encoded; each row varies one latent (the most active first) over [-3, 3]
  with the others held at the encoding, decoded to the likelihood mean.
"""
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from ..io import save_figure  # noqa: E402
from ..metrics.latent import encoder_means, unit_activity  # noqa: E402
from ..plotting import image_grid  # noqa: E402

#: (header, key, format); disentanglement columns only appear when some model has them
COLUMNS = [("model", "name", "{}"), ("family", "family", "{}"), ("NLL (nats)", "nll_nats", "{:.2f}"),
           ("FD (features)", "fid", "{:.2f}"), ("precision", "precision", "{:.3f}"), ("recall", "recall", "{:.3f}"),
           ("classes", "classes_covered", "{}"), ("active units", "active_units", "{}"), ("MIG", "mig", "{:.3f}"),
           ("β-VAE score", "beta_vae", "{:.3f}"), ("FactorVAE score", "factor_vae", "{:.3f}"),
           ("train s", "seconds", "{:.0f}"), ("parameters", "parameters", "{:,}")]
OPTIONAL = {"mig", "beta_vae", "factor_vae"}


def _cell(value, fmt):
    return "n/a" if value is None else fmt.format(value)


def compare_table(result):
    """Markdown table of a ``compare.json`` dict, with a one-line note on the budget."""
    rows = result["models"]
    cols = [c for c in COLUMNS if c[1] not in OPTIONAL or any(r.get(c[1]) is not None for r in rows)]
    lines = ["| " + " | ".join(h for h, _, _ in cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(_cell(r.get(k), f) for _, k, f in cols) + " |")
    c = result["config"]
    n_classes = len(rows[0].get("class_counts") or []) if rows else 0
    note = (f"\n{c['data_name']}: {c['n_train']} training images, {c['epochs']} epochs (batch {c['batch_size']}); "
            f"NLL on {c['n_test']} test images (IWAE bound, K={c['num_particles']}; exact for autoregressive); "
            f"FD/precision/recall/classes from {c['n_samples']} samples in the features of a classifier "
            f"trained on the data set")
    if c.get("classifier") and c["classifier"].get("test_accuracy") is not None:
        note += f" (test accuracy {c['classifier']['test_accuracy']:.3f}, {n_classes} classes)"
    if c.get("left_out"):
        note += f"; left out (not installed): {', '.join(c['left_out'])}"
    return "\n".join(lines) + note + "."


def plot_sample_grids(panels, path, title=None):
    """``panels``: list of ``(name, images (n, C, H, W))``; one grid per model in one row of subplots."""
    cols = min(len(panels), 4)
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.4 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (name, images) in zip(axes.flat, panels):
        ax.imshow(image_grid(images.float().cpu(), nrow=8), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(name)
    if title:
        fig.suptitle(title)
    save_figure(fig, path)


@torch.no_grad()
def traversal_grid(model, x, *, dims=8, steps=9, span=3.0, reference=None):
    """``(dims * steps, C, H, W)`` decoded images: row d varies the d-th most active latent."""
    z0 = encoder_means(model, x[:1])[0]
    activity = unit_activity(encoder_means(model, reference if reference is not None else x))
    order = torch.argsort(activity, descending=True)[:min(dims, model.latent_dim)]
    values = torch.linspace(-span, span, steps)
    z = z0.repeat(len(order), steps, 1)
    for row, d in enumerate(order):
        z[row, :, d] = values
    return model.decode(z.reshape(-1, z0.shape[-1])).reshape(-1, *model.data_shape)


def plot_traversals(models, x, path, *, dims=8, steps=9):
    """One traversal grid per ``(name, model)`` of the encoder families, side by side."""
    fig, axes = plt.subplots(1, len(models), figsize=(3.2 * len(models), 3.4), squeeze=False)
    for ax, (name, model) in zip(axes[0], models):
        grid = traversal_grid(model, x[:1], dims=dims, steps=steps, reference=x[:500])
        ax.imshow(image_grid(grid.float().cpu(), nrow=steps), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(name)
        ax.axis("off")
    fig.suptitle("latent traversals: rows = most active latents, columns = -3 ... 3")
    save_figure(fig, path)
