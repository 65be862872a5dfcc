"""``pyprogen compare``: every family trained on one data set with one budget, one table.

Each entry is a model by registry name plus its training loss (a GAN appears twice: GAN-DP and the
non-saturating GAN). Per entry: test NLL in nats where a likelihood or bound exists (the IWAE bound
L_K of Burda et al. 2016 with the guide as proposal; exact for PixelCNN; null for GANs), sample
quality/diversity in one feature space (:mod:`pyprogen.metrics.features`: Fréchet distance,
precision/recall of Kynkäänniemi et al. 2019, classes covered), latent metrics where an encoder
exists (active units; on dSprites MIG and the β-VAE/FactorVAE scores), training seconds and
parameter count (every trained parameter, critics included).

Images are binarised (threshold 0.5) when they are not already 0/1, so every likelihood model
scores the same discrete data and the NLLs are comparable nats.
"""
import math
import os
import time
from dataclasses import dataclass

import torch

from ..data import load_dataset
from ..errors import PyprogenError
from ..io import write_json
from ..metrics import mig
from ..metrics.evaluate import evaluate_model
from ..metrics.features import feature_classifier, sample_metrics
from ..metrics.latent import active_units, beta_vae_score, encoder_means, factor_vae_score
from ..models import MODELS, build
from ..seeding import set_seed
from ..train import fit
from .compare_report import compare_table, plot_sample_grids, plot_traversals
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
#: families with an amortised encoder: active units, traversals, disentanglement
ENCODER_FAMILIES = {"VAE", "WAE"}

_SMALL = {"VAE": {"latent_dim": 16}, "WAE": {"latent_dim": 16}, "GAN": {"latent_dim": 32, "width": 16},
          "autoregressive": {"channels": 32, "depth": 3}}
#: budgets by name; ``None`` data (no arguments) is the quick default on the shipped MNIST subset.
#: ``n_train``/``classifier_train`` None: the whole training split.
_COMMON = {"classifier_epochs": 5, "classifier_train": None, "disentanglement": False}
PRESETS = {
    "quick": dict(_COMMON, data="mnist", epochs=5, n_train=5000, n_test=500, n_samples=500, batch_size=64,
                  num_particles=100, kwargs=_SMALL, lr={"GAN": 5e-4}),
    "mnist": dict(_COMMON, epochs=10, n_train=None, n_test=2000, n_samples=2000, batch_size=128, num_particles=1000,
                  kwargs={"VAE": {"latent_dim": 32}, "WAE": {"latent_dim": 32}, "GAN": {"latent_dim": 64},
                          "autoregressive": {}},
                  lr={"GAN": 2e-4}),
    "dsprites": dict(_COMMON, epochs=5, n_train=None, n_test=1000, n_samples=1000, batch_size=64, num_particles=100,
                     kwargs={"VAE": {"latent_dim": 10, "net": "conv"}, "WAE": {"latent_dim": 10, "net": "conv"},
                             "GAN": {"latent_dim": 10}, "autoregressive": {"channels": 32}},
                     lr={"GAN": 2e-4}, disentanglement=True),
}
#: where the feature classifier's labels come from when the data set has none (binarized MNIST: MNIST's)
LABELS = {"binarized-mnist": "mnist"}
#: which label column is the class (dSprites: its shape, 3 classes)
CLASS_COLUMN = {"dsprites": 0}
#: data sets whose shipped train/test split is ordered by factor (the dSprites subset's last 2,000


def _binary(x):
    return x if bool(((x == 0) | (x == 1)).all()) else (x > 0.5).float()


def load_splits(data, data_dir=None):
    """(train, test) :class:`ArrayDataset` s of a data set."""
    return load_dataset(data, "train", data_dir), load_dataset(data, "test", data_dir)


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


def _evaluate(name, entry, model, test_x, train, cfg, classifier, real, factors):
    row = {"name": name, "family": entry.family, "model": entry.model, "loss": entry.loss}
    result = evaluate_model(model, test_x, num_particles=cfg["num_particles"])
    row["nll_nats"] = _finite(result.get("nll_nats"))
    row["elbo_nats"] = _finite(result.get("elbo_nats"))
    row["bits_per_dim"] = _finite(result.get("bits_per_dim"))
    samples = model.sample(cfg["n_samples"]).float().clamp(0, 1)
    row["_samples"] = samples
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


def run_compare(data=None, data_dir=None, models=None, epochs=None, out="runs/compare", seed=0, progress=True,
                preset=None, cache_dir=None, **overrides):
    """Train and evaluate each entry; write ``out/compare.json`` and figures; return the JSON dict.

    ``preset`` picks a budget from :data:`PRESETS` (default: ``quick`` without ``data``, the data
    set's own preset or ``mnist``'s otherwise); keyword ``overrides`` replace any of its numbers.
    """
    t_start, load_at_start = time.perf_counter(), list(os.getloadavg())
    preset = preset or ("quick" if data is None else (data if data in PRESETS else "mnist"))
    if preset not in PRESETS:
        raise PyprogenError(f"preset: expected one of {', '.join(PRESETS)}, got {preset!r}")
    cfg = {k: v for k, v in PRESETS[preset].items()}
    unknown = set(overrides) - set(cfg)
    if unknown:
        raise PyprogenError(f"overrides: unknown budget keys {sorted(unknown)}; expected some of {sorted(cfg)}")
    cfg.update(overrides)
    data = data or cfg.get("data", "mnist")
    if epochs is not None:
        cfg["epochs"] = epochs
    names, left_out = resolve_models(models)

    train, test = load_splits(data, data_dir)
    if len(train.data_shape) != 3:
        raise PyprogenError(f"data: compare needs images (N, C, H, W), got data shape {train.data_shape}")
    classifier, clf_info = None, None
    labelled = _labelled(data, data_dir, (train, test))
    if labelled is not None:
        (x_c, y_c), (x_ct, y_ct) = labelled
        x_c, y_c = x_c[:cfg["classifier_train"]], y_c[:cfg["classifier_train"]]
        classifier, clf_info = feature_classifier(x_c, y_c, x_test=x_ct, y_test=y_ct, epochs=cfg["classifier_epochs"],
                                                  directory=cache_dir, progress=progress)
    n_train = cfg["n_train"] or len(train)
    factors = train.y[:n_train] if cfg.get("disentanglement") and train.y is not None and train.y.dim() == 2 else None
    train.x, train.binary = _binary(train.x[:n_train]), True
    test_x = _binary(test.x[:cfg["n_test"]])

    real = _binary(test.x[:cfg["n_samples"]])

    rows, trained = [], {}
    for name in names:
        entry = ENTRIES[name]
        kw = model_kwargs(entry.model, train)
        kw.update(cfg["kwargs"].get(entry.family, {}))
        set_seed(seed)
        model = build(entry.model, train.data_shape, **kw)
        model.config["data"] = data
        lr = cfg["lr"].get(entry.family, 1e-3)
        t0 = time.perf_counter()
        history = fit(model, train.x, loss=entry.loss, epochs=cfg["epochs"], batch_size=cfg["batch_size"], lr=lr,
                      seed=seed, out=os.path.join(out, name), progress=progress)
        seconds = time.perf_counter() - t0
        set_seed(seed)
        t1 = time.perf_counter()
        row = _evaluate(name, entry, model, test_x, train, cfg, classifier, real, factors)
        row.update(seconds=seconds, eval_seconds=time.perf_counter() - t1, parameters=_parameters(model),
                   final_loss={k: _finite(v) for k, v in history[-1].items() if isinstance(v, float)})
        rows.append(row)
        trained[name] = (entry, model)

    figures = {"samples": os.path.join(out, "samples.png")}
    plot_sample_grids([(r["name"], r.pop("_samples")[:64]) for r in rows], figures["samples"],
                      title=f"samples after {cfg['epochs']} epochs on {data}")
    encoders = [(n, m) for n, (e, m) in trained.items() if e.family in ENCODER_FAMILIES and hasattr(m, "decode")]
    if encoders:
        figures["traversals"] = os.path.join(out, "traversals.png")
        plot_traversals(encoders, test_x, figures["traversals"])
    config = {"data": data, "data_name": train.name, "preset": preset, "epochs": cfg["epochs"],
              "batch_size": cfg["batch_size"], "n_train": len(train), "n_test": len(test_x),
              "n_samples": cfg["n_samples"], "num_particles": cfg["num_particles"], "seed": seed,
              "binarized": "threshold 0.5 where not already 0/1", "models": names, "left_out": left_out,
              "lr": {r["name"]: cfg["lr"].get(r["family"], 1e-3) for r in rows},
              "classifier": clf_info, "torch_threads": torch.get_num_threads(),
              "load_average": {"start": load_at_start, "end": list(os.getloadavg())}, "figures": figures,
              "total_seconds": time.perf_counter() - t_start}
    result = {"config": config, "models": rows}
    write_json(os.path.join(out, "compare.json"), result)
    return result
