"""The 1-D stability study: GAN vs WGAN-GP vs GAN-DP on 1-D targets, several seeds, a learning-rate sweep.

Reproduces Figures 2.3/2.4 and Table 2.2 of the research notes (GAN: Goodfellow et al. 2014;
WGAN-GP: Gulrajani et al. 2017; GAN-DP: Roth et al. 2017 / R1 of Mescheder et al. 2018) and adds
seeds, noise floors and an exact W1. Every run trains the same MLP pair: generator
4→64→64→1 and critic 1→64→64→1 with LeakyReLU(0.2), minibatches of 128, the loss's own optimiser
(``adversarial_loss(name).make_*_optimizer``) at the run's learning rate, on raw (unscaled) data.

- **Epoch** = ``steps_per_epoch`` (100) generator updates, each after the loss's ``critic_steps``
  critic updates; real minibatches are drawn with replacement from a per-run training set of
  ``train_size`` = 12,800 target draws (an epoch of generator batches = one pass's worth).
- **Batching**: all runs (targets × learning rates × seeds) of the methods that share critic
  steps and optimiser type train as one stack of networks (:class:`pyprogen.nn.BatchedMLP`); each
  loss sees only its own slice and sums over networks, so every run gets exactly its own gradients.
  Per-run learning rates: the loss's optimiser runs at lr = 1 and each step's change is scaled by
  the run's lr (exact for Adam/RMSprop/SGD, whose state does not depend on lr). Run (target, seed)
  initialises as ``torch.manual_seed(seed); G = mlp(...); D = mlp(...)`` and draws its minibatches
  and noise from its own ``torch.Generator(seed)``, so a stack gives the runs S separate runs give.
- **Trajectory**: every epoch the mean and std of generated values on fixed noise (5,000 values).
- **Final metrics**: ``draws`` = 100 draws of ``draw_size`` = 10,000 generated values, each against
  a fresh 10,000-draw of the target: histogram KL (100 bins over the target's 0.05–99.95 % range
  widened by 10 %, plus two overflow bins), KDE KL and exact W1, as mean and sd over the draws. The
  **noise floor** is the same statistic between two independent 10,000-draws of the target.
- **Drifted**: with error e(t) = (|mean_t − μ| + |std_t − σ|)/σ along the trajectory, a run
  drifted if it got close (min e ≤ 0.1) and ended far (e at the last epoch ≥ 0.2).
- **Long run** (Figure 2.4): the ``long_method`` runs at ``long_lr`` keep training to ``long_epochs``.
"""
import functools
import math
import time
import zlib

import torch
from torch import nn
from tqdm.auto import tqdm

from .. import infer as _infer  # noqa: F401  (importing the package registers the concrete losses)
from ..data.targets import format_target, parse_target
from ..errors import PyprogenError, expect
from ..infer.adversarial_loss import AdversarialLoss, adversarial_loss
from ..nn.batched import BatchedMLP
from ..nn.mlp import mlp
from ..seeding import set_seed

DEFAULT_TARGETS = ("Normal(4, 1.25)", "Beta(2, 5)")
DEFAULT_METHODS = ("gan", "wgan-gp", "gan-dp")
DEFAULT_LRS = (1e-5, 1e-4, 1e-3)
DRIFT_CLOSE, DRIFT_AWAY = 0.1, 0.2
FULL = dict(seeds=5, epochs=30, steps_per_epoch=100, batch_size=128, train_size=12_800, latent_dim=4,
            hidden=[64, 64], trajectory_samples=5000, draws=100, draw_size=10_000, bins=100, kde_grid=512,
            long_method="wgan-gp", long_lr=1e-5, long_epochs=60)
QUICK = dict(FULL, seeds=2, epochs=2, steps_per_epoch=10, batch_size=64, train_size=1280, trajectory_samples=1000,
             draws=5, draw_size=2000, long_epochs=4)
EVAL_OFFSET, FINAL_OFFSET = 1_000_003, 2_000_003
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


class _PerNetworkLR:
    """Wrap an optimiser built at lr = 1: each step's parameter change is scaled by its network's lr."""

    def __init__(self, optimizer, lr):
        self.optimizer, self.lr = optimizer, lr
        self.params = [p for g in optimizer.param_groups for p in g["params"]]

    def zero_grad(self):
        self.optimizer.zero_grad(set_to_none=True)

    @torch.no_grad()
    def step(self):
        before = [p.detach().clone() for p in self.params]
        self.optimizer.step()
        for p, b in zip(self.params, before):
            p.copy_(b + (p - b) * self.lr.view(-1, *([1] * (p.dim() - 1))))

    def select(self, index, new_params, factory):
        new = factory(new_params, 1.0)
        for old, p in zip(self.params, new_params):
            state = self.optimizer.state.get(old, {})
            new.state[p] = {k: (v[index].clone() if torch.is_tensor(v) and v.shape == old.shape
                                else v.clone() if torch.is_tensor(v) else v) for k, v in state.items()}
        return _PerNetworkLR(new, self.lr[index])


def training_data(dist, seed, size):
    """The run's training set: ``size`` target draws after ``torch.manual_seed(seed)`` (RNG restored)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return dist.sample((size,)).float()


class RunStack:
    """Runs (dicts with target, method, lr, seed; grouped by method) trained as one stack of networks."""

    def __init__(self, runs, losses, dists, cfg):
        self.runs, self.cfg, self.losses = list(runs), cfg, losses
        gens, crits = [], []
        with torch.random.fork_rng(devices=[]):
            for r in self.runs:
                torch.manual_seed(r["seed"])
                gens.append(mlp([cfg["latent_dim"], *cfg["hidden"], 1], ACTIVATION))
                crits.append(mlp([1, *cfg["hidden"], 1], ACTIVATION))
        self.G, self.D = BatchedMLP.from_modules(gens), BatchedMLP.from_modules(crits)
        cache = {}
        for r in self.runs:
            key = (r["target"], r["seed"])
            if key not in cache:
                cache[key] = training_data(dists[r["target"]], r["seed"], cfg["train_size"])
        self.data = torch.stack([cache[(r["target"], r["seed"])] for r in self.runs])
        self.rngs = [torch.Generator().manual_seed(r["seed"]) for r in self.runs]
        self.eval_z = torch.stack([torch.randn(cfg["trajectory_samples"], cfg["latent_dim"],
                                               generator=torch.Generator().manual_seed(r["seed"] + EVAL_OFFSET))
                                   for r in self.runs])
        lr = torch.tensor([r["lr"] for r in self.runs])
        first = losses[self.runs[0]["method"]]
        self.g_opt = _PerNetworkLR(first.make_generator_optimizer(list(self.G.parameters()), 1.0), lr)
        self.d_opt = _PerNetworkLR(first.make_critic_optimizer(list(self.D.parameters()), 1.0), lr)
        self.trajectory = {"epoch": [], "mean": [], "std": []}
        self.epoch = 0
        self._set_parts()

    def _set_parts(self):
        self.parts, start = [], 0
        for i in range(1, len(self.runs) + 1):
            if i == len(self.runs) or self.runs[i]["method"] != self.runs[start]["method"]:
                self.parts.append((self.losses[self.runs[start]["method"]], slice(start, i)))
                start = i
        self.critic_steps = self.parts[0][0].critic_steps

    def _draw(self, real):
        b, n = self.cfg["batch_size"], self.data.shape[1]
        idx, z = [], []
        for g in self.rngs:
            if real:
                idx.append(torch.randint(n, (b,), generator=g))
            z.append(torch.randn(b, self.cfg["latent_dim"], generator=g))
        x = self.data.gather(1, torch.stack(idx)).unsqueeze(-1) if real else None
        return x, torch.stack(z)

    def _critic(self, index):
        return lambda x: self.D(x, index)

    def step(self):
        """One generator update after ``critic_steps`` critic updates, for every network at once."""
        for _ in range(self.critic_steps):
            real, z = self._draw(real=True)
            with torch.no_grad():
                fake = self.G(z)
            self.d_opt.zero_grad()
            sum(loss.critic_loss(self._critic(sl), real[sl], fake[sl])[0] for loss, sl in self.parts).backward()
            self.d_opt.step()
            for loss, _ in self.parts:
                loss.after_critic_step(self.D)
        _, z = self._draw(real=False)
        self.D.requires_grad_(False)
        fake = self.G(z)
        self.g_opt.zero_grad()
        sum(loss.generator_loss(self._critic(sl), fake[sl]) for loss, sl in self.parts).backward()
        self.g_opt.step()
        self.D.requires_grad_(True)

    @torch.no_grad()
    def record(self):
        x = self.G(self.eval_z)[..., 0]
        self.trajectory["epoch"].append(self.epoch)
        self.trajectory["mean"].append(x.mean(1))
        self.trajectory["std"].append(x.std(1))

    def train(self, epochs, on_epoch=None):
        if not self.trajectory["epoch"]:
            self.record()
        while self.epoch < epochs:
            for _ in range(self.cfg["steps_per_epoch"]):
                self.step()
            self.epoch += 1
            self.record()
            if on_epoch is not None:
                on_epoch()

    @torch.no_grad()
    def final_samples(self, i, chunk=200_000):
        """``(draws, draw_size)`` generated values of network ``i`` from its own final-noise generator."""
        total = self.cfg["draws"] * self.cfg["draw_size"]
        g = torch.Generator().manual_seed(self.runs[i]["seed"] + FINAL_OFFSET)
        out = [self.G(torch.randn(1, min(chunk, total - k), self.cfg["latent_dim"], generator=g), slice(i, i + 1))
               for k in range(0, total, chunk)]
        return torch.cat(out, 1).reshape(self.cfg["draws"], self.cfg["draw_size"])

    def select(self, index):
        """The stack restricted to runs ``index``, training state (optimisers, RNGs, trajectory) included."""
        new = object.__new__(RunStack)
        new.cfg, new.losses, new.epoch = self.cfg, self.losses, self.epoch
        new.runs = [self.runs[i] for i in index]
        new.G, new.D = self.G.select(index), self.D.select(index)
        factory = self.losses[new.runs[0]["method"]]
        new.g_opt = self.g_opt.select(index, list(new.G.parameters()), factory.make_generator_optimizer)
        new.d_opt = self.d_opt.select(index, list(new.D.parameters()), factory.make_critic_optimizer)
        new.data, new.eval_z = self.data[index], self.eval_z[index]
        new.rngs = [self.rngs[i] for i in index]
        new.trajectory = {"epoch": list(self.trajectory["epoch"]),
                          "mean": [m[index] for m in self.trajectory["mean"]],
                          "std": [s[index] for s in self.trajectory["std"]]}
        new._set_parts()
        return new


def method_groups(losses):
    """Methods that can share a stack: same critic steps and optimiser types, no per-loss critic hook."""
    groups = {}
    for name, loss in losses.items():
        probe = [nn.Parameter(torch.zeros(1))]
        hook = type(loss).after_critic_step is not AdversarialLoss.after_critic_step
        key = (loss.critic_steps, type(loss.make_generator_optimizer(probe, 1.0)).__name__,
               repr(loss.make_generator_optimizer(probe, 1.0).defaults | {"lr": 0}),
               repr(loss.make_critic_optimizer(probe, 1.0).defaults | {"lr": 0}), name if hook else "")
        groups.setdefault(key, []).append(name)
    return list(groups.values())


def run_study(targets=None, methods=None, lrs=None, seeds=None, epochs=None, out=None, quick=False, progress=True):
    """Run the study; returns the ``stability.json`` dict and, with ``out``, writes JSON, Markdown and PNGs."""
    from .stability_report import ReferenceSet, finish_run, write_outputs

    cfg = study_config(targets, methods, lrs, seeds, epochs, quick)
    set_seed(0)
    start = time.perf_counter()
    dists = {t: parse_target(t) for t in cfg["targets"]}
    losses = {m: adversarial_loss(m) for m in cfg["methods"]}
    refs = {t: ReferenceSet(dists[t], cfg, seed=zlib.crc32(t.encode())) for t in cfg["targets"]}
    groups = method_groups(losses)
    long_wanted = cfg["long_method"] in losses and cfg["long_lr"] in cfg["lrs"] and cfg["long_epochs"] > cfg["epochs"]
    n_cells = len(cfg["targets"]) * len(losses) * len(cfg["lrs"])
    bar = tqdm(total=n_cells + (1 if long_wanted else 0), desc="stability", disable=not progress,
               bar_format="{l_bar}{bar}| {n:.1f}/{total} cells [{elapsed}<{remaining}]")
    results, long_run, samples, timing = [], [], {}, {}
    for names in groups:
        runs = [dict(target=t, method=m, lr=lr, seed=s) for m in names for t in cfg["targets"]
                for lr in cfg["lrs"] for s in range(cfg["seeds"])]
        t0 = time.perf_counter()
        stack = RunStack(runs, losses, dists, cfg)
        cells = len(runs) / cfg["seeds"]
        stack.train(cfg["epochs"], on_epoch=lambda: bar.update(0.8 * cells / cfg["epochs"]))
        timing["+".join(names)] = time.perf_counter() - t0
        for i, r in enumerate(runs):
            results.append(finish_run(stack, i, refs[r["target"]], dists[r["target"]], samples))
            bar.update(0.2 / cfg["seeds"])
        if long_wanted and cfg["long_method"] in names:
            t0 = time.perf_counter()
            keep = [i for i, r in enumerate(runs) if r["method"] == cfg["long_method"] and r["lr"] == cfg["long_lr"]]
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
    from .stability_report import stability_table as table

    if not isinstance(result, dict) or "results" not in result:
        raise PyprogenError("result: expected the dict run_study returns (with 'results')")
    return table(result)
