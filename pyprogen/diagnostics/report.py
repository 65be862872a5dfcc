"""The files of a diagnostics run: netCDF, JSON, a Markdown table and two figures.

:func:`write_report` takes the dict of :func:`pyprogen.diagnostics.check` and writes to ``out``:

- ``diagnostics.nc``: the NUTS ``InferenceData`` (posterior, sample_stats, log_likelihood,
  observed_data) plus the groups ``guide_posterior``, ``guide_log_likelihood`` and ``diagnostics``
  (per point: k̂, log p(x), ELBO of the guide and of the per-point optimum);
- ``diagnostics.json`` (the numbers; non-finite values as null) and ``diagnostics.md`` (the table);
- ``pair.png``: NUTS against guide draws for a few points in their widest latent dimensions;
- ``k_hat.png``: k̂ per point with the 0.5 and 0.7 thresholds.

Loading a trained run directory and choosing its test points is the runner's job
(:func:`pyprogen.experiments.diagnose.diagnose_dir`).
"""
import math
import os

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..io import save_figure, write_json, write_text  # noqa: E402
from .arviz_adapter import group_names, point_dataset, save_netcdf, with_groups  # noqa: E402
from .check import K_GOOD, K_OK, format_check  # noqa: E402

FILES = ("diagnostics.nc", "diagnostics.json", "diagnostics.md", "pair.png", "k_hat.png")


def _finite_or_none(obj):
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_none(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def inference_data(result):
    """One ``InferenceData``: NUTS groups plus the guide's draws and the per-point numbers."""
    nuts, guide = result["inference_data"]["nuts"], result["inference_data"]["guide"]
    per_point = {k: result[k] for k in ("k_hat", "k_hat_local", "log_px", "elbo", "elbo_local")}
    groups = {"guide_posterior": guide.posterior,
              "diagnostics": point_dataset(per_point, nuts.posterior["point"].values)}
    if "log_likelihood" in group_names(guide):
        groups["guide_log_likelihood"] = guide.log_likelihood
    return with_groups(nuts, groups)


def _flat(posterior, var, point):
    """Draws of one point as ``(draws, dims)``."""
    a = posterior[var].sel(point=point).stack(s=("chain", "draw")).transpose("s", ...).values
    return a.reshape(a.shape[0], -1)


def pair_figure(result, points=3, dims=3):
    """NUTS (blue) vs guide (orange) draws for ``points`` points in the ``dims`` latent dims where they
    disagree most (score |Δ mean| / sd_NUTS + |log(sd_guide / sd_NUTS)|)."""
    nuts = result["inference_data"]["nuts"].posterior
    guide = result["inference_data"]["guide"].posterior
    var = next(iter(nuts.data_vars))
    chosen = list(nuts["point"].values[:points])
    pairs_per_row = max(1, dims * (dims - 1) // 2)
    fig, axes = plt.subplots(len(chosen), pairs_per_row, figsize=(3.2 * pairs_per_row, 3.0 * len(chosen)),
                             squeeze=False)
    for row, p in enumerate(chosen):
        zn, zq = _flat(nuts, var, p), _flat(guide, var, p)
        sd_n, sd_q = zn.std(0) + 1e-12, zq.std(0) + 1e-12
        score = np.abs(zn.mean(0) - zq.mean(0)) / sd_n + np.abs(np.log(sd_q / sd_n))
        worst = np.argsort(-score)[:dims]
        pairs = [(a, b) for i, a in enumerate(worst) for b in worst[i + 1:]] or [(worst[0], worst[0])]
        for col, (a, b) in enumerate(pairs):
            ax = axes[row, col]
            ax.scatter(zq[:, a], zq[:, b], s=3, alpha=0.3, color="tab:orange", label="guide")
            ax.scatter(zn[:, a], zn[:, b], s=3, alpha=0.3, color="tab:blue", label="NUTS")
            ax.set_xlabel(f"{var}[{a}]")
            ax.set_ylabel(f"{var}[{b}]")
            ax.set_title(f"point {p}, k̂ = {result['k_hat'][int(p)]:.2f}", fontsize=9)
    axes[0, 0].legend(loc="best", fontsize=8, markerscale=3)
    fig.suptitle("posterior draws: NUTS (reference) vs guide")
    fig.tight_layout()
    return fig


def khat_figure(result):
    k = np.asarray(result["k_hat"], dtype=float)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    shown = np.where(np.isfinite(k), k, np.nan)
    colour = np.where(k < K_GOOD, "tab:green", np.where(k <= K_OK, "tab:orange", "tab:red"))
    ax.scatter(np.arange(len(k)), shown, c=colour, s=12)
    finite = shown[np.isfinite(shown)]
    ax.set_ylim(min([0.3, *(finite - 0.05)]), max([1.0, *(finite + 0.05)]))
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    for level, style in ((K_GOOD, "--"), (K_OK, "-")):
        ax.axhline(level, color="grey", linestyle=style, linewidth=1)
        ax.text(1.0, level, f" {level}", va="center", fontsize=8, transform=ax.get_yaxis_transform())
    f = result["k_hat_fractions"]
    ax.set_title(f"PSIS k̂ per point: <0.5 {f['good']:.0%}, 0.5–0.7 {f['ok']:.0%}, >0.7 {f['bad']:.0%}")
    ax.set_xlabel("test point")
    ax.set_ylabel("k̂")
    return fig


def write_report(result, out):
    """Write the five files above for a :func:`pyprogen.diagnostics.check` result; ``{name: path}``."""
    files = {name: os.path.join(out, name) for name in FILES}
    save_netcdf(inference_data(result), files["diagnostics.nc"])
    write_json(files["diagnostics.json"], _finite_or_none({k: v for k, v in result.items() if k != "inference_data"}))
    write_text(files["diagnostics.md"], format_check(result) + "\n")
    save_figure(pair_figure(result), files["pair.png"])
    save_figure(khat_figure(result), files["k_hat.png"])
    return files
