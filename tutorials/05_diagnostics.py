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
# # 5. Can the guide be trusted? Diagnosing a VAE with ArviZ
#
# An amortised guide $q(z|x)$ is a fast approximation of the posterior $p(z|x)$. `pyprogen.diagnostics`
# compares it with a reference:
#
# - **NUTS** (Hoffman & Gelman 2014) on $p(z|x)$ with the decoder fixed, summarised by ArviZ
#   (r̂, bulk/tail ESS; Vehtari et al. 2021);
# - **PSIS k̂** (Vehtari et al. 2015/2024) of the importance weights $p(x,z)/q(z|x)$: below 0.5 the guide is a
#   good proposal, above 0.7 importance sampling with it is unreliable;
# - the **amortisation gap** (Cremer et al. 2018): how much ELBO the shared encoder loses against a guide
#   fitted to each point separately.

# %%
import os

import arviz as az
import matplotlib.pyplot as plt

from pyprogen.data import load_dataset
from pyprogen.diagnostics import check, format_check, guide_posterior, nuts_posterior, psis_k
from pyprogen.experiments.recipes import evaluation_rows
from pyprogen.models import build
from pyprogen.seeding import set_seed
from pyprogen.train import fit

QUICK = os.environ.get("PYPROGEN_TUTORIAL_QUICK") == "1"
OUT = os.environ.get("PYPROGEN_TUTORIAL_OUT", "runs/tutorials")
train = load_dataset("binarized-mnist", "train").x[: 1000 if QUICK else 50000]
x = load_dataset("binarized-mnist", "test").x
x = x[evaluation_rows(len(x), 3 if QUICK else 20)]  # a fixed random subset: the file is sorted by digit

set_seed(0)
vae = build("vae", (1, 28, 28), latent_dim=2 if QUICK else 8, likelihood="bernoulli")
fit(vae, train, epochs=1 if QUICK else 20, out=os.path.join(OUT, "05_vae"))

# %% [markdown]
# ## NUTS and the guide, as ArviZ `InferenceData`

# %%
nuts = nuts_posterior(vae.model, x, num_samples=30 if QUICK else 500, warmup_steps=30 if QUICK else 500,
                      num_chains=2)
q = guide_posterior(vae.guide, x, num_samples=100 if QUICK else 1000)
print(az.summary(nuts, var_names=["z"]).head())

# %% [markdown]
# ## PSIS k̂ per data point

# %%
k = psis_k(vae.model, vae.guide, x, num_particles=100 if QUICK else 1000)
print("k̂ per point:", [round(float(v), 2) for v in k])

# %% [markdown]
# ## Everything in one call
# `check` runs NUTS, the guide, PSIS and the amortisation gap (also `pyprogen diagnose RUN_DIR`).

# %%
small = dict(num_samples=30, warmup_steps=30, guide_samples=100, num_particles=100, local_steps=20) if QUICK else {}
result = check(vae.model, vae.guide, x, **small)
print(format_check(result))

# %%
az.plot_forest([result["inference_data"]["nuts"], result["inference_data"]["guide"]], model_names=["NUTS", "guide"],
               var_names=["z"], combined=True)
plt.show()
