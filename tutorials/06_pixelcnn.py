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
# # 6. PixelCNN and exact likelihood
#
# An autoregressive model factorises $\log p(x) = \sum_i \log p(x_i \mid x_{<i})$ (van den Oord et al. 2016) and
# computes every conditional in one pass of a masked network, so the likelihood is **exact**, not a bound.
# In pyprogen the PixelCNN is a Pyro model with one observed site `"x"` and no latents; its guide is empty,
# so `Trace_ELBO`'s loss *is* $-\log p(x)$.

# %%
import math
import os

import matplotlib.pyplot as plt
import pyro
import torch

from pyprogen.data import load_dataset
from pyprogen.experiments.recipes import evaluation_rows
from pyprogen.metrics import bits_per_dim
from pyprogen.metrics.evaluate import evaluate_model
from pyprogen.models import build
from pyprogen.plotting import image_grid
from pyprogen.seeding import set_seed
from pyprogen.train import fit

QUICK = os.environ.get("PYPROGEN_TUTORIAL_QUICK") == "1"
OUT = os.environ.get("PYPROGEN_TUTORIAL_OUT", "runs/tutorials")
train = load_dataset("binarized-mnist", "train").x[: 500 if QUICK else 50000]
test = load_dataset("binarized-mnist", "test").x
test = test[evaluation_rows(len(test), 100 if QUICK else 10000)]  # all 10,000, or a random 100 (sorted by digit)

# %%
set_seed(0)
small = dict(channels=16, depth=2) if QUICK else {}
pixelcnn = build("pixelcnn", (1, 28, 28), likelihood="bernoulli", **small)
fit(pixelcnn, train, epochs=1 if QUICK else 10, batch_size=64, out=os.path.join(OUT, "06_pixelcnn"))

# %% [markdown]
# ## Three ways to the same number
# `model.log_prob`, Pyro's `Trace_ELBO` (an empty guide makes it exact) and `evaluate_model` agree.

# %%
with torch.no_grad():
    exact = pixelcnn.log_prob(test)
    elbo = -pyro.infer.Trace_ELBO().loss(pixelcnn.model, pixelcnn.guide, test) / len(test)
result = evaluate_model(pixelcnn, test)
print(f"log_prob: {exact.mean():.3f}   Trace_ELBO: {elbo:.3f}   evaluate_model: {-result['nll_nats']:.3f} nats")
print(f"{result['nll_nats']:.2f} nats = {bits_per_dim(result['nll_nats'], 784):.4f} bits/dim")
assert math.isclose(exact.mean().item(), elbo, rel_tol=1e-4, abs_tol=1e-3)

# %% [markdown]
# ## Against a VAE's bound
# For the VAE, $\log p(x)$ is only available as the importance-weighted bound $\mathcal{L}_K$ (Burda et al. 2016),
# which rises towards $\log p(x)$ as $K$ grows.

# %%
set_seed(0)
vae = build("vae", (1, 28, 28), latent_dim=16, likelihood="bernoulli")
fit(vae, train, epochs=1 if QUICK else 10, out=os.path.join(OUT, "06_vae"))
for k in (1, 10, 100) if QUICK else (1, 10, 100, 1000):
    r = evaluate_model(vae, test, num_particles=k)
    print(f"VAE IWAE bound, K={k:5d}: NLL ≤ {r['nll_nats']:.2f} nats")

# %% [markdown]
# ## Sampling is sequential
# One pixel at a time (784 network evaluations; the cached sampler reuses work between them).

# %%
fig, ax = plt.subplots(figsize=(4, 4))
ax.imshow(image_grid(pixelcnn.sample(16 if QUICK else 64)), cmap="gray")
ax.set_title("PixelCNN samples")
ax.axis("off")
plt.show()
