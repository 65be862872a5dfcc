"""Metrics, table and figures of the 1-D stability study (see :mod:`pyprogen.experiments.stability`).

- :class:`ReferenceSet`: a target's fixed histogram range, its ``draws`` reference 10,000-draws
  (binned once) and the noise floor (the same statistics between two independent target draws).
- :func:`finish_run`: one run's ``stability.json`` entry (metrics over the draws, trajectory, drift).
- :func:`stability_table`: the Markdown table; :func:`write_outputs`: JSON, Markdown and PNGs in the
  style of Figures 2.3 (histograms over the true density, mean/std trajectories with seed bands),
  2.4 (the long WGAN-GP run) and Appendix B.1 (KL against learning rate).
"""
import math
import os
import statistics

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from ..data.targets import log_density, target_mean_std  # noqa: E402
from ..io import save_figure, write_json, write_text  # noqa: E402
from ..metrics import divergences as dv  # noqa: E402
from ..seeding import seeded  # noqa: E402

STATS = ("hist_kl", "kde_kl", "w1")
DRIFT_CLOSE, DRIFT_AWAY = 0.1, 0.2  # the drift rule's thresholds on e(t) (see drift)


class ReferenceSet:
    """Reference draws of one target, binned once, and its noise floor."""

    def __init__(self, dist, cfg, seed):
        self.cfg = cfg
        self.range = dv.quantile_range(dist, seed=seed)
        with seeded(seed):
            ref, other = dist.sample((2, cfg["draws"], cfg["draw_size"])).to(torch.float64)
        self.p_hist = dv.bin_probabilities_rows(ref, *self.range, cfg["bins"])
        self.p_kde = dv.kde_masses_rows(ref, *self.range, cfg["kde_grid"], dv.bandwidth_rows(ref))
        self.ref = ref.sort(1).values
        self.noise_floor = {k: v for k, v in self.compare(other).items()}

    def compare(self, x):
        """Statistics of ``(draws, draw_size)`` values against the reference draws: mean and sd over draws."""
        lo, hi = self.range
        values = {
            "hist_kl": dv.discrete_kl(self.p_hist, dv.bin_probabilities_rows(x, lo, hi, self.cfg["bins"])),
            "kde_kl": dv.discrete_kl(self.p_kde, dv.kde_masses_rows(x, lo, hi, self.cfg["kde_grid"],
                                                                    dv.bandwidth_rows(x))),
            "w1": dv.wasserstein1_rows(x, self.ref),
        }
        out = {}
        for k, v in values.items():
            out[k] = float(v.mean())
            out[k + "_sd"] = float(v.std()) if len(v) > 1 else 0.0
        return out


def _num(x):
    x = float(x)
    return x if math.isfinite(x) else None


def drift(means, stds, mu, sigma, close, away):
    """(drifted, closest e, final e) with e(t) = (|mean_t − μ| + |std_t − σ|)/σ; None where undefined."""
    if not (math.isfinite(mu) and math.isfinite(sigma) and sigma > 0):
        return None, None, None
    errors = [(abs(m - mu) + abs(s - sigma)) / sigma if m is not None and s is not None else math.inf
              for m, s in zip(means, stds)]
    closest, final = min(errors), errors[-1]
    return bool(closest <= close and final >= away), _num(closest), _num(final)


def finish_run(stack, i, reference, dist, samples, key="grid"):
    """The ``stability.json`` entry of run ``i`` of ``stack`` (keeps its first draw in ``samples``).

    ``stack`` is any object with ``runs``, ``epoch``, ``trajectory`` and ``final_samples(i)``
    (a :class:`pyprogen.experiments.stacked_runs.RunStack`)."""
    run = stack.runs[i]
    x = stack.final_samples(i).to(torch.float64)
    mu, sigma = target_mean_std(dist)
    entry = dict(run, true_mean=_num(mu), true_std=_num(sigma), epochs=stack.epoch)
    finite = bool(torch.isfinite(x).all())
    metrics = reference.compare(x) if finite else {k: None for s in STATS for k in (s, s + "_sd")}
    entry.update(metrics)
    entry["final_mean"] = _num(x.mean()) if finite else None
    entry["final_std"] = _num(x.std()) if finite else None
    entry["diverged"] = not finite
    traj = stack.trajectory
    means = [_num(m[i]) for m in traj["mean"]]
    stds = [_num(s[i]) for s in traj["std"]]
    entry["drifted"], entry["closest_error"], entry["final_error"] = drift(means, stds, mu, sigma,
                                                                           DRIFT_CLOSE, DRIFT_AWAY)
    entry["trajectory"] = {"epoch": list(traj["epoch"]), "mean": means, "std": stds}
    if finite:
        samples[(key, run["target"], run["method"], run["lr"], run["seed"])] = x[0].float()
    return entry


def _cells(entries):
    cells = {}
    for e in entries:
        cells.setdefault((e["target"], e["method"], e["lr"]), []).append(e)
    return cells


def _pm(values, digits=3):
    values = [v for v in values if v is not None]
    if not values:
        return "—"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.{digits}f} ± {sd:.{digits}f}"


def _fmt(x):
    return "n/a" if x is None else f"{x:.2f}"


def _rows(entries):
    rows = []
    for (target, method, lr), runs in _cells(entries).items():
        drifted = [r["drifted"] for r in runs if r["drifted"] is not None]
        diverged = sum(r["diverged"] for r in runs)
        rows.append(f"| {target} | {method} | {lr:g} | {_pm([r['hist_kl'] for r in runs])} | "
                    f"{_pm([r['kde_kl'] for r in runs])} | {_pm([r['w1'] for r in runs])} | "
                    f"{_pm([r['final_mean'] for r in runs], 2)} ({_fmt(runs[0]['true_mean'])}) | "
                    f"{_pm([r['final_std'] for r in runs], 2)} ({_fmt(runs[0]['true_std'])}) | "
                    f"{sum(drifted)}/{len(drifted)} | {diverged}/{len(runs)} |")
    return rows


def stability_table(result) -> str:
    cfg = result["config"]
    head = ("| target | method | lr | hist KL | KDE KL | W1 | final mean (true) | final std (true) | drifted | "
            "diverged |\n|---|---|---|---|---|---|---|---|---|---|")
    lines = [f"Stability study: {cfg['seeds']} seeds per cell, {cfg['epochs']} epochs of {cfg['epoch_definition']}; "
             f"metrics = mean ± sd over seeds of each run's mean over {cfg['draws']} draws of "
             f"{cfg['draw_size']:,} values.", "", head, *_rows(result["results"]), "",
             "Noise floor (same statistic between two independent target draws, mean ± sd over draws):", ""]
    for t, nf in result["noise_floor"].items():
        lines.append(f"- {t}: hist KL {nf['hist_kl']:.4f} ± {nf['hist_kl_sd']:.4f}, KDE KL "
                     f"{nf['kde_kl']:.4f} ± {nf['kde_kl_sd']:.4f}, W1 {nf['w1']:.4f} ± {nf['w1_sd']:.4f}")
    if result.get("long_run"):
        lines += ["", f"Long run ({cfg['long_method']}, lr {cfg['long_lr']:g}, {cfg['long_epochs']} epochs):", "",
                  head, *_rows(result["long_run"])]
    lines += ["", f"Drifted: {cfg['drift_rule']}."]
    return "\n".join(lines) + "\n"


def _density(ax, dist, lo, hi):
    grid = torch.linspace(lo, hi, 400)
    ax.plot(grid, torch.exp(log_density(dist, grid)).nan_to_num(0), "k-", lw=1.2, label="true density")


def _histogram(ax, xs, dist, rng, color):
    lo, hi = rng
    if xs:
        x = torch.cat(xs)
        outside = float(((x < lo) | (x > hi)).double().mean())
        ax.hist(x.clamp(lo, hi).numpy(), bins=60, range=(lo, hi), density=True, color=color, alpha=0.5)
        ax.text(0.98, 0.95, f"{100 * outside:.1f}% outside", transform=ax.transAxes, ha="right", va="top",
                fontsize=7)
    _density(ax, dist, lo, hi)


def _trajectory(ax, runs, mu, sigma, epochs_mark=None):
    for key, color, truth in (("mean", "C0", mu), ("std", "C1", sigma)):
        ep = runs[0]["trajectory"]["epoch"]
        vals = torch.tensor([[math.nan if v is None else v for v in r["trajectory"][key]] for r in runs])
        centre = vals.nanmedian(0).values
        ax.plot(ep, centre, color=color, label=f"{key} (median of seeds)")
        ax.fill_between(ep, vals.nan_to_num(nan=math.inf).amin(0).clamp(-1e6, 1e6),
                        vals.nan_to_num(nan=-math.inf).amax(0).clamp(-1e6, 1e6), color=color, alpha=0.25, lw=0)
        if truth is not None:
            ax.axhline(truth, color=color, ls="--", lw=1)
    lo = min(v for v in (mu, sigma, 0.0) if v is not None)
    hi = max(v for v in (mu, sigma, lo + 1e-6) if v is not None)
    span = hi - lo
    seen = [float(v) for line in ax.get_lines() for v in line.get_ydata() if math.isfinite(float(v))]
    ax.set_ylim(max(min(seen + [lo]) - 0.1 * span, lo - 2 * span), min(max(seen + [hi]) + 0.3 * span, hi + 2 * span))
    if epochs_mark is not None:
        ax.axvline(epochs_mark, color="0.5", ls=":", lw=1)
    ax.set_xlabel("epoch")


def figure_lr(result, samples, dists, refs_range, lr, key="grid"):
    cfg = result["config"]
    cells = _cells(result["results"])
    rows, cols = len(cfg["methods"]), 2 * len(cfg["targets"])
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    for i, m in enumerate(cfg["methods"]):
        for j, t in enumerate(cfg["targets"]):
            runs = cells[(t, m, lr)]
            xs = [v for (k, tt, mm, ll, _), v in samples.items() if (k, tt, mm, ll) == (key, t, m, lr)]
            _histogram(axes[i, 2 * j], xs, dists[t], refs_range[t], f"C{i}")
            axes[i, 2 * j].set_title(f"{m}: {t}", fontsize=8)
            _trajectory(axes[i, 2 * j + 1], runs, runs[0]["true_mean"], runs[0]["true_std"])
            axes[i, 2 * j + 1].set_title(f"{m}: mean/std vs truth (--)", fontsize=8)
    axes[0, 1].legend(fontsize=6, loc="lower right")
    fig.suptitle(f"1-D stability, lr {lr:g} ({cfg['seeds']} seeds; bands = min–max over seeds)", fontsize=10)
    fig.tight_layout()
    return fig


def figure_long(result, samples, dists, refs_range):
    cfg = result["config"]
    targets = cfg["targets"]
    fig, axes = plt.subplots(len(targets), 2, figsize=(8, 2.6 * len(targets)), squeeze=False)
    for j, t in enumerate(targets):
        runs = [r for r in result["long_run"] if r["target"] == t]
        xs = [v for (k, tt, *_), v in samples.items() if (k, tt) == ("long", t)]
        _histogram(axes[j, 0], xs, dists[t], refs_range[t], "C1")
        axes[j, 0].set_title(f"{cfg['long_method']} lr {cfg['long_lr']:g}: {t}, epoch {cfg['long_epochs']}",
                             fontsize=8)
        _trajectory(axes[j, 1], runs, runs[0]["true_mean"], runs[0]["true_std"], epochs_mark=cfg["epochs"])
        axes[j, 1].set_title("mean/std vs truth (--); dotted: end of the grid runs", fontsize=8)
    fig.tight_layout()
    return fig


def figure_kl_lr(result):
    cfg = result["config"]
    cells = _cells(result["results"])
    fig, axes = plt.subplots(1, len(cfg["targets"]), figsize=(4.2 * len(cfg["targets"]), 3.2), squeeze=False)
    for j, t in enumerate(cfg["targets"]):
        ax = axes[0, j]
        for i, m in enumerate(cfg["methods"]):
            ys = [[r["hist_kl"] for r in cells[(t, m, lr)] if r["hist_kl"] is not None] for lr in cfg["lrs"]]
            mean = [statistics.fmean(y) if y else math.nan for y in ys]
            sd = [statistics.stdev(y) if len(y) > 1 else 0.0 for y in ys]
            ax.errorbar(cfg["lrs"], mean, yerr=sd, marker="o", capsize=3, label=m, color=f"C{i}")
        ax.axhline(result["noise_floor"][t]["hist_kl"], color="k", ls="--", lw=1, label="noise floor")
        ax.set(xscale="log", yscale="log", xlabel="learning rate", ylabel="histogram KL", title=t)
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def write_outputs(result, samples, dists, out):
    """``out/stability.json``, ``out/stability.md`` and the PNG figures (names listed in the JSON)."""
    refs_range = result["hist_range"]
    figures = {}
    for lr in result["config"]["lrs"]:
        figures[f"stability_lr{lr:g}.png"] = figure_lr(result, samples, dists, refs_range, lr)
    figures["stability_kl_vs_lr.png"] = figure_kl_lr(result)
    if result.get("long_run"):
        figures[f"stability_long_{result['config']['long_method']}.png"] = figure_long(result, samples, dists,
                                                                                        refs_range)
    result["figures"] = sorted(figures)
    for name, fig in figures.items():
        save_figure(fig, os.path.join(out, name))
    write_json(os.path.join(out, "stability.json"), result)
    write_text(os.path.join(out, "stability.md"), stability_table(result))
