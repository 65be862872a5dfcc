"""GenerativeModel.sample defaults to pyro.infer.Predictive on site "x": a subclass that defines
only model/guide gets sample(), `pyprogen sample` and the sample metrics."""
import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch
from torch import nn

from pyprogen import cli
from pyprogen.errors import PyprogenError
from pyprogen.models import MODELS, GenerativeModel, register_model


class LinearGaussian(GenerativeModel):
    """z ~ N(0, 1), x | z ~ N(w z + b, σ²): x ~ N(b, w² + σ²) in closed form. Only model and guide."""

    def __init__(self, data_shape=(1,), latent_dim=1, w=2.0, b=1.0, sigma=0.5):
        super().__init__(data_shape, latent_dim)
        self.w, self.b, self.sigma = w, b, sigma
        self.enc = nn.Linear(1, 2)

    def model(self, x=None, n=None):
        n = self.batch_size(x, n)
        with pyro.plate("data", n):
            z = pyro.sample("z", dist.Normal(torch.zeros(n, 1), 1.0).to_event(1))
            return pyro.sample("x", dist.Normal(self.w * z + self.b, self.sigma).to_event(1), obs=x)

    def guide(self, x=None, n=None):
        n = self.batch_size(x, n)
        with pyro.plate("data", n):
            if x is None:
                return pyro.sample("z", dist.Normal(torch.zeros(n, 1), 1.0).to_event(1))
            loc, log_scale = self.enc(x).chunk(2, -1)
            return pyro.sample("z", dist.Normal(loc, log_scale.exp()).to_event(1))


def test_predictive_sampling_matches_the_closed_form():
    pyro.set_rng_seed(0)
    model = LinearGaussian()
    n = 20_000
    x = model.sample(n)
    assert x.shape == (n, 1)
    sd = (2.0 ** 2 + 0.5 ** 2) ** 0.5
    se_mean = sd / n ** 0.5  # standard error of the sample mean
    assert abs(x.mean().item() - 1.0) < 3 * se_mean
    se_sd = sd / (2 * (n - 1)) ** 0.5  # standard error of the sample standard deviation (normal data)
    assert abs(x.std().item() - sd) < 3 * se_sd
    means = model.sample(5, mean=True)  # E[x | z] = w z + b for each draw of z
    assert means.shape == (5, 1)


@pytest.mark.parametrize("n", [0, -1, 2.5, True])
def test_sample_refuses_a_bad_count(n):
    with pytest.raises(PyprogenError, match="n: expected a positive integer"):
        LinearGaussian().sample(n)


@pytest.fixture
def registered():
    register_model("test-linear-gaussian")(lambda data_shape, **kw: LinearGaussian(data_shape, **kw))
    yield
    MODELS._entries.pop("test-linear-gaussian")


def test_cli_trains_and_samples_a_model_that_defines_only_model_and_guide(registered, tmp_path):
    run = tmp_path / "run"
    assert cli.main(["train", "test-linear-gaussian", "--data", "Normal(1, 2)", "--loss", "elbo", "--epochs", "1",
                     "--num-particles", "2", "--out", str(run), "--no-progress"]) == 0
    assert cli.main(["sample", str(run), "-n", "4000", "--out", str(tmp_path / "x.npy")]) == 0
    x = np.load(tmp_path / "x.npy")
    assert x.shape == (4000, 1)
    assert abs(x.mean() - 1.0) < 3 * (4.25 / 4000) ** 0.5  # w, b, σ are fixed numbers: x ~ N(1, 4.25)
