"""Numerical safety: NaN/inf losses or gradients stop training before the update, naming epoch and step,
and keep the last good checkpoint; global-norm gradient clipping; exploding GAN critics."""
import math

import pyro
import pytest
import torch

from pyprogen.errors import PyprogenError, TrainingDiverged
from pyprogen.infer.svi import TorchSVI
from pyprogen.models import build
from pyprogen.seeding import set_seed
from pyprogen.train import fit, load
from pyprogen.train.guard import guard_step

torch.manual_seed(0)
DATA = (torch.rand(200, 12) < torch.linspace(0.1, 0.9, 12)).float()
RING = torch.randn(256, 2)
pytestmark = pytest.mark.filterwarnings("ignore:Encountered NaN")


def params(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def vae():
    set_seed(1)
    return build("vae", (12,), latent_dim=2, hidden=(16,))


class Poison(torch.autograd.Function):
    """Identity forward; backward multiplies the incoming gradient by ``value`` (NaN or inf)."""

    @staticmethod
    def forward(ctx, x, value):
        ctx.value = value
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.value, None


def poisoned_elbo(value):
    def loss(model, guide, x):
        return Poison.apply(pyro.infer.Trace_ELBO().differentiable_loss(model, guide, x), value)

    return loss


@pytest.mark.parametrize("value", [math.nan, math.inf], ids=["nan", "inf"])
def test_bad_gradient_with_finite_loss_stops_before_the_update(tmp_path, value):
    m = vae()
    fit(m, DATA, epochs=1, batch_size=50, out=str(tmp_path), progress=False)
    good = params(load(str(tmp_path)))
    with pytest.raises(TrainingDiverged, match=r"epoch 2, step 1: the model gradient is (nan|inf) .*"
                                               rf"last good checkpoint kept in {tmp_path}"):
        fit(m, DATA, loss=poisoned_elbo(value), epochs=2, batch_size=50, out=str(tmp_path), resume=True,
            progress=False)
    kept = params(load(str(tmp_path)))
    assert all(torch.equal(good[k], kept[k]) for k in good)
    # the guard fires before optimizer.step(): the in-memory model is untouched too
    assert all(torch.equal(good[k], v) for k, v in params(m).items())


def nan_elbo(model, guide, x):
    return pyro.infer.Trace_ELBO().differentiable_loss(model, guide, x) * math.nan


def test_nan_loss_names_epoch_and_step_without_out():
    with pytest.raises(TrainingDiverged, match=r"training diverged at epoch 1, step 1: the model gradient is nan \(global norm\)$"):
        fit(vae(), DATA, loss=nan_elbo, epochs=1, batch_size=50, progress=False)


def test_divergence_before_the_first_checkpoint_says_so(tmp_path):
    with pytest.raises(TrainingDiverged, match=r"epoch 1, step 1: .*\(no checkpoint written yet\)$"):
        fit(vae(), DATA, loss=nan_elbo, epochs=1, batch_size=50, out=str(tmp_path), progress=False)
    assert not (tmp_path / "checkpoint.pt").exists()


def test_grad_clip_rescales_to_the_global_norm():
    """w ← w − lr·g·min(1, c/‖g‖) for L = Σ (w − t)², g = 2(w − t) (Pascanu et al. 2013)."""
    target = torch.tensor([3.0, -4.0, 12.0])
    for clip, w0 in [(0.5, torch.zeros(3)), (1e3, torch.zeros(3))]:
        w = torch.nn.Parameter(w0.clone())
        module = torch.nn.Module()
        module.w = w
        svi = TorchSVI(lambda: None, lambda: None, lambda ps: torch.optim.SGD(ps, lr=0.1),
                       lambda model, guide: ((w - target) ** 2).sum(), modules=[module])
        svi.initialise()
        guard_step(svi, grad_clip=clip)
        svi.step()
        g = 2 * (w0 - target)  # ‖g‖ = 2·13 = 26
        expected = w0 - 0.1 * g * min(1.0, clip / 26.0)
        assert torch.allclose(w.detach(), expected, atol=1e-6), (clip, w, expected)


def test_fit_passes_grad_clip_through():
    """Clipped to 1e-12, Adam's first steps are ~1e-4 of the unclipped ones (its ε = 1e-8 dominates)."""
    moved = {}
    for clip in (None, 1e-12):
        m = vae()
        before = params(m)
        fit(m, DATA, epochs=1, batch_size=200, lr=0.01, grad_clip=clip, progress=False)
        moved[clip] = max((v - before[k]).abs().max().item() for k, v in params(m).items())
    assert moved[None] > 0.005  # Adam's first step moves each weight by about lr
    assert moved[1e-12] < 0.01 * 1e-3


@pytest.mark.parametrize("bad", [0, -1.0, math.nan, math.inf, "1"])
def test_bad_grad_clip_is_refused(bad):
    with pytest.raises(PyprogenError, match="grad_clip: expected a positive number"):
        fit(vae(), DATA, epochs=1, grad_clip=bad, progress=False)


class ExplodingCritic(torch.nn.Module):
    """A linear critic whose outputs overflow float32 once ``gain`` is set to 1e39 (→ inf)."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(2, 1)
        self.gain = 1.0

    def forward(self, x):
        return self.lin(x) * self.gain


@pytest.mark.parametrize("loss", ["ns-gan", "wgan-gp"])
def test_exploding_gan_critic_is_caught_with_step_and_checkpoint_kept(tmp_path, loss):
    set_seed(0)
    critic = ExplodingCritic()
    gan = build("gan", (2,), latent_dim=2, hidden=(8,), critic=critic)
    fit(gan, RING, loss=loss, epochs=1, batch_size=64, out=str(tmp_path), progress=False)
    good = params(gan)
    critic.gain = 1e39
    with pytest.raises(TrainingDiverged, match=r"epoch 2, step 1: the critic gradient is (nan|inf)"):
        fit(gan, RING, loss=loss, epochs=2, batch_size=64, out=str(tmp_path), resume=True, progress=False)
    kept = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert kept["epoch"] == 1
    assert kept["config"] is None  # a custom critic module is not stored (weights_only=True could not read it)
    assert all(torch.equal(good[k], kept["model"][k]) for k in good)
    assert all(torch.isfinite(v).all() for v in params(gan).values() if v.is_floating_point())
