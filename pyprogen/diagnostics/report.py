"""``pyprogen diagnose DIR``: the ArviZ check of a trained model on test points, written to disk.

Loads the model of a run directory, takes the first ``points`` test points of its data, runs
:func:`pyprogen.diagnostics.check` and writes to ``out`` (default ``DIR/diagnostics``):

- ``diagnostics.nc``: the NUTS ``InferenceData`` (posterior, sample_stats, log_likelihood,
  observed_data) plus the groups ``guide_posterior``, ``guide_log_likelihood`` and ``diagnostics``
  (per point: k̂, log p(x), ELBO of the guide and of the per-point optimum);
- ``diagnostics.json`` (the numbers; non-finite values as null) and ``diagnostics.md`` (the table);
- ``pair.png``: NUTS against guide draws for a few points in their widest latent dimensions;
- ``k_hat.png``: k̂ per point with the 0.5 and 0.7 thresholds.
"""
import math
import os
import time
import warnings

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402

from ..errors import PyprogenError, expect  # noqa: E402
from ..io import save_figure, save_netcdf, write_json, write_text  # noqa: E402
from .check import K_GOOD, K_OK, check, format_check  # noqa: E402


def test_points(model, data, points):
    """The first ``points`` test points: ``data`` (name, array or dataset) or the run's training set."""
    from ..data import as_tensor, load_dataset

    if data is None:
        data = (getattr(model, "config", None) or {}).get("data")
        if data is None:
            raise PyprogenError("data: the run directory does not name its data set; pass --data NAME|FILE")
    if isinstance(data, str):
        data = load_dataset(data, split="test")
    x = as_tensor(data, "data")  # tensors, arrays, datasets; uint8 images scaled to [0, 1]
    expect(tuple(x.shape[1:]) == tuple(model.data_shape), "data", f"points of shape {tuple(model.data_shape)}",
           tuple(x.shape[1:]))
    x = x[:points]
    if hasattr(model, "likelihood"):
        model.likelihood.check(x, "data")
    return x


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
    idata = nuts.copy()
    point = nuts.posterior["point"].values
    per_point = {k: ("point", np.asarray(result[k], dtype=float)) for k in ("k_hat", "k_hat_local", "log_px",
                                                                             "elbo", "elbo_local")}
    groups = {"guide_posterior": guide.posterior,
              "diagnostics": xr.Dataset(per_point, coords={"point": point})}
    if "log_likelihood" in guide.groups():
        groups["guide_log_likelihood"] = guide.log_likelihood
    with warnings.catch_warnings():  # ArviZ warns that these group names are not in its schema
        warnings.simplefilter("ignore", UserWarning)
        idata.add_groups(groups)
    return idata


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


def diagnose_dir(run_dir, *, data=None, points=100, out=None, num_samples=500, warmup_steps=500, num_chains=2,
                 num_particles=1000, local_steps=500, seed=0, progress=True, jit_compile=True):
    """Run :func:`check` on a trained run directory; write the files above and return the result dict."""
    from ..train import load

    expect(isinstance(points, int) and points >= 1, "points", "a positive integer", points)
    start = time.perf_counter()
    model = load(run_dir)
    if not getattr(model, "latent_dim", 0):
        raise PyprogenError(f"run directory {run_dir!r}: the model has no latent variables to diagnose")
    x = test_points(model, data, points)
    result = check(model.model, model.guide, x, num_samples=num_samples, warmup_steps=warmup_steps,
                   num_chains=num_chains, num_particles=num_particles, local_steps=local_steps, seed=seed,
                   progress=progress, jit_compile=jit_compile)
    result["seconds"] = time.perf_counter() - start
    out = os.path.join(run_dir, "diagnostics") if out is None else out
    files = {name: os.path.join(out, name) for name in ("diagnostics.nc", "diagnostics.json", "diagnostics.md",
                                                        "pair.png", "k_hat.png")}
    save_netcdf(inference_data(result), files["diagnostics.nc"])
    write_json(files["diagnostics.json"], _finite_or_none({k: v for k, v in result.items() if k != "inference_data"}))
    write_text(files["diagnostics.md"], format_check(result) + "\n")
    save_figure(pair_figure(result), files["pair.png"])
    save_figure(khat_figure(result), files["k_hat.png"])
    result["files"] = files
    return result
