# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 4. GANs: implicit models behind the same API, and how stable their training is
#
# A GAN (Goodfellow et al. 2014) is an *implicit* model: $z \sim \mathcal{N}(0, I)$, $x = G(z)$, with no
# density over $x$. In pyprogen it is an ordinary Pyro program: `"z"` is a sample site and `"x"` a
# `pyro.deterministic` site in `plate("data")`, so traces, `Predictive` and every sample-based metric treat
# it like a VAE. A critic $D$ is attached to the model and trained by `AdversarialSVI` through the same `fit`.

# %%
import os

import matplotlib.pyplot as plt
import pyro
import pyro.poutine as poutine

from pyprogen.data import load_dataset
from pyprogen.metrics.evaluate import evaluate_model
from pyprogen.models import build
from pyprogen.seeding import set_seed
from pyprogen.train import fit

QUICK = os.environ.get("PYPROGEN_TUTORIAL_QUICK") == "1"
OUT = os.environ.get("PYPROGEN_TUTORIAL_OUT", "runs/tutorials")

# %% [markdown]
# ## The model is a Pyro program

# %%
set_seed(0)
gan = build("gan", (2,), latent_dim=2)  # MLP generator/critic for 2-D data
trace = poutine.trace(gan.model).get_trace(n=5)
print({name: (site["type"], tuple(site["value"].shape)) for name, site in trace.nodes.items()
       if site["type"] == "sample"})
draws = pyro.infer.Predictive(gan.model, num_samples=3)(n=4)
print({k: tuple(v.shape) for k, v in draws.items()})

# %% [markdown]
# ## Training on a ring of 8 Gaussians with two losses
# `gan-dp`: the non-saturating loss plus $\frac{\gamma}{2}\mathbb{E}_{\text{data}}\|\nabla D\|^2$ (Roth et al. 2017;
# R1 of Mescheder et al. 2018); `ns-gan`: the non-saturating loss alone. Mode coverage follows the
# protocol of the mode-collapse benchmarks (a sample is good within 3σ of a mode).

# %%
from pyprogen.data import toy_modes

ring = load_dataset("ring8", "train").x[: 2000 if QUICK else 10000]
results = {}
for loss in ("gan-dp", "ns-gan"):
    set_seed(0)
    model = build("gan", (2,), latent_dim=2)
    fit(model, ring, loss=loss, epochs=1 if QUICK else 100, batch_size=256, lr=1e-3 if QUICK else 2e-4,
        out=os.path.join(OUT, "04_" + loss))
    results[loss] = (model, evaluate_model(model, ring[:500], modes=toy_modes("ring8")))
    print(loss, {k: v for k, v in results[loss][1].items() if k != "counts"})

# %% [markdown]
# There is no `nll_nats` in these results: an implicit model has no likelihood, and pyprogen never
# makes one up. `pyprogen compare` reports sample-based metrics (Fréchet distance in a classifier's
# feature space, precision/recall, classes covered) for every family instead.

# %%
fig, axes = plt.subplots(1, 2, figsize=(8, 4))
for ax, (loss, (model, _)) in zip(axes, results.items()):
    s = model.sample(2000)
    ax.scatter(*ring[:2000].T, s=2, c="0.8")
    ax.scatter(*s.T, s=2)
    ax.set_title(loss)
    ax.set_aspect("equal")
plt.show()

# %% [markdown]
# ## The stability study
# GAN, WGAN-GP and GAN-DP on 1-D targets, several seeds and learning rates; histogram KL against the
# target next to its noise floor. `quick=True` is a small smoke-sized version; the default is the full study
# (also `pyprogen stability`).

# %%
from pyprogen.experiments.stability import run_study, stability_table

if QUICK:
    study = run_study(targets=["Normal(4, 1.25)"], lrs=[1e-4], seeds=1, epochs=2, quick=True, progress=False)
else:
    study = run_study(out=os.path.join(OUT, "04_stability"))
print(stability_table(study))
