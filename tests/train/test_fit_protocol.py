"""fit on the contract's definition of a model (any PyroModule with model/guide), its refusals,
and the one-file extension promise: a new ELBO or GAN loss registered in a test module trains by
name through fit and through the CLI, with no package file edited."""
import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import Trace_ELBO
from pyro.nn import PyroModule, PyroParam

from pyprogen import cli
from pyprogen.errors import PyprogenError
from pyprogen.infer import ADVERSARIAL_LOSSES, ESTIMATORS, register_adversarial_loss, register_estimator
from pyprogen.infer.non_saturating_gan import NonSaturatingLoss
from pyprogen.models import build
from pyprogen.train import fit


class LinearGaussian(PyroModule):
    """z ~ N(0, 1), x | z ~ N(w z + b, 0.5²) per point; guide q(z|x) = N(a x + c, s²), the exact
    posterior's family. A user's model in plain Pyro: no data_shape, no default_loss, no device."""

    def __init__(self):
        super().__init__()
        self.w = PyroParam(torch.tensor(0.1))
        self.b = PyroParam(torch.tensor(0.0))
        self.a = PyroParam(torch.tensor(0.0))
        self.c = PyroParam(torch.tensor(0.0))
        self.log_s = PyroParam(torch.tensor(0.0))

    def model(self, x):
        with pyro.plate("data", len(x)):
            z = pyro.sample("z", dist.Normal(0.0, 1.0))
            pyro.sample("x", dist.Normal((self.w * z + self.b).unsqueeze(-1), 0.5).to_event(1), obs=x)

    def guide(self, x):
        with pyro.plate("data", len(x)):
            pyro.sample("z", dist.Normal(self.a * x[:, 0] + self.c, self.log_s.exp()))


def test_fit_trains_a_plain_pyro_module(tmp_path):
    torch.manual_seed(0)
    x = 2.0 * torch.randn(512, 1) + 3.0
    model = LinearGaussian()
    history = fit(model, x, epochs=100, batch_size=128, lr=0.1, progress=False, out=str(tmp_path))
    assert model.data_shape == (1,)  # taken from the data
    assert history[-1]["loss"] < history[0]["loss"]
    # the marginal is N(b, w² + 0.25), so the MLE is b = mean(x), w² = var(x) − 0.25; the guide family holds
    # the exact posterior, so the ELBO optimum is the MLE with q = p(z|x): a = w/(w² + 0.25), s² = 0.25/(w² + 0.25)
    mean, var = x.mean().item(), x.var().item()
    w2 = model.w.item() ** 2
    assert model.b.item() == pytest.approx(mean, abs=0.15)  # measured 3.095 vs 3.125
    assert w2 == pytest.approx(var - 0.25, rel=0.1)  # measured 3.88 vs 3.88
    assert model.a.item() == pytest.approx(model.w.item() / (w2 + 0.25), abs=0.05)
    assert model.log_s.exp().item() == pytest.approx((0.25 / (w2 + 0.25)) ** 0.5, abs=0.03)
    assert (tmp_path / "checkpoint.pt").is_file()


@pytest.mark.parametrize("model, loss, match", [
    (torch.nn.Linear(2, 2), None, r"model: expected a PyroModule with model\(x\) and guide\(x\) methods, got Linear"),
    ("gan", "elbo", "loss: GAN is an implicit model"),
    ("vae", "gan-dp", "loss: the adversarial loss 'gan-dp' needs a model with a critic"),
])
def test_fit_refuses_before_any_work(tmp_path, model, loss, match):
    if isinstance(model, str):
        model = build(model, (2,), latent_dim=2, likelihood="gaussian") if model == "vae" else build(model, (2,))
    with pytest.raises(PyprogenError, match=match):
        fit(model, torch.randn(64, 2), loss=loss, epochs=1, out=str(tmp_path / "run"), progress=False)
    assert not (tmp_path / "run").exists()  # nothing written


class ScaledELBO(Trace_ELBO):
    """A new ELBO variant defined outside the package: Trace_ELBO times a constant."""

    def loss(self, model, guide, *args, **kwargs):
        return 0.5 * super().loss(model, guide, *args, **kwargs)

    def differentiable_loss(self, model, guide, *args, **kwargs):
        return 0.5 * super().differentiable_loss(model, guide, *args, **kwargs)


@pytest.fixture
def extensions():
    """Register one estimator and one adversarial loss from this test module only."""
    register_estimator("test-half-elbo")(lambda model, **kw: ScaledELBO(**kw))

    @register_adversarial_loss("test-ns-copy")
    class CopyLoss(NonSaturatingLoss):
        """The non-saturating loss under a new name."""

    yield
    for registry, name in ((ESTIMATORS, "test-half-elbo"), (ADVERSARIAL_LOSSES, "test-ns-copy")):
        registry._entries.pop(name)


def test_a_new_elbo_and_gan_loss_train_by_name_through_fit(extensions):
    torch.manual_seed(0)
    vae = build("vae", (4,), latent_dim=2)
    x = (torch.rand(256, 4) > 0.5).float()
    half = fit(vae, x, loss="test-half-elbo", epochs=1, batch_size=64, progress=False)
    torch.manual_seed(0)
    vae = build("vae", (4,), latent_dim=2)
    full = fit(vae, x, loss="elbo", epochs=1, batch_size=64, progress=False)
    # the same seed draws the same z; Adam is invariant to the loss scale up to eps: per-step losses halve
    assert half[0]["loss"] == pytest.approx(0.5 * full[0]["loss"], rel=2e-3)
    torch.manual_seed(0)
    gan = build("gan", (2,), hidden=(8,))
    history = fit(gan, torch.randn(256, 2), loss="test-ns-copy", epochs=1, batch_size=64, progress=False)
    assert set(history[0]) >= {"gen_loss", "critic_loss", "penalty"} and history[0]["penalty"] == 0.0


def test_a_new_elbo_and_gan_loss_train_by_name_through_the_cli(extensions, tmp_path):
    for model, loss in (("vae", "test-half-elbo"), ("gan", "test-ns-copy")):
        out = tmp_path / model
        status = cli.main(["train", model, "--data", "ring8", "--loss", loss, "--epochs", "1", "--batch-size", "256",
                           "--num-particles", "2", "--out", str(out), "--no-progress"])
        assert status == 0 and (out / "checkpoint.pt").is_file()
