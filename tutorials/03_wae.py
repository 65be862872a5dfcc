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
# # 3. Wasserstein autoencoders and the aggregate posterior
#
# A VAE pushes every $q(z|x)$ towards the prior. The WAE (Tolstikhin et al. 2018) instead matches the
# **aggregate posterior** $q(z) = \int q(z|x)\,p(x)\,dx$ to the prior:
#
# $$\min\; \mathbb{E}_{p(x)}\mathbb{E}_{q(z|x)}[c(x, G(z))] + \lambda\, D(q(z), p(z)),$$
#
# with $D$ an MMD (WAE-MMD, inverse multiquadratic kernel) or an adversarial divergence in latent space
# (WAE-GAN). Here: a 2-D latent space on MNIST, so $q(z)$ can be drawn.

# %%
import os

import matplotlib.pyplot as plt
import torch

from pyprogen.data import load_dataset
from pyprogen.metrics import mmd, total_correlation
from pyprogen.metrics.latent import encoder_means
from pyprogen.models import MODELS, build
from pyprogen.seeding import set_seed
from pyprogen.train import fit

QUICK = os.environ.get("PYPROGEN_TUTORIAL_QUICK") == "1"
OUT = os.environ.get("PYPROGEN_TUTORIAL_OUT", "runs/tutorials")
data = load_dataset("mnist", "train")
x, labels = (data.x[: 1000 if QUICK else 10000] > 0.5).float(), data.y[: 1000 if QUICK else 10000]

# %%
names = [n for n in ("vae", "wae-mmd", "wae-gan") if n in MODELS]
models = {}
for name in names:
    set_seed(0)
    models[name] = build(name, (1, 28, 28), latent_dim=2, likelihood="bernoulli")
    fit(models[name], x, epochs=1 if QUICK else 30, batch_size=100, out=os.path.join(OUT, "03_" + name))

# %% [markdown]
# ## How close is q(z) to p(z)?
# One draw $z_n \sim q(z|x_n)$ per image is a sample of $q(z)$; compare it with prior draws by the
# unbiased MMD², and measure the total correlation of $q(z)$ (Chen et al. 2018).

# %%
prior = torch.randn(len(x), 2)
for name, model in models.items():
    loc, scale = model.encoder(x)
    z = loc + scale * torch.randn_like(scale)
    print(f"{name:8s} MMD²(q(z), p(z)) = {mmd(z.detach(), prior):.4f}   "
          f"TC(q(z)) = {total_correlation(loc.detach(), scale.detach()):.3f} nats")

# %%
fig, axes = plt.subplots(1, len(models), figsize=(4 * len(models), 4), squeeze=False)
for ax, (name, model) in zip(axes[0], models.items()):
    codes = encoder_means(model, x)
    ax.scatter(*prior[:2000].T, s=2, c="0.8", label="p(z)")
    ax.scatter(*codes[:2000].T, s=2, c=labels[:2000], cmap="tab10")
    ax.set_title(f"{name}: E_q[z|x] by digit")
    ax.set_xlim(-4, 4)
    ax.set_ylim(-4, 4)
plt.show()
