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
# # 1. Your first VAE in Pyro syntax
#
# A variational autoencoder (Kingma & Welling 2014) is a latent-variable model
# $p(x, z) = p(z)\,p_\theta(x \mid z)$ with an amortised guide $q_\phi(z \mid x)$, trained by maximising the ELBO
#
# $$\mathcal{L}(x) = \mathbb{E}_{q_\phi(z\mid x)}[\log p_\theta(x\mid z)] - \mathrm{KL}(q_\phi(z\mid x)\,\|\,p(z)).$$
#
# This notebook writes one in plain Pyro, trains it with `pyro.infer.SVI`, and then trains the same
# model with `pyprogen.train.fit` (checkpoints, progress bar, resume) and pyprogen's built-in `VAE`.
# Set `PYPROGEN_TUTORIAL_QUICK=1` for a run of a few seconds.

# %%
import os

import matplotlib.pyplot as plt
import pyro
import pyro.distributions as dist
import torch
from torch import nn

from pyprogen.data import load_dataset
from pyprogen.experiments.recipes import evaluation_rows
from pyprogen.metrics import log_likelihood
from pyprogen.plotting import image_grid

QUICK = os.environ.get("PYPROGEN_TUTORIAL_QUICK") == "1"
OUT = os.environ.get("PYPROGEN_TUTORIAL_OUT", "runs/tutorials")
pyro.set_rng_seed(0)

train = load_dataset("binarized-mnist", "train").x[: 1000 if QUICK else 50000]  # (N, 1, 28, 28), 0/1
test = load_dataset("binarized-mnist", "test").x
test = test[evaluation_rows(len(test), 100 if QUICK else 1000)]  # a fixed random subset: the file is sorted by digit
STEPS = 20 if QUICK else 3000
print(train.shape, test.shape)

# %% [markdown]
# ## The model and the guide, in plain Pyro
# Latent site `"z"` and observed site `"x"` live in `pyro.plate("data", N)`; `pyro.module` registers the
# networks' weights with Pyro's parameter store.

# %%
K = 16
decoder = nn.Sequential(nn.Linear(K, 200), nn.Tanh(), nn.Linear(200, 784))
encoder = nn.Sequential(nn.Linear(784, 200), nn.Tanh(), nn.Linear(200, 2 * K))


def model(x):
    pyro.module("decoder", decoder)
    with pyro.plate("data", x.shape[0]):
        z = pyro.sample("z", dist.Normal(torch.zeros(x.shape[0], K), 1.0).to_event(1))
        pyro.sample("x", dist.Bernoulli(logits=decoder(z)).to_event(1), obs=x.reshape(-1, 784))


def guide(x):
    pyro.module("encoder", encoder)
    loc, raw = encoder(x.reshape(-1, 784)).chunk(2, -1)
    with pyro.plate("data", x.shape[0]):
        pyro.sample("z", dist.Normal(loc, nn.functional.softplus(raw) + 1e-4).to_event(1))


# %% [markdown]
# ## Training with `pyro.infer.SVI`

# %%
svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": 1e-3}), loss=pyro.infer.Trace_ELBO())
losses = []
for step in range(STEPS):
    batch = train[torch.randint(0, len(train), (128,))]
    losses.append(svi.step(batch) / len(batch))
print(f"ELBO loss per image: first {losses[0]:.1f}, last {losses[-1]:.1f} nats")

# %% [markdown]
# Any Pyro model/guide pair can be scored with pyprogen's importance-weighted estimate of
# $\log p(x)$ (Burda et al. 2016, the guide as proposal):

# %%
ll = log_likelihood(model, guide, test, num_particles=20 if QUICK else 1000)
print(f"test NLL (IWAE bound): {-ll.mean():.1f} nats")

# %% [markdown]
# ## The same model trained with `pyprogen.train.fit`
# `fit` needs an object with `model`, `guide` and `data_shape`: subclass `GenerativeModel` and keep the
# Pyro code unchanged. The loss is any Pyro ELBO (here `Trace_ELBO`).

# %%
from pyprogen.models import GenerativeModel
from pyprogen.train import fit


class MyVAE(GenerativeModel):
    def __init__(self):
        super().__init__((1, 28, 28), latent_dim=K)
        self.decoder = nn.Sequential(nn.Linear(K, 200), nn.Tanh(), nn.Linear(200, 784))
        self.encoder = nn.Sequential(nn.Linear(784, 200), nn.Tanh(), nn.Linear(200, 2 * K))

    def model(self, x=None, n=None):
        n = self.batch_size(x, n)
        with pyro.plate("data", n):
            z = pyro.sample("z", dist.Normal(torch.zeros(n, K), 1.0).to_event(1))
            obs = None if x is None else x.reshape(-1, 784)
            return pyro.sample("x", dist.Bernoulli(logits=self.decoder(z)).to_event(1), obs=obs)

    def guide(self, x=None, n=None):
        loc, raw = self.encoder(x.reshape(-1, 784)).chunk(2, -1)
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(loc, nn.functional.softplus(raw) + 1e-4).to_event(1))


mine = MyVAE()
history = fit(mine, train, loss=pyro.infer.Trace_ELBO(), epochs=1 if QUICK else 20, batch_size=128,
              out=os.path.join(OUT, "01_my_vae"))
print(history[-1])

# %% [markdown]
# ## pyprogen's own VAE
# `pyprogen.models.build("vae", ...)` builds the same family by name (sites `"z"` and `"x"`, Bernoulli
# likelihood, 2x200 tanh networks as in Burda et al. 2016); its default loss is `Trace_ELBO`.

# %%
from pyprogen.metrics.evaluate import evaluate_model
from pyprogen.models import build

vae = build("vae", (1, 28, 28), latent_dim=K, likelihood="bernoulli")
fit(vae, train, epochs=1 if QUICK else 20, out=os.path.join(OUT, "01_vae"))
result = evaluate_model(vae, test, num_particles=20 if QUICK else 1000)
print({k: round(v, 2) for k, v in result.items() if isinstance(v, float)})

# %%
fig, ax = plt.subplots(figsize=(4, 4))
ax.imshow(image_grid(vae.sample(64, mean=True)), cmap="gray")
ax.set_title("VAE samples (likelihood means)")
ax.axis("off")
plt.show()
