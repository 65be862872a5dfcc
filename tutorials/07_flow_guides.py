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
# # 7. Better guides: normalising flows, and what ArviZ says about them
#
# A VAE's guide $q(z \mid x) = \mathcal{N}(\mu(x), \mathrm{diag}\,\sigma(x)^2)$ cannot express correlations or
# skew in the posterior. A **normalising flow** pushes its sample through invertible steps
# $z_T = f_T \circ \dots \circ f_1(z_0)$ and keeps an exact density (Rezende & Mohamed 2015, eq. 6):
#
# $$\log q_T(z_T \mid x) = \log q_0(z_0 \mid x) - \sum_{t=1}^T \log \left|\det \frac{\partial f_t}{\partial z_{t-1}}\right|.$$
#
# In pyprogen every VAE-family model takes `guide="iaf"` (inverse autoregressive flow, Kingma et al. 2016),
# `"planar"` or `"radial"` (Rezende & Mohamed 2015), each step conditioned on the encoder's last hidden layer,
# and `prior="vamp"` (Tomczak & Welling 2018) or `"mog"`. The guide is a Pyro `TransformedDistribution`, so
# `Trace_ELBO`, IWAE and every diagnostic work unchanged. Set `PYPROGEN_TUTORIAL_QUICK=1` for a run of seconds.

# %%
import os

import arviz as az
import matplotlib.pyplot as plt
import torch

from pyprogen.data import load_dataset
from pyprogen.diagnostics import check, format_check, guide_posterior, psis_k
from pyprogen.experiments.recipes import evaluation_rows
from pyprogen.metrics.likelihood import elbo, log_likelihood
from pyprogen.models import build
from pyprogen.seeding import set_seed
from pyprogen.train import fit

QUICK = os.environ.get("PYPROGEN_TUTORIAL_QUICK") == "1"
OUT = os.environ.get("PYPROGEN_TUTORIAL_OUT", "runs/tutorials")
train = load_dataset("binarized-mnist", "train").x[: 1000 if QUICK else 50000]
test = load_dataset("binarized-mnist", "test").x
test = test[evaluation_rows(len(test), 100 if QUICK else 1000)]  # a fixed random subset: the file is sorted by digit
K, EPOCHS, PARTICLES = (4, 1, 100) if QUICK else (16, 20, 1000)

# %% [markdown]
# ## Three VAEs, one line apart
# The same encoder and decoder; only the guide or the prior changes. All three train with the VAE's default
# loss, the compiled mean-field ELBO: KL(q‖p) in closed form for the diagonal guide and normal prior, its
# one-sample Monte-Carlo estimate $\log q(z|x) - \log p(z)$ for the flow and the VampPrior.

# %%
configs = {"diagonal": {}, "iaf": {"guide": "iaf", "flow_length": 2},
           "vamp": {"prior": "vamp", "prior_components": 50 if QUICK else 500}}
models = {}
for name, kw in configs.items():
    set_seed(0)
    models[name] = build("vae", (1, 28, 28), latent_dim=K, **kw)
    fit(models[name], train, epochs=EPOCHS, batch_size=100, out=os.path.join(OUT, f"07_{name}"), progress=False)

# %% [markdown]
# ## The flow's density is exact for its own samples
# `log_prob` of a sample replays the cached steps: base density minus the log-determinants.

# %%
iaf = models["iaf"]
with torch.no_grad():
    q = iaf.posterior(test[:2])  # q(z|x) for two digits: TransformedDistribution(Normal, [IAF, IAF])
    z = q.rsample()
    z_t, log_det = z, 0.0
    for t in reversed(q.transforms):  # walk back through the cached steps to the base draw z_0
        z_prev = t.inv(z_t)
        log_det = log_det + t.log_abs_det_jacobian(z_prev, z_t)
        z_t = z_prev
print("log q(z|x) from the guide:", [round(float(v), 3) for v in q.log_prob(z)])
print("log q_0(z_0) − Σ log|det|:", [round(float(v), 3) for v in q.base_dist.log_prob(z_t) - log_det])

# %% [markdown]
# ## Test ELBO and the importance-weighted bound on log p(x)
# The ELBO is the training objective; the IWAE bound with many particles estimates log p(x) (Burda et al. 2016).
# A better guide raises the ELBO and tightens the gap between the two.

# %%
print(f"{'model':8s} | −ELBO (nats) | NLL (IWAE, K={PARTICLES}) | gap")
for name, m in models.items():
    set_seed(1)
    with torch.no_grad():
        e = float(elbo(m.model, m.guide, test, num_particles=10).mean())
        nll = float(-log_likelihood(m.model, m.guide, test, num_particles=PARTICLES).mean())
    print(f"{name:8s} | {-e:12.2f} | {nll:21.2f} | {-e - nll:.2f}")

# %% [markdown]
# ## What ArviZ says: PSIS k̂ of the importance weights
# Pareto k̂ (Vehtari et al. 2024) of $p(x, z)/q(z \mid x)$ for each test point: below 0.5 the guide is a good
# proposal, above 0.7 importance sampling with it is unreliable. A flow guide should lower it.

# %%
x = test[: 3 if QUICK else 20]
for name in ("diagonal", "iaf"):
    set_seed(2)
    k_hat = psis_k(models[name].model, models[name].guide, x, num_particles=PARTICLES)
    print(f"{name} guide: k̂ per point", [round(float(v), 2) for v in k_hat])

# %% [markdown]
# ## NUTS as the reference, and the gaps
# `check` runs NUTS on $p(z \mid x)$ with the decoder fixed, compares it with the guide as ArviZ
# `InferenceData`, and splits the inference gap $\log p(x) - \mathrm{ELBO}$ (Cremer et al. 2018). Its per-point
# optimum is a Gaussian, so for the flow the "amortisation gap" can be negative: the amortised flow beats the
# best per-point Gaussian. Compare the inference gaps and k̂ across guides.

# %%
small = dict(num_samples=30, warmup_steps=30, guide_samples=100, num_particles=100, local_steps=20) if QUICK else {}
results = {}
for name in ("diagonal", "iaf"):
    results[name] = check(models[name].model, models[name].guide, x, **small)
    print(f"### {name} guide\n{format_check(results[name])}\n")

# %%
for name in ("diagonal", "iaf"):
    idata = results[name]["inference_data"]
    print(name, "guide:\n", az.summary(idata["guide"], var_names=["z"], kind="stats").head(3))
    az.plot_forest([idata["nuts"], idata["guide"]], model_names=["NUTS", f"{name} guide"], var_names=["z"],
                   combined=True)
    plt.title(f"{name} guide against NUTS")
plt.show()

# %% [markdown]
# Each guide is checked against NUTS on its own model (the two VAEs have different decoders).
# `benchmarks/flow_guides.py` runs this comparison on binarized MNIST at an equal CPU budget and writes
# `docs/results/flow_guides.json`.
