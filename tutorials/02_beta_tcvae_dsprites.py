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
# # 2. β-VAE and β-TCVAE on dSprites: traversals and MIG
#
# dSprites (Matthey et al. 2017) renders 64x64 shapes from five known factors: shape, scale,
# orientation, x and y position. A *disentangled* representation puts each factor in its own latent.
#
# - **β-VAE** (Higgins et al. 2017) weights the KL term by β > 1: $\mathbb{E}_q[\log p(x|z)] - \beta\,\mathrm{KL}(q(z|x)\|p(z))$.
# - **β-TCVAE** (Chen et al. 2018) splits the averaged KL into index-code mutual information, total
#   correlation and dimension-wise KL, and weights only the total correlation by β.
# - **MIG** (Chen et al. 2018): for each factor, the gap between the two latents most informative about it,
#   normalised by the factor's entropy. The β-VAE and FactorVAE scores (Kim & Mnih 2018) are computed as in
#   disentanglement_lib.
#
# Set `PYPROGEN_TUTORIAL_QUICK=1` for a run of a few seconds (the numbers then mean little).

# %%
import os

import matplotlib.pyplot as plt

from pyprogen.experiments.compare import load_splits
from pyprogen.metrics import mig
from pyprogen.metrics.latent import active_units, beta_vae_score, encoder_means, factor_vae_score
from pyprogen.models import build
from pyprogen.seeding import set_seed
from pyprogen.train import fit

QUICK = os.environ.get("PYPROGEN_TUTORIAL_QUICK") == "1"
OUT = os.environ.get("PYPROGEN_TUTORIAL_OUT", "runs/tutorials")
train, test = load_splits("dsprites")
N = 512 if QUICK else len(train)
x, factors = train.x[:N], train.y[:N]  # factors: (N, 5) classes of shape, scale, orientation, x, y
print(x.shape, factors.shape)

# %% [markdown]
# ## Three models, one architecture
# Convolutional encoder/decoder of Higgins et al. (2017) for 64x64 images, 10 latents, Bernoulli pixels.

# %%
common = dict(latent_dim=10, net="conv", likelihood="bernoulli", width=8 if QUICK else 32)
specs = {"vae": {}, "beta-vae": {"beta": 4.0}, "beta-tcvae": {"beta": 6.0, "dataset_size": N}}
models = {}
for name, kw in specs.items():
    set_seed(0)
    models[name] = build(name, x.shape[1:], **common, **kw)
    fit(models[name], x, epochs=1 if QUICK else 10, batch_size=64, lr=5e-4, out=os.path.join(OUT, "02_" + name))

# %% [markdown]
# ## Disentanglement metrics
# Codes are the encoder means $\mathbb{E}_q[z|x]$ (disentanglement_lib's representation).

# %%
budget = dict(num_train=200, num_eval=100) if QUICK else {}
rows = []
for name, model in models.items():
    codes = encoder_means(model, x)
    rows.append((name, mig(codes, factors), beta_vae_score(codes, factors, **budget)["eval_accuracy"],
                 factor_vae_score(codes, factors, num_variance_estimate=min(N, 10000), **budget)["eval_accuracy"],
                 active_units(model, x)))
print("| model | MIG | β-VAE score | FactorVAE score | active units |\n|---|---|---|---|---|")
for r in rows:
    print(f"| {r[0]} | {r[1]:.3f} | {r[2]:.3f} | {r[3]:.3f} | {r[4]} |")

# %% [markdown]
# ## Latent traversals
# Encode one image, then move each of the most active latents from −3 to 3 with the others fixed.
# In a disentangled model each row changes one factor (position, scale, rotation...).

# %%
from pyprogen.experiments.compare_report import traversal_grid
from pyprogen.plotting import image_grid

fig, axes = plt.subplots(1, len(models), figsize=(4 * len(models), 4))
for ax, (name, model) in zip(axes, models.items()):
    grid = traversal_grid(model, test.x[:1], dims=6, steps=7, reference=x[:500])
    ax.imshow(image_grid(grid, nrow=7), cmap="gray")
    ax.set_title(name)
    ax.axis("off")
plt.show()
