"""The 1-D stability study: GAN vs WGAN-GP vs GAN-DP on 1-D targets, several seeds, a learning-rate sweep.

Reproduces Figures 2.3/2.4 and Table 2.2 of the research notes (GAN: Goodfellow et al. 2014;
WGAN-GP: Gulrajani et al. 2017; GAN-DP: Roth et al. 2017 / R1 of Mescheder et al. 2018) and adds
seeds, noise floors and an exact W1. Every run trains the same MLP pair: generator
4→64→64→1 and critic 1→64→64→1 with LeakyReLU(0.2), minibatches of 128, the loss's own optimiser
(``adversarial_loss(name).make_*_optimizer``) at the run's learning rate, on raw (unscaled) data.

- **Training** goes through the common API: the runs of one method (targets × learning rates ×
  seeds) are one implicit Pyro model, :class:`pyprogen.models.stacked_gan.StackedGAN` (a plate
  over runs of stacked networks), stepped by :class:`pyprogen.infer.AdversarialSVI` (the thin
  :class:`~pyprogen.experiments.stacked_runs.StackedAdversarialSVI`) with the registry's loss.
- **Epoch** = ``steps_per_epoch`` (100) generator updates; each ``step(minibatch)`` makes the
  loss's ``critic_steps`` critic updates (on that real minibatch and fresh fakes, as
  ``AdversarialSVI`` does) and one generator update. Minibatches are drawn with replacement from a
  per-run training set of ``train_size`` = 12,800 target draws.
- **Randomness per run**: run (target, seed) initialises as ``torch.manual_seed(seed); G = mlp(...);
  D = mlp(...)`` and draws its minibatches, latent noise and WGAN-GP/LP interpolation ε from its own
  ``torch.Generator(seed)``, so a run stacked with others equals the run alone, for every loss.
  Per-run learning rates: the loss's optimiser runs at lr = 1 and a step hook scales each network's
  change by its lr (:func:`~pyprogen.experiments.stacked_runs.per_network_lr`; exact for
  Adam/RMSprop/SGD, whose state does not depend on lr).
- **Trajectory**: every epoch the mean and std of generated values on fixed noise (5,000 values).
- **Final metrics**: ``draws`` = 100 draws of ``draw_size`` = 10,000 generated values, each against
  a fresh 10,000-draw of the target: histogram KL (100 bins over the target's 0.05–99.95 % range
  widened by 10 %, plus two overflow bins), KDE KL and exact W1, as mean and sd over the draws. The
  **noise floor** is the same statistic between two independent 10,000-draws of the target.
- **Drifted**: with error e(t) = (|mean_t − μ| + |std_t − σ|)/σ along the trajectory, a run
  drifted if it got close (min e ≤ 0.1) and ended far (e at the last epoch ≥ 0.2).
- **Long run** (Figure 2.4): the ``long_method`` runs at ``long_lr`` keep training to ``long_epochs``
  (the stack restricted to them, optimiser state and RNG streams included).
"""
import functools
import math
import time
import zlib

from torch import nn

from .. import infer as _infer  # noqa: F401  (importing the package registers the concrete losses)
from ..data.targets import format_target, parse_target
from ..errors import PyprogenError, expect
from ..infer.adversarial_loss import adversarial_loss
from ..progress import progress_bar
from ..seeding import set_seed
from .stability_report import DRIFT_AWAY, DRIFT_CLOSE, ReferenceSet, finish_run, write_outputs
from .stability_report import stability_table as _table
from .stacked_runs import RunStack

DEFAULT_TARGETS = ("Normal(4, 1.25)", "Beta(2, 5)")
DEFAULT_METHODS = ("gan", "wgan-gp", "gan-dp")
DEFAULT_LRS = (1e-5, 1e-4, 1e-3)
FULL = dict(seeds=5, epochs=30, steps_per_epoch=100, batch_size=128, train_size=12_800, latent_dim=4,
            hidden=[64, 64], trajectory_samples=5000, draws=100, draw_size=10_000, bins=100, kde_grid=512,
            long_method="wgan-gp", long_lr=1e-5, long_epochs=60)
QUICK = dict(FULL, seeds=2, epochs=2, steps_per_epoch=10, batch_size=64, train_size=1280, trajectory_samples=1000,
             draws=5, draw_size=2000, long_epochs=4)
ACTIVATION = functools.partial(nn.LeakyReLU, 0.2)


def study_config(targets=None, methods=None, lrs=None, seeds=None, epochs=None, quick=False):
    """The full configuration dict (defaults filled in, arguments checked)."""
    cfg = dict(QUICK if quick else FULL, quick=bool(quick))
    targets = list(targets) if targets else list(DEFAULT_TARGETS)
    cfg["targets"] = list(dict.fromkeys(format_target(t) for t in targets))
    methods = list(methods) if methods else list(DEFAULT_METHODS)
    for m in methods:
        adversarial_loss(m)  # raises PyprogenError naming the known losses
    cfg["methods"] = list(dict.fromkeys(methods))
    lrs = list(lrs) if lrs else list(DEFAULT_LRS)
    for lr in lrs:
        expect(isinstance(lr, (int, float)) and math.isfinite(lr) and 0 < lr < 1, "lr", "a number in (0, 1)", lr)
    cfg["lrs"] = sorted(set(float(lr) for lr in lrs))
    if seeds is not None:
        expect(isinstance(seeds, int) and 1 <= seeds <= 100, "seeds", "an integer from 1 to 100", seeds)
        cfg["seeds"] = seeds
    if epochs is not None:
        expect(isinstance(epochs, int) and 1 <= epochs <= 10_000, "epochs", "an integer from 1 to 10000", epochs)
        cfg["epochs"] = epochs
        cfg["long_epochs"] = 2 * epochs
    cfg["epoch_definition"] = (f"{cfg['steps_per_epoch']} generator updates (each after the loss's critic "
                               f"updates), minibatch {cfg['batch_size']}")
    cfg["drift_rule"] = (f"e(t) = (|mean_t - mu| + |std_t - sigma|) / sigma; drifted if min_t e <= {DRIFT_CLOSE}"
                         f" and e(last epoch) >= {DRIFT_AWAY}")
    return cfg


def make_stack(runs, cfg, dists):
    """The :class:`RunStack` of ``runs`` (one method) with the study's networks."""
    return RunStack(runs, adversarial_loss(runs[0]["method"]), dists, cfg, ACTIVATION)


def run_study(targets=None, methods=None, lrs=None, seeds=None, epochs=None, out=None, quick=False, progress=True):
    """Run the study; returns the ``stability.json`` dict and, with ``out``, writes JSON, Markdown and PNGs."""
    cfg = study_config(targets, methods, lrs, seeds, epochs, quick)
    set_seed(0)
    start = time.perf_counter()
    dists = {t: parse_target(t) for t in cfg["targets"]}
    refs = {t: ReferenceSet(dists[t], cfg, seed=zlib.crc32(t.encode())) for t in cfg["targets"]}
    long_wanted = (cfg["long_method"] in cfg["methods"] and cfg["long_lr"] in cfg["lrs"]
                   and cfg["long_epochs"] > cfg["epochs"])
    n_cells = len(cfg["targets"]) * len(cfg["methods"]) * len(cfg["lrs"])
    bar = progress_bar(total=n_cells + (1 if long_wanted else 0), desc="stability", disable=not progress,
                       bar_format="{l_bar}{bar}| {n:.1f}/{total} cells [{elapsed}<{remaining}]")
    results, long_run, samples, timing = [], [], {}, {}
    for method in cfg["methods"]:
        runs = [dict(target=t, method=method, lr=lr, seed=s) for t in cfg["targets"]
                for lr in cfg["lrs"] for s in range(cfg["seeds"])]
        t0 = time.perf_counter()
        stack = make_stack(runs, cfg, dists)
        cells = len(runs) / cfg["seeds"]
        stack.train(cfg["epochs"], on_epoch=lambda: bar.update(0.8 * cells / cfg["epochs"]))
        timing[method] = time.perf_counter() - t0
        for i, r in enumerate(runs):
            results.append(finish_run(stack, i, refs[r["target"]], dists[r["target"]], samples))
            bar.update(0.2 / cfg["seeds"])
        if long_wanted and method == cfg["long_method"]:
            t0 = time.perf_counter()
            keep = [i for i, r in enumerate(runs) if r["lr"] == cfg["long_lr"]]
            long_stack = stack.select(keep)
            del stack
            span = cfg["long_epochs"] - cfg["epochs"]
            long_stack.train(cfg["long_epochs"], on_epoch=lambda: bar.update(0.9 / span))
            long_run = [finish_run(long_stack, i, refs[r["target"]], dists[r["target"]], samples, key="long")
                        for i, r in enumerate(long_stack.runs)]
            timing["long " + cfg["long_method"]] = time.perf_counter() - t0
            bar.update(0.1)
    bar.close()
    order = {(m, t): k for k, (m, t) in enumerate((m, t) for t in cfg["targets"] for m in cfg["methods"])}
    results.sort(key=lambda r: (order[(r["method"], r["target"])], r["lr"], r["seed"]))
    timing["total"] = time.perf_counter() - start
    result = {"config": cfg, "noise_floor": {t: refs[t].noise_floor for t in cfg["targets"]},
              "hist_range": {t: list(refs[t].range) for t in cfg["targets"]},
              "results": results, "long_run": long_run, "timing_seconds": timing}
    if out is not None:
        write_outputs(result, samples, dists, out)
    return result


def stability_table(result) -> str:
    """The Markdown table of a ``run_study`` result (target × method × lr)."""
    if not isinstance(result, dict) or "results" not in result:
        raise PyprogenError("result: expected the dict run_study returns (with 'results')")
    return _table(result)
