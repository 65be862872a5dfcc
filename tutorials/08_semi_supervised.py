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
# # 8. Semi-supervised learning with enumeration: the M2 model
#
# Kingma, Rezende, Mohamed & Welling (2014) model images *and* their labels,
# $p(x, y, z) = p(y)\,p(z)\,p_\theta(x \mid y, z)$, with a guide that includes a classifier,
# $q_\phi(y \mid x)\,q_\phi(z \mid x, y)$. A labelled image gives the usual bound
#
# $$\mathcal{L}(x, y) = \mathbb{E}_{q(z\mid x,y)}[\log p(x\mid y,z) + \log p(y) + \log p(z) - \log q(z\mid x,y)],$$
#
# and for an unlabelled one the label is a *discrete latent* that can be summed out exactly:
#
# $$\mathcal{U}(x) = \sum_y q(y\mid x)\,\mathcal{L}(x, y) + \mathcal{H}(q(y\mid x)).$$
#
# In Pyro the sum is one line: mark the guide's `y` site for **parallel enumeration**
# (`pyro.infer.config_enumerate`) and train with `TraceEnum_ELBO`, which evaluates all ten labels in one
# batched pass instead of sampling one. Training adds $\alpha\cdot(-\log q(y\mid x))$ on the labelled points.
# Set `PYPROGEN_TUTORIAL_QUICK=1` for a run of a few seconds (the numbers then mean little).

# %%
import os

import matplotlib.pyplot as plt
import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from pyro.infer import TraceEnum_ELBO

from pyprogen.data import load_dataset
from pyprogen.models import build
from pyprogen.models.conditional_vae import with_onehot
from pyprogen.models.m2 import fit_labelled
from pyprogen.plotting import image_grid
from pyprogen.seeding import set_seed

QUICK = os.environ.get("PYPROGEN_TUTORIAL_QUICK") == "1"
OUT = os.environ.get("PYPROGEN_TUTORIAL_OUT", "runs/tutorials")
os.makedirs(OUT, exist_ok=True)
train, test = load_dataset("mnist", "train"), load_dataset("mnist", "test")
N = 2000 if QUICK else len(train)
x, y = (train.x[:N] > 0.5).float(), train.y[:N].long()           # binarised at 0.5
x_test, y_test = (test.x > 0.5).float()[: 500 if QUICK else None], test.y.long()[: 500 if QUICK else None]
LABELS = 100 if QUICK else 3000
labelled = torch.zeros(N, dtype=torch.bool)                       # balanced: LABELS/10 per class
for k in range(10):
    labelled[(y == k).nonzero().reshape(-1)[: LABELS // 10]] = True
print(f"{int(labelled.sum())} labelled and {int((~labelled).sum())} unlabelled training images")

# %% [markdown]
# ## The model in Pyro syntax
# `pyprogen.models.M2` is the conditional VAE plus the classifier. Its guide, in short:
#
# ```python
# @config_enumerate
# def guide(self, x, y=None):
#     with pyro.plate("data", len(x)):
#         if y is None:                                   # unlabelled: y is a latent, enumerated
#             y = pyro.sample("y", dist.Categorical(logits=self.classifier(x)))
#         loc, scale = self.encoder(with_onehot(x.flatten(1), y, 10))
#         pyro.sample("z", dist.Normal(loc, scale).to_event(1))
# ```
#
# Under enumeration `y` has shape `(10, 1)`: every label at once, broadcast against the batch.

# %%
set_seed(0)
model = build("m2", (1, 28, 28), classifier="conv", alpha=50.0)
batch = x[:4]
trace = poutine.trace(poutine.enum(model.guide, first_available_dim=-2)).get_trace(batch)
print("enumerated y:", tuple(trace.nodes["y"]["value"].shape), " z:", tuple(trace.nodes["z"]["value"].shape))

# %% [markdown]
# ## Enumeration is the explicit sum over labels
# We check $-\text{TraceEnum\_ELBO} = \sum_n \big[\sum_y q(y|x_n)\,\mathcal{L}(x_n, y) + \mathcal{H}(q(y|x_n))\big]$
# by hand, with the same draws of $z$ (one per label and image).

# %%
model.eval()  # dropout off in the conv classifier, so both computations see the same q(y|x)
pyro.set_rng_seed(1)
enumerated = TraceEnum_ELBO(max_plate_nesting=1).loss(model.model, model.guide, batch)
pyro.set_rng_seed(1)
z_all = poutine.trace(poutine.enum(model.guide, first_available_dim=-2)).get_trace(batch).nodes["z"]["value"]
with torch.no_grad():
    q_y = torch.softmax(model.class_logits(batch), -1)
    total = 0.0
    for n in range(len(batch)):
        xn = batch[n].reshape(1, -1)
        for label in range(10):
            yl, z = torch.tensor([label]), z_all[label, n][None]
            loc, scale = model.encoder(with_onehot(xn, yl, 10))
            L = (dist.Bernoulli(logits=model.decoder(with_onehot(z, yl, 10))).log_prob(xn).sum()
                 + torch.log(torch.tensor(0.1)) + dist.Normal(0.0, 1.0).log_prob(z).sum()
                 - dist.Normal(loc, scale).log_prob(z).sum())
            total += float(q_y[n, label] * L)
        total += float(-(q_y[n] * q_y[n].log()).sum())
print(f"TraceEnum_ELBO loss {enumerated:.4f}   explicit sum over labels {-total:.4f}")

# %% [markdown]
# ## Training
# `fit_labelled` takes an unlabelled and a labelled minibatch per step, as the paper does. The same model also
# trains through the one training loop: `fit(model, x, labels=y)` with `y = -1` where a label is missing
# (`pyprogen.data.semi_supervised.keep_labels` and `balanced_rows` prepare that; `pyprogen train m2 --data
# mnist --labels 3000` does it from the command line) — within a minibatch the guide enumerates q(y|x) for
# unlabelled rows and puts a point mass on the label of labelled ones. The classifier alone on the labelled
# images is the baseline that shows what the unlabelled images add.

# %%
def test_accuracy(m):
    m.eval()
    return float((m.classify(x_test) == y_test).float().mean())


set_seed(0)
model = build("m2", (1, 28, 28), classifier="conv", alpha=50.0)
history = fit_labelled(model, x, y, labelled=labelled, steps=30 if QUICK else 2000, lr=1e-3, seed=0)
print(f"last step: −U {history[-1]['unlabelled']:.1f}  −L {history[-1]['labelled']:.1f} nats per image")

set_seed(0)
baseline = build("m2", (1, 28, 28), classifier="conv").classifier
opt = torch.optim.Adam(baseline.parameters(), lr=1e-3)
idx = labelled.nonzero().reshape(-1)
for _ in range(30 if QUICK else 1500):
    b = idx[torch.randint(len(idx), (100,))]
    opt.zero_grad()
    torch.nn.functional.cross_entropy(baseline(x[b]), y[b]).backward()
    opt.step()
baseline.eval()
with torch.no_grad():
    base_acc = float((baseline(x_test).argmax(-1) == y_test).float().mean())
print(f"test accuracy of q(y|x): M2 {test_accuracy(model):.4f}, the classifier on the {LABELS} labels alone {base_acc:.4f}")

# %% [markdown]
# ## Class-conditional samples
# With the label observed, $p(x \mid y, z)$ draws a chosen digit (`model.sample(n, label=k)`); each row
# is one label, each column one draw of $z$ (the decoder's mean image).

# %%
grid = torch.cat([model.sample(8, label=k, mean=True) for k in range(10)])
fig, ax = plt.subplots(figsize=(4, 5))
ax.imshow(image_grid(grid, nrow=8), cmap="gray")
ax.axis("off")
fig.savefig(os.path.join(OUT, "08_m2_samples.png"), dpi=100)
plt.show()

# %% [markdown]
# `benchmarks/m2_mnist.py` runs 3,000 / 600 / 100 labels on the shipped MNIST subset for a fixed CPU
# budget and writes `docs/results/m2_mnist.json`, next to the paper's errors (11.97 %, 4.94 %, 3.92 %).
