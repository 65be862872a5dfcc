"""What ``pyprogen compare`` shows a person: the mean ± sd table and the figures, and how seeds combine.

- :func:`aggregate`: per model, each metric's mean over seeds in its own key and the sample standard
  deviation (n − 1) in ``"<metric>_sd"`` (null for one seed or a metric that does not apply).
- :func:`compare_table`: one row per model of ``compare.json``, ``mean ± sd``; ``n/a`` where a
  metric does not apply.
- Figures from the first seed's models (:func:`figure_panels` in the job, :func:`plot_figures`):
  ``samples.png`` (8x8 per model: the **mean image** E[x|z] for latent-variable likelihood models,
  G(z) for GANs, draws for autoregressive models; each panel says which), ``reconstructions.png``
  (test inputs on top, each encoder model's reconstruction E[x|z = mean of q(z|x)] below),
  ``interpolations.png`` (one strip per latent model: decoded means along the straight line between
  the codes of two test images, or between two prior draws for a GAN) and ``traversals.png``
  (Higgins et al. 2017, fig. 7: each row varies one latent, the most active first, over [-3, 3]).
"""
import math
import os
import platform
import resource
import shutil
import statistics

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from ..io import save_figure, write_json  # noqa: E402
from ..metrics.latent import encoder_means, unit_activity  # noqa: E402
from ..plotting import image_grid, mean_images, plot_image_rows  # noqa: E402
from .readme import mean_sd  # noqa: E402

#: (header, key, digits); disentanglement columns only appear when some model has them
COLUMNS = [("model", "name", None), ("family", "family", None), ("NLL (nats)", "nll_nats", 2),
           ("FD (features)", "fid", 1), ("precision", "precision", 3), ("recall", "recall", 3),
           ("classes", "classes_covered", 1), ("active units", "active_units", 1), ("MIG", "mig", 3),
           ("β-VAE score", "beta_vae", 3), ("FactorVAE score", "factor_vae", 3),
           ("train CPU s", "cpu_seconds", 0), ("parameters", "parameters", None)]
OPTIONAL = {"mig", "beta_vae", "factor_vae"}
IDENTITY = ("name", "family", "model", "loss")
FIGURES = ("samples", "reconstructions", "interpolations", "traversals")


# -- seeds -------------------------------------------------------------------------------------
def mean_and_sd(values):
    """``(mean, sample sd)`` of per-seed values; ``(None, None)`` if any is None; sd None for one value."""
    if not values or any(v is None for v in values):
        return None, None
    mean = statistics.fmean(values)
    return mean, (statistics.stdev(values) if len(values) > 1 else None)


def aggregate(names, seed_rows, metrics):
    """One row per name: identity, ``metric`` = mean and ``metric_sd`` = sd over its seeds' rows,
    ``class_counts`` summed over seeds, and ``per_seed`` (each seed's metrics and final losses)."""
    rows = []
    for name in names:
        mine = [r for r in seed_rows if r["name"] == name]
        row = {k: mine[0][k] for k in IDENTITY}
        for m in metrics:
            row[m], row[f"{m}_sd"] = mean_and_sd([r.get(m) for r in mine])
        if all(r.get("class_counts") for r in mine):
            row["class_counts"] = [sum(c) for c in zip(*(r["class_counts"] for r in mine))]
        row["n_train"], row["recipe"] = mine[0]["n_train"], mine[0]["recipe"]
        row["per_seed"] = [{"seed": r["seed"], **{m: r.get(m) for m in metrics}, "final_loss": r.get("final_loss")}
                           for r in mine]
        rows.append(row)
    return rows


# -- the table ---------------------------------------------------------------------------------
def _cell(row, key, digits):
    value = row.get(key)
    if value is None:
        return "n/a"
    if digits is None:
        return str(value) if isinstance(value, str) else f"{value:,.0f}"
    return mean_sd(value, row.get(f"{key}_sd"), digits)


def compare_table(result):
    """Markdown table of a ``compare.json`` dict (mean ± sd over seeds), with a note on the budget."""
    rows = result["models"]
    cols = [c for c in COLUMNS if c[1] not in OPTIONAL or any(r.get(c[1]) is not None for r in rows)]
    lines = ["| " + " | ".join(h for h, _, _ in cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(_cell(r, k, d) for _, k, d in cols) + " |")
    c = result["config"]
    seeds = c.get("seeds") or [c.get("seed", 0)]
    n_classes = len(rows[0].get("class_counts") or []) if rows else 0
    note = (f"\n{c['data_name']}: mean ± sd over {len(seeds)} seed{'s' if len(seeds) > 1 else ''} "
            f"({', '.join(map(str, seeds))}); each family's recipe (config.recipes); NLL on {c['n_test']} test images "
            f"(IWAE bound, K={c['num_particles']}; exact for autoregressive); FD/precision/recall/classes from "
            f"{c['n_samples']} draws in the features of a classifier trained on labelled "
            f"{(c.get('classifier') or {}).get('labels') or c['data']}")
    if c.get("classifier") and c["classifier"].get("test_accuracy") is not None:
        note += f" (test accuracy {c['classifier']['test_accuracy']:.3f}, {n_classes} classes)"
    if c.get("left_out"):
        note += f"; left out (not installed): {', '.join(c['left_out'])}"
    return "\n".join(lines) + note + "."


# -- figures ------------------------------------------------------------------------------------
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


def sample_kind(model, family):
    """What a sample grid of ``model`` shows: ``"E[x|z]"``, ``"G(z)"`` or ``"draws"``."""
    if family == "GAN":
        return "G(z)"
    return "E[x|z]" if getattr(model, "likelihood", None) is not None and model.latent_dim > 0 else "draws"


@torch.no_grad()
def figure_panels(model, family, test_x, *, n=64, pair=(0, 1), steps=10, recon=10):
    """The tensors the figures show for one trained model (computed where it was trained)."""
    kind = sample_kind(model, family)
    panels = {"kind": kind, "samples": model.sample(n, mean=kind == "E[x|z]").float().clamp(0, 1).cpu()}
    if family in ("VAE", "WAE") and hasattr(model, "decode"):
        codes = encoder_means(model, test_x[:max(recon, max(pair) + 1)])
        panels["inputs"] = test_x[:recon].cpu()
        panels["reconstructions"] = model.decode(codes[:recon]).reshape(-1, *model.data_shape).cpu()
        z0, z1 = codes[pair[0]], codes[pair[1]]
        panels["traversals"] = traversal_grid(model, test_x[:1], reference=test_x[:500]).cpu()
    elif family == "GAN":
        z0, z1 = torch.randn(2, model.latent_dim)
    else:
        return panels  # no latent to interpolate in
    t = torch.linspace(0, 1, steps).unsqueeze(1)
    z = (1 - t) * z0 + t * z1
    panels["interpolations"] = (model.decode(z) if hasattr(model, "decode") else mean_images(model, z)).reshape(
        -1, *model.data_shape).float().clamp(0, 1).cpu()
    return panels


def plot_sample_grids(panels, path, title=None):
    """``panels``: list of ``(title, images (n, C, H, W))``; one 8x8 grid per model in rows of four."""
    cols = min(len(panels), 4)
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.5 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (name, images) in zip(axes.flat, panels):
        ax.imshow(image_grid(images.float().cpu(), nrow=8), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(name, fontsize=10)
    if title:
        fig.suptitle(title)
    save_figure(fig, path)


def plot_figures(panels, out, *, title=""):
    """Write the figures of ``{name: figure_panels(...)}`` into ``out``; returns ``{figure: path}``."""
    paths = {}
    paths["samples"] = os.path.join(out, "samples.png")
    plot_sample_grids([(f"{n}: {p['kind']}", p["samples"][:64]) for n, p in panels.items()], paths["samples"],
                      title=f"samples ({title}); E[x|z] = mean image of p(x|z), z ~ p(z)")
    encoders = {n: p for n, p in panels.items() if "reconstructions" in p}
    if encoders:
        first = next(iter(encoders.values()))
        paths["reconstructions"] = os.path.join(out, "reconstructions.png")
        plot_image_rows([("test inputs", first["inputs"])] + [(n, p["reconstructions"]) for n, p in encoders.items()],
                        paths["reconstructions"], title=f"reconstructions E[x|z = mean of q(z|x)] ({title})")
        paths["traversals"] = os.path.join(out, "traversals.png")
        fig, axes = plt.subplots(1, len(encoders), figsize=(3.2 * len(encoders), 3.5), squeeze=False)
        for ax, (name, p) in zip(axes[0], encoders.items()):
            ax.imshow(image_grid(p["traversals"], nrow=9), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(name)
            ax.axis("off")
        fig.suptitle(f"latent traversals E[x|z]: rows = most active latents, columns = -3 ... 3 ({title})")
        save_figure(fig, paths["traversals"])
    strips = [(n, p["interpolations"]) for n, p in panels.items() if "interpolations" in p]
    if strips:
        paths["interpolations"] = os.path.join(out, "interpolations.png")
        plot_image_rows(strips, paths["interpolations"],
                        title=f"latent interpolations: encoder models between two test images' codes, GANs "
                              f"between two prior draws ({title})")
    return paths


# -- provenance -----------------------------------------------------------------------------------
def resource_seconds():
    """User + system CPU seconds of this process and its reaped children (the job workers)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        u = resource.getrusage(who)
        total += u.ru_utime + u.ru_stime
    return total


def machine(workers):
    """One line: CPU model and cores, torch and Python versions, threads and workers."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return (f"{os.cpu_count()}-core {cpu}, torch {torch.__version__.split('+')[0]}, Python {platform.python_version()}, "
            f"1 torch thread per job, {workers} worker process{'es' if workers > 1 else ''}")


def publish(result, root):
    """Copy a run's ``compare.json`` to ``root/docs/results/compare.json`` and its figures to
    ``root/docs/figures/compare_<figure>.png`` (the JSON's figure paths then name those copies)."""
    figures = {}
    for name, path in result["config"]["figures"].items():
        target = os.path.join("docs", "figures", f"compare_{name}.png")
        os.makedirs(os.path.join(root, "docs", "figures"), exist_ok=True)
        shutil.copyfile(path, os.path.join(root, target))
        figures[name] = target
    published = {**result, "config": {**result["config"], "figures": figures}}
    write_json(os.path.join(root, "docs", "results", "compare.json"), published)
    return published
