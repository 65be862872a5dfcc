"""``pyprogen compare``: every family trained on one data set with its recipe, over seeds, one table.

Each entry is a model by registry name plus its training loss (a GAN appears twice: GAN-DP and the
non-saturating GAN), trained with its family's recipe for the preset (recipes.py). Per entry and
seed: test NLL in nats where a likelihood or bound exists (the IWAE bound L_K of Burda et al. 2016
with the guide as proposal; exact for PixelCNN; null for GANs), sample quality/diversity in one
feature space (:mod:`pyprogen.metrics.features`: Fréchet distance, precision/recall of
Kynkäänniemi et al. 2019, classes covered) computed on **draws** ``x ~ p(x)`` (binary, like the
test images; the figures show mean images E[x|z] instead), latent metrics where an encoder exists
(active units; on dSprites MIG and the β-VAE/FactorVAE scores), training time and parameter count.
``compare.json`` holds per model the mean over seeds in each metric's key and the sample standard
deviation (n − 1) in ``"<metric>_sd"`` (null for one seed); every seed's row is in
``out/NAME/seed-S/result.json`` and under ``per_seed``.

Reproducible by construction: each (model, seed) job trains and evaluates on **one torch thread**
from its own seed; jobs run in ``workers`` processes (default: torch's thread count), so the
numbers are the same bit for bit whatever the number of threads or workers.

Images are binarised (threshold 0.5) when they are not already 0/1 (the default, binarized MNIST,
is: Larochelle's fixed binarisation, so NLLs are comparable with the literature).
"""
import concurrent.futures
import contextlib
import math
import multiprocessing
import os
import time
from dataclasses import dataclass
from functools import lru_cache

import torch

from ..data import load_dataset
from ..errors import PyprogenError
from ..io import write_json
from ..metrics import mig
from ..metrics.evaluate import evaluate_model
from ..metrics.features import FeatureClassifier, cache_dir, feature_classifier, sample_metrics
from ..metrics.latent import active_units, beta_vae_score, encoder_means, factor_vae_score
from ..models import MODELS, build
from ..seeding import set_seed
from ..train import fit
from .compare_report import (aggregate, compare_table, figure_panels, machine, plot_figures, publish,
                             resource_seconds)
from .recipes import evaluation_rows, recipe
from .runs import model_kwargs

__all__ = ["run_compare", "compare_table", "ENTRIES", "PRESETS", "DEFAULT_MODELS"]


@dataclass(frozen=True)
class Entry:
    model: str  # registry name in pyprogen.models
    family: str  # "VAE", "WAE", "GAN" or "autoregressive"
    loss: str = None  # fit's loss (None: the model's default_loss())


ENTRIES = {
    "vae": Entry("vae", "VAE"),
    "beta-vae": Entry("beta-vae", "VAE"),
    "beta-tcvae": Entry("beta-tcvae", "VAE"),
    "wae-mmd": Entry("wae-mmd", "WAE"),
    "wae-gan": Entry("wae-gan", "WAE"),
    "gan-dp": Entry("gan", "GAN", "gan-dp"),
    "ns-gan": Entry("gan", "GAN", "ns-gan"),
    "wgan-gp": Entry("gan", "GAN", "wgan-gp"),
    "pixelcnn": Entry("pixelcnn", "autoregressive"),
    "pixelrnn": Entry("pixelrnn", "autoregressive"),
}
ENTRIES["gan"] = ENTRIES["gan-dp"]  # the GAN's default loss
DEFAULT_MODELS = ("vae", "beta-vae", "beta-tcvae", "wae-mmd", "wae-gan", "gan-dp", "ns-gan", "pixelcnn")
#: families with an amortised encoder: active units, reconstructions, traversals, disentanglement
ENCODER_FAMILIES = {"VAE", "WAE"}
#: which recipe set (recipes.py) a preset trains with
RECIPE_SET = {"quick": "quick", "paper": "paper", "mnist": "quick", "dsprites": "quick"}

#: budgets by name; no ``data`` means the quick default on the shipped binarized MNIST. Epochs,
#: batch size, learning rate and nets come from the family's recipe; ``n_train``/``classifier_train``
#: None: the whole training split (a recipe may ask for fewer).
_COMMON = {"classifier_epochs": 5, "classifier_train": None, "disentanglement": False, "n_train": None, "seeds": 3}
PRESETS = {
    "quick": dict(_COMMON, data="binarized-mnist", n_test=1000, n_samples=1000, num_particles=100),
    "paper": dict(_COMMON, data="binarized-mnist", n_test=10000, n_samples=10000, num_particles=5000),
    "mnist": dict(_COMMON, data="mnist", n_test=2000, n_samples=2000, num_particles=1000),
    "dsprites": dict(_COMMON, data="dsprites", n_test=1000, n_samples=1000, num_particles=100, disentanglement=True),
}
#: where the feature classifier's labels come from when the data set has none (binarized MNIST: MNIST's)
LABELS = {"binarized-mnist": "mnist"}
#: which label column is the class (dSprites: its shape, 3 classes)
CLASS_COLUMN = {"dsprites": 0}
#: dSprites models use conv nets (recipes are for 28x28 MLPs)
DATA_KWARGS = {"dsprites": {"VAE": {"latent_dim": 10, "net": "conv"}, "WAE": {"latent_dim": 10, "net": "conv"},
                            "GAN": {"latent_dim": 10}}}
REPRODUCIBILITY = ("each (model, seed) job runs on one torch thread from its seed, so every number is the same bit "
                   "for bit for any thread or worker count (times excepted)")
#: what was checked (recorded in compare.json; tests/experiments/test_compare.py checks 1 vs 2 workers each run)
THREAD_CHECK = ("the default command run with OMP_NUM_THREADS=1 (1 worker) and OMP_NUM_THREADS=2 (2 workers) on the "
                "2-core machine gave identical values for every metric of every model and seed; only times differ")
#: dispatch order of jobs (longest first)
COST = {"autoregressive": 0, "GAN": 1, "WAE": 2, "VAE": 3}
#: numbers a job reports (the rest of a row is its identity, figures and per-epoch losses)
METRICS = ("nll_nats", "elbo_nats", "bits_per_dim", "fid", "precision", "recall", "classes_covered", "active_units",
           "mig", "beta_vae", "factor_vae", "seconds", "cpu_seconds", "eval_seconds", "eval_cpu_seconds", "parameters")


def _binary(x):
    return x if bool(((x == 0) | (x == 1)).all()) else (x > 0.5).float()


def load_splits(data, data_dir=None):
    """(train, test) :class:`ArrayDataset` s of a data set."""
    return load_dataset(data, "train", data_dir), load_dataset(data, "test", data_dir)


@lru_cache(maxsize=2)
def _splits(data, data_dir):
    """Binarised (train, test) once per process (workers serve many jobs)."""
    train, test = load_splits(data, data_dir)
    train.x, train.binary = _binary(train.x), True
    test.x = _binary(test.x)
    return train, test


def _labelled(data, data_dir, splits):
    """((x, y) train, (x, y) test) for the feature classifier, or ``None`` without class labels."""
    if data in LABELS:
        splits = load_splits(LABELS[data], data_dir)
    out = []
    for ds in splits:
        if ds.y is None or len(ds.x.shape) != 4:
            return None
        out.append((_binary(ds.x), ds.y[:, CLASS_COLUMN.get(data, 0)] if ds.y.dim() == 2 else ds.y))
    return out


def resolve_models(models):
    """Entry names to run, and the defaults left out because their family is not installed."""
    if models is None:
        chosen = [m for m in DEFAULT_MODELS if ENTRIES[m].model in MODELS]
        return chosen, [m for m in DEFAULT_MODELS if ENTRIES[m].model not in MODELS]
    for m in models:
        if m not in ENTRIES or ENTRIES[m].model not in MODELS:
            known = sorted(k for k, e in ENTRIES.items() if e.model in MODELS)
            raise PyprogenError(f"models: unknown entry {m!r}; expected names from {', '.join(known)}")
    return list(dict.fromkeys(models)), []


def _parameters(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _finite(value):
    return None if value is None or not math.isfinite(value) else float(value)


@contextlib.contextmanager
def one_thread():
    """Run a block on one torch thread (the job's numbers then do not depend on the machine's threads)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def plan(entry, data, preset, epochs=None):
    """``(build keywords, fit keywords, n_train)`` of an entry: its family's recipe, the data set's
    net overrides, and ``epochs`` if given."""
    rec = recipe(entry.model, RECIPE_SET[preset], family=entry.family)
    kw = {**rec.kwargs, **DATA_KWARGS.get(data, {}).get(entry.family, {})}
    fit_kw = rec.fit_kwargs()
    if epochs is not None:
        fit_kw["epochs"] = epochs
    return kw, fit_kw, rec.n_train


def _evaluate(name, entry, model, test_x, train, cfg, classifier, real, factors):
    row = {"name": name, "family": entry.family, "model": entry.model, "loss": entry.loss}
    result = evaluate_model(model, test_x, num_particles=cfg["num_particles"])
    row["nll_nats"] = _finite(result.get("nll_nats"))
    row["elbo_nats"] = _finite(result.get("elbo_nats"))
    row["bits_per_dim"] = _finite(result.get("bits_per_dim"))
    samples = model.sample(cfg["n_samples"]).float().clamp(0, 1)  # draws: binary for likelihood models
    if classifier is not None:
        m = sample_metrics(classifier, real, samples)
        row.update({k: _finite(m[k]) for k in ("fid", "precision", "recall")})
        row["classes_covered"], row["class_counts"] = m["classes_covered"], m["class_counts"]
    else:
        row.update(fid=None, precision=None, recall=None, classes_covered=None)
    row.update(active_units=None, mig=None, beta_vae=None, factor_vae=None)
    if entry.family in ENCODER_FAMILIES:
        row["active_units"] = active_units(model, test_x)
        if factors is not None:
            codes = encoder_means(model, train.x[:10000]).numpy()
            f = factors[:10000].numpy()
            row["mig"] = _finite(mig(codes, f))
            row["beta_vae"] = _finite(beta_vae_score(codes, f)["eval_accuracy"])
            row["factor_vae"] = _finite(factor_vae_score(codes, f)["eval_accuracy"])
    return row


def run_job(job):
    """Train and evaluate one (entry, seed) on one torch thread; write ``out/NAME/seed-S/result.json``.
    Returns ``(row, figure panels)``. Runs in a worker process or in the caller's."""
    name, seed, cfg = job["name"], job["seed"], job["cfg"]
    entry = ENTRIES[name]
    with one_thread():
        train, test = _splits(job["data"], job["data_dir"])
        kw, fit_kw, n_train = plan(entry, job["data"], job["preset"], job["epochs"])
        n_train = min(x for x in (n_train, cfg["n_train"], len(train)) if x is not None)
        x_train = train.x[:n_train]
        # a fixed random subset, as train scores (binarized MNIST's test file is sorted by digit)
        test_x = test.x[evaluation_rows(len(test), cfg["n_test"])]
        real = test.x[evaluation_rows(len(test), cfg["n_samples"])]
        factors = train.y if cfg.get("disentanglement") and train.y is not None and train.y.dim() == 2 else None
        classifier = None
        if job["classifier"] is not None:
            classifier = FeatureClassifier(*job["classifier"]["shape"])
            classifier.load_state_dict(job["classifier"]["state_dict"])
            classifier.eval()
        kw = {**model_kwargs(entry.model, train), **kw}
        run_dir = os.path.join(job["out"], name, f"seed-{seed}")
        set_seed(seed)
        model = build(entry.model, train.data_shape, **kw)
        model.config["data"] = job["data"]
        t0, c0 = time.perf_counter(), time.process_time()
        history = fit(model, x_train, loss=entry.loss, seed=seed, out=run_dir, progress=job["progress"], **fit_kw)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        set_seed(seed)
        t1, c1 = time.perf_counter(), time.process_time()
        row = _evaluate(name, entry, model, test_x, train, cfg, classifier, real, factors)
        row.update(seed=seed, seconds=seconds, cpu_seconds=cpu, eval_seconds=time.perf_counter() - t1,
                   eval_cpu_seconds=time.process_time() - c1,
                   parameters=_parameters(model), n_train=n_train,
                   recipe={"kwargs": {k: list(v) if isinstance(v, tuple) else v for k, v in kw.items()}, **fit_kw},
                   final_loss={k: _finite(v) for k, v in history[-1].items() if isinstance(v, float) and k != "seconds"})
        set_seed(seed)
        panels = figure_panels(model, entry.family, test_x)
    write_json(os.path.join(run_dir, "result.json"), row)
    return row, panels


def _init_worker():
    torch.set_num_threads(1)


def run_jobs(jobs, workers):
    """Every job's ``(row, panels)`` in job order; ``workers`` > 1: that many spawned processes."""
    if workers <= 1:
        return [run_job(j) for j in jobs]
    ctx = multiprocessing.get_context("spawn")  # no forked torch thread pools
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker) as pool:
        return list(pool.map(run_job, jobs))


def _classifier(data, data_dir, cfg, cache, progress):
    """The feature classifier, trained on one thread (cached apart from multi-threaded ones)."""
    labelled = _labelled(data, data_dir, load_splits(data, data_dir))
    if labelled is None:
        return None, None
    (x_c, y_c), (x_ct, y_ct) = labelled
    x_c, y_c = x_c[:cfg["classifier_train"]], y_c[:cfg["classifier_train"]]
    with one_thread():
        net, info = feature_classifier(x_c, y_c, x_test=x_ct, y_test=y_ct, epochs=cfg["classifier_epochs"],
                                       directory=os.path.join(cache_dir(cache), "one-thread"), progress=progress)
    job_view = {"shape": (net.data_shape, net.num_classes), "state_dict": net.state_dict()}
    info = {k: v for k, v in info.items() if k != "path"}  # a cache path is this machine's business
    return job_view, dict(info, labels=LABELS.get(data, data), epochs=cfg["classifier_epochs"])


def command(data, models, epochs, seeds, seed, preset, overrides):
    """The command line that reproduces a run (``None`` for budget overrides only the API takes)."""
    if overrides:
        return None
    parts = ["pyprogen compare"]
    for flag, value, default in (("--data", data, None), ("--preset", preset, None),
                                 ("--models", ",".join(models) if models else None, None), ("--epochs", epochs, None),
                                 ("--seeds", seeds, None), ("--seed", seed, 0)):
        if value is not None and value != default:
            parts.append(f"{flag} {value}")
    return " ".join(parts)


def run_compare(data=None, data_dir=None, models=None, epochs=None, out="runs/compare", seed=0, progress=True,
                preset=None, cache_dir=None, seeds=None, workers=None, publish_to=None, **overrides):
    """Train and evaluate each entry for ``seeds`` seeds (``seed``, ``seed + 1``, ...); write
    ``out/compare.json`` and figures; return the JSON dict.

    ``preset`` picks a budget from :data:`PRESETS` (default: ``quick`` without ``data``, the data
    set's own preset or ``mnist``'s otherwise); keyword ``overrides`` replace any of its numbers.
    ``workers``: processes (default: ``torch.get_num_threads()``); each job uses one thread.
    ``publish_to``: a repository root; also write ``docs/results/compare.json`` and
    ``docs/figures/compare_*.png`` there.
    """
    t_start, load_at_start, cpu_start = time.perf_counter(), list(os.getloadavg()), resource_seconds()
    given = {"data": data, "models": models, "epochs": epochs, "seeds": seeds, "preset": preset}
    preset = preset or ("quick" if data is None else (data if data in PRESETS else "mnist"))
    if preset not in PRESETS:
        raise PyprogenError(f"preset: expected one of {', '.join(PRESETS)}, got {preset!r}")
    cfg = dict(PRESETS[preset])
    unknown = set(overrides) - set(cfg)
    if unknown:
        raise PyprogenError(f"overrides: unknown budget keys {sorted(unknown)}; expected some of {sorted(cfg)}")
    cfg.update(overrides)
    data = data or cfg["data"]
    seeds = cfg["seeds"] if seeds is None else seeds
    if not (isinstance(seeds, int) and seeds >= 1):
        raise PyprogenError(f"seeds: expected a positive integer, got {seeds!r}")
    names, left_out = resolve_models(models)
    train, test = load_splits(data, data_dir)
    if len(train.data_shape) != 3:
        raise PyprogenError(f"data: compare needs images (N, C, H, W), got data shape {train.data_shape}")
    classifier, clf_info = _classifier(data, data_dir, cfg, cache_dir, progress)
    workers = max(1, int(workers or torch.get_num_threads()))
    seed_list = [seed + i for i in range(seeds)]
    jobs = [{"name": n, "seed": s, "cfg": cfg, "data": data, "data_dir": data_dir, "preset": preset, "epochs": epochs,
             "out": out, "classifier": classifier, "progress": progress and workers == 1}
            for s in seed_list for n in names]
    jobs.sort(key=lambda j: COST.get(ENTRIES[j["name"]].family, 0))  # long jobs first: workers finish together
    results = run_jobs(jobs, min(workers, len(jobs)))
    rows = aggregate(names, [r for r, _ in results], METRICS)
    first = {j["name"]: p for j, (_, p) in zip(jobs, results) if j["seed"] == seed}
    figures = plot_figures({n: first[n] for n in names}, out, title=f"{data}, seed {seed}")
    cpu = resource_seconds() - cpu_start
    config = {"data": data, "data_name": train.name, "preset": preset, "seeds": seed_list,
              "n_train": {r["name"]: r["n_train"] for r in rows}, "n_test": min(cfg["n_test"], len(test)),
              "n_samples": cfg["n_samples"], "num_particles": cfg["num_particles"],
              "recipes": {r["name"]: r["recipe"] for r in rows},
              "binarized": "threshold 0.5 where not already 0/1",
              "sample_metrics_on": "draws x ~ p(x) (Bernoulli draws for likelihood models, G(z) for GANs); "
                                   "figures show the mean image E[x|z] for latent-variable likelihood models",
              "models": names, "left_out": left_out, "classifier": clf_info,
              "torch_threads": 1, "workers": min(workers, len(jobs)),
              "reproducibility": REPRODUCIBILITY, "thread_check": THREAD_CHECK,
              "load_average": {"start": load_at_start, "end": list(os.getloadavg())}, "figures": figures,
              "total_seconds": time.perf_counter() - t_start, "cpu_seconds": cpu}
    for row in rows:
        row.pop("recipe")
    result = {"command": command(given["data"], given["models"], given["epochs"], given["seeds"], seed,
                                 given["preset"], overrides),
              "machine": machine(config["workers"]), "config": config, "models": rows}
    write_json(os.path.join(out, "compare.json"), result)
    if publish_to is not None:
        publish(result, publish_to)
    return result
