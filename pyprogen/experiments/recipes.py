"""Training recipes: per family (and data set), the nets, optimiser settings, KL warm-up and learning-
rate schedule that learn best within a budget, and the test rows runs are scored on. ``pyprogen train`` fills every flag left unset from
the ``default`` recipe of its model; ``pyprogen compare`` trains each family with the recipe of its
preset (``quick``: the default few-minute run; ``paper``: the long runs).

A :class:`Recipe` holds ``build()`` keywords (``kwargs``) and ``fit()`` settings. Families, not
models, own recipes: the VAE family (``vae``, ``beta-vae``, ``beta-tcvae``, DIP-/Info-VAE) shares
one, the WAEs another, GANs and autoregressive models theirs. Where a recipe's numbers come from
(a paper or a measurement here) is in its ``source``.
"""
from dataclasses import asdict, dataclass, field, replace

import torch

from ..errors import PyprogenError
from ..models.gan_recipes import RECIPES as GAN_RECIPES

#: model registry name -> family (models not listed have no recipe: the model's own defaults apply)
FAMILIES = {
    "vae": "VAE", "beta-vae": "VAE", "beta-tcvae": "VAE", "dip-vae-i": "VAE", "dip-vae-ii": "VAE", "info-vae": "VAE",
    "factor-vae": "VAE",
    "wae-mmd": "WAE", "wae-gan": "WAE",
    "gan": "GAN",
    "pixelcnn": "autoregressive", "pixelrnn": "autoregressive",
}


@dataclass(frozen=True)
class Recipe:
    """``kwargs``: for ``build(model, ...)``; the rest: ``fit``'s settings (``None``: fit's default).
    ``n_train``: training images a compare budget uses (``None``: all)."""

    kwargs: dict = field(default_factory=dict)
    lr: float = 1e-3
    batch_size: int = 128
    epochs: int = 10
    kl_warmup: int = None
    free_bits: float = None
    lr_schedule: str = None
    precision: str = "fp32"
    n_train: int = None
    source: str = ""

    def fit_kwargs(self):
        """Keywords for :func:`pyprogen.train.fit` (``epochs``, ``batch_size``, ``lr`` and the options)."""
        return {"epochs": self.epochs, "batch_size": self.batch_size, "lr": self.lr, "kl_warmup": self.kl_warmup,
                "free_bits": self.free_bits, "lr_schedule": self.lr_schedule, "precision": self.precision}

    def as_dict(self):
        d = asdict(self)
        d["kwargs"] = {k: list(v) if isinstance(v, tuple) else v for k, v in d["kwargs"].items()}
        return d


# -- the VAE family --------------------------------------------------------------------------
#: ``pyprogen train vae --data binarized-mnist --epochs 5``: 2x512 tanh, 32 latents, batch 32, cosine decay.
#: Measured here (benchmarks/vae_recipe.py, 5 epochs, seed 0, IWAE bound K = 1000 on 1,000 random test
#: images): 97.8 nats, against 116.2 for the old defaults (2x200, 16 latents, batch 128, constant lr);
#: batch 64: 101.6, batch 16: 95.9 at 1.5x the CPU; 3x512 tanh: 136 (deep tanh nets start slowly);
#: Adam 3e-3: diverges to 167. A KL warm-up over the first epoch costs 2.5 nats after 5 epochs (it pays
#: off in long runs, Sønderby et al. 2016), so this recipe has none; the paper recipe has one.
VAE_DEFAULT = Recipe(kwargs={"hidden": (512, 512), "latent_dim": 32}, lr=1e-3, batch_size=32, epochs=10,
                     lr_schedule="cosine",
                     source="measured here (benchmarks/vae_recipe.py): wide MLP, small batches, cosine decay")
#: Burda et al. 2016 (§5, one stochastic layer): 2x200 tanh, 50 latents, batch 20, Adam 1e-3 decayed
#: by 10^(-1/7) after 3^i epochs, 3,280 epochs in all.
VAE_BURDA = Recipe(kwargs={"hidden": (200, 200), "latent_dim": 50}, lr=1e-3, batch_size=20, epochs=3280,
                   lr_schedule="burda", source="Burda et al. 2016, section 5")

RECIPES = {
    ("default", "VAE"): VAE_DEFAULT,
    ("burda", "VAE"): VAE_BURDA,
    # compare's quick default: a few minutes for 8 models x 3 seeds on 2 cores (one thread per job)
    ("quick", "VAE"): replace(VAE_DEFAULT, epochs=1, batch_size=64,
                              source="compare quick budget: the default recipe's nets, one epoch"),
    ("quick", "WAE"): replace(VAE_DEFAULT, epochs=1, batch_size=64, kl_warmup=None,
                              source="compare quick budget: the VAE recipe's nets, one epoch"),
    ("quick", "GAN"): Recipe(kwargs={"latent_dim": 32, "width": 16}, lr=5e-4, epochs=1, batch_size=64,
                             source="compare quick budget (DCGAN, narrow)"),
    ("quick", "autoregressive"): Recipe(kwargs={"channels": 32, "depth": 3}, epochs=1, batch_size=64, n_train=20000,
                                        lr_schedule="cosine", source="compare quick budget"),
    # compare --preset paper: the long runs (hours on 2 cores)
    ("paper", "VAE"): replace(VAE_DEFAULT, kwargs={"hidden": (512, 512), "latent_dim": 50}, epochs=100,
                              kl_warmup=10000, source="the default recipe, 100 epochs"),
    ("paper", "WAE"): Recipe(kwargs={"hidden": (512, 512), "latent_dim": 50}, epochs=100, lr_schedule="cosine"),
    ("paper", "GAN"): Recipe(kwargs=dict(GAN_RECIPES["mnist"]["model"]), **GAN_RECIPES["mnist"]["fit"],
                             source="the GAN recipe for MNIST (models/gan_recipes.py): DCGAN, Adam 2e-4, generator EMA, "
                                    "R1 gamma 1"),
    ("paper", "autoregressive"): Recipe(kwargs={"channels": 64, "depth": 8, "gated": True}, epochs=20, batch_size=64,
                                        lr_schedule="cosine", source="gated PixelCNN (van den Oord et al. 2016)"),
    ("paper", "pixelrnn"): Recipe(kwargs={"channels": 64}, epochs=20, batch_size=64, lr_schedule="cosine",
                                  source="Row LSTM PixelRNN (van den Oord et al. 2016)"),
}
PRESETS = sorted({p for p, _ in RECIPES})


def evaluation_rows(n, points):
    """The test rows a run is scored on (``train`` and ``compare`` alike): ``points`` of ``n`` from a fixed
    permutation (seed 0), not the first ``points``: binarized MNIST's test file is sorted by digit (its
    first 1,000 rows are zeros, ~12 nats harder than the average digit)."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(0))[:points]


def family_of(model):
    return FAMILIES.get(model)


def recipe(model, preset="default", *, family=None):
    """The :class:`Recipe` of ``model`` (a registry name: its own, else its ``family``'s) in ``preset``; ``None`` where
    the family has none in that preset (the model's own defaults and fit's then apply)."""
    if preset not in PRESETS:
        raise PyprogenError(f"recipe: expected one of {', '.join(PRESETS)}, got {preset!r}")
    return RECIPES.get((preset, model)) or RECIPES.get((preset, family or family_of(model)))


def train_defaults(model, data_shape=None, preset="default"):
    """What ``pyprogen train`` takes from the recipe for flags left unset: ``(build keywords, fit
    settings)``; fit settings always hold ``batch_size`` and ``lr`` (128 and 1e-3 without a recipe).
    Recipes are for images ``(C, H, W)``: other data (2-D toys, 1-D targets) keep the model's defaults.

    A preset other than ``default`` asked for by name (``--recipe burda``) must apply: a model without a
    recipe in it, or data that are not images, stop with one line instead of training with other settings."""
    if preset != "default":
        if recipe(model, preset) is None:
            names = sorted(m for m, f in FAMILIES.items() if (preset, m) in RECIPES or (preset, f) in RECIPES)
            raise PyprogenError(f"recipe: {preset!r} has no recipe for model {model!r}; it applies to "
                                f"{', '.join(names)}")
        if data_shape is not None and len(data_shape) != 3:
            raise PyprogenError(f"recipe: {preset!r} is a recipe for images (C, H, W); the data have shape "
                                f"{tuple(data_shape)}")
    r = recipe(model, preset) if data_shape is None or len(data_shape) == 3 else None
    if r is None:
        return {}, {"batch_size": 128, "lr": 1e-3, "kl_warmup": None, "free_bits": None, "lr_schedule": None,
                    "precision": "fp32"}
    return dict(r.kwargs), {"batch_size": r.batch_size, "lr": r.lr, "kl_warmup": r.kl_warmup,
                            "free_bits": r.free_bits, "lr_schedule": r.lr_schedule, "precision": r.precision}
