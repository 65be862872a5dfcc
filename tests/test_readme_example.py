"""The README's "custom model in Pyro syntax, trained with fit" example, verbatim, executed."""
import contextlib
import io
import os

import pyro

EXAMPLE = '''
import pyro, pyro.distributions as dist, torch
from torch import nn
from pyprogen.data import load_dataset
from pyprogen.metrics import log_likelihood
from pyprogen.models import GenerativeModel
from pyprogen.train import fit

class TinyVAE(GenerativeModel):                      # any Pyro model/guide pair with sites "z" and "x"
    def __init__(self, k=8):
        super().__init__((1, 28, 28), latent_dim=k)
        self.dec = nn.Sequential(nn.Linear(k, 256), nn.ReLU(), nn.Linear(256, 784))
        self.enc = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 2 * k))

    def model(self, x=None, n=None):
        n = self.batch_size(x, n)
        with pyro.plate("data", n):
            z = pyro.sample("z", dist.Normal(torch.zeros(n, self.latent_dim), 1.0).to_event(1))
            obs = None if x is None else x.reshape(n, -1)
            return pyro.sample("x", dist.Bernoulli(logits=self.dec(z)).to_event(1), obs=obs)

    def guide(self, x=None, n=None):
        loc, log_scale = self.enc(x.reshape(len(x), -1)).chunk(2, -1)
        with pyro.plate("data", len(x)):
            pyro.sample("z", dist.Normal(loc, log_scale.exp()).to_event(1))

x = load_dataset("binarized-mnist", "train").x[:2000]   # shipped with the package
vae = TinyVAE()
fit(vae, x, loss=pyro.infer.Trace_ELBO(), epochs=3, out="runs/tiny-vae")  # checkpoints, resume, tqdm
nll = -log_likelihood(vae.model, vae.guide, x[:100], num_particles=100).mean()
print(f"NLL {nll:.1f} nats")
'''


def test_readme_example_trains_and_reports_an_nll(tmp_path):
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        out = io.StringIO()
        scope = {}
        with contextlib.redirect_stdout(out):
            exec(compile(EXAMPLE, "README example", "exec"), scope)
    finally:
        os.chdir(cwd)
    nll = float(scope["nll"])
    # 784 * log 2 = 543.4 nats is a model that learned nothing (uniform pixels); 3 epochs get far below it
    assert nll < 300 and out.getvalue().startswith("NLL ")
    assert os.path.isfile(tmp_path / "runs" / "tiny-vae" / "checkpoint.pt")
    draws = pyro.infer.Predictive(scope["vae"].model, num_samples=2)(n=4)  # the model also generates
    assert draws["x"].shape == (2, 4, 784) and set(draws["x"].unique().tolist()) <= {0.0, 1.0}
