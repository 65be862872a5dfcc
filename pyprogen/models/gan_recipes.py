"""Per-data-set GAN defaults: the nets, stabilisers and training budget ``pyprogen train gan`` uses
when no tuning flag is given (``pyprogen.experiments.runs.DATA_RECIPES``). Chosen from the sweeps in
``benchmarks/gan_modes.py`` and ``benchmarks/gan_mnist.py`` (results in ``docs/results/gan_*.json``).

A recipe has two parts: ``model`` (keyword arguments of :class:`~pyprogen.models.GAN`, what
``build("gan", shape, **model)`` takes) and ``fit`` (``epochs``, ``batch_size``, ``lr``,
``lr_schedule`` of :func:`pyprogen.train.fit`). Flags the user gives win over both.

Vector data (ring8, grid25, a user's 2-D array) are trained in standardised units: the recipe adds
``data_loc``/``data_scale`` (per-dimension mean, root mean per-dimension variance) computed from the
training data, so the generator's output layer starts at the data's scale (on grid25, 25/25 modes
after 10k generator steps instead of 14; benchmarks/gan_modes.py track).

For data without a recipe (a user's ``.npy`` file, a 1-D target) the model part is the R1 weight
from the data's scale, :func:`pyprogen.infer.gamma_rule.default_gamma`, plus the standardisation
for vector data; the fit part is empty (the CLI's own defaults).
"""
from ..infer.gamma_rule import default_gamma
from .gan import data_standardisation

#: ring8 / grid25: the small-deep MLPs of the pyro-notes recipe (G 16→64×4→2, D 2→64×4→1,
#: LeakyReLU(0.2)), non-saturating loss + R1 (the GAN's default loss, gan-dp), generator EMA.
#: 1,025 epochs of batch 256 = 39,975 generator steps, cosine decay to 0. Chosen from tracked runs
#: (benchmarks/gan_modes.py track, seed 0, EMA generator at 40k steps): ring8 lr 1e-3 → 94.2 % HQ,
#: lr 2e-3 → 95.9 %; grid25 lr 1e-3 → 90.3 %, lr 2e-3 → 86.9 %; 50k-55k steps would cost more than
#: the 5 CPU-minutes a default run may take. Measured with the default command over 5 seeds:
#: docs/results/gan_modes_defaults.json.
_TOY_NETS = {"latent_dim": 16, "hidden": (64, 64, 64, 64), "activation": "leaky_relu"}

RECIPES = {
    "ring8": {"model": {**_TOY_NETS, "ema": 0.999, "gamma": 1.0}, "standardise": True,
              "fit": {"epochs": 1025, "batch_size": 256, "lr": 2e-3, "lr_schedule": "cosine"}},
    "grid25": {"model": {**_TOY_NETS, "ema": 0.999, "gamma": 1.0}, "standardise": True,
               "fit": {"epochs": 1025, "batch_size": 256, "lr": 1e-3, "lr_schedule": "cosine"}},
    # mnist: DCGAN nets width 32 with InfoGAN's dense layers (generator FC 1024 before the 7x7 map, critic FC 512
    # before the logit; nn/dcgan.py), 64 latents, EMA 0.999, R1 γ = 1; 75 epochs of batch 64 (11,775 generator
    # steps) with Adam 4e-4 under one cosine cycle to 0, in bf16 autocast (1.7x faster steps on this CPU), 752 ± 24
    # of the 900 CPU-s issue 14 allows (5 seeds). Without the dense layers precision stayed at 0.50-0.55 whatever we varied
    # (γ 0.1-50, widths, learning rates, batch, EMA, longer runs; docs/results/gan_mnist_probe.json); the critic's
    # logit was a linear function of 10x10-pixel patch features. Tracked on the grey levels (benchmarks/gan_mnist.py
    # track, seed 0, EMA generator, 2,000 samples; docs/results/gan_mnist_arch.json), then 5 seeds of this
    # recipe exactly as fit runs it (docs/results/gan_mnist.json).
    "mnist": {"model": {"latent_dim": 64, "width": 32, "dense": (1024, 512), "ema": 0.999, "gamma": 1.0},
              "fit": {"epochs": 75, "batch_size": 64, "lr": 4e-4, "lr_schedule": "cosine", "precision": "bf16"}},
}


def recipe_name(data):
    """The recipe key of a data set: its registry name (``"mnist (shipped subset)"`` -> ``"mnist"``)."""
    name = getattr(data, "name", data)
    return name.split(" ")[0] if isinstance(name, str) and name else None


def gan_recipe(data, x=None):
    """``{"model": {...}, "fit": {...}}`` for data set ``data`` (a name or an ArrayDataset with ``.x``).

    The standardisation of vector data needs the training data (``x``, or the data set's ``.x``);
    given only a name it is left out. Without a recipe: ``{"model": {"gamma": default_gamma(x), ...
    standardisation}, "fit": {}}`` when data are given, else both empty."""
    key = recipe_name(data)
    x = getattr(data, "x", None) if x is None else x
    vector = x is not None and x.dim() == 2
    if key in RECIPES:
        r = RECIPES[key]
        model = dict(r["model"])
        if vector and r.get("standardise"):
            model.update(data_standardisation(x))
        return {"model": model, "fit": dict(r["fit"])}
    if x is None:
        return {"model": {}, "fit": {}}
    model = {"gamma": default_gamma(x)}
    if vector:
        model.update(data_standardisation(x))
    return {"model": model, "fit": {}}


def gan_model_defaults(train):
    """The model keywords for ``build("gan", ...)`` on training set ``train`` (for the CLI's
    per-family data defaults; flags given on the command line must be applied after these)."""
    return gan_recipe(train)["model"]
