"""AdversarialSVI: optimiser bookkeeping, any implicit Pyro model, fit -> checkpoint -> resume."""
import pyro
import pyro.distributions as dist
import pytest
import torch
from torch import nn

from pyprogen.errors import TrainingDiverged
from pyprogen.infer import AdversarialSVI, adversarial_loss
from pyprogen.infer.penalties import r1_penalty
from pyprogen.io import load_torch
from pyprogen.models import GAN, build
from pyprogen.nn import MLPCritic
from pyprogen.train import fit

@pytest.fixture
def one_thread():
    """Small nets: one intra-op thread is faster and does not spin on a shared machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)



def ring_points(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    angles = torch.randint(8, (n,), generator=g) * (2 * torch.pi / 8)
    return 2 * torch.stack([angles.cos(), angles.sin()], -1) + 0.02 * torch.randn(n, 2, generator=g)


def test_step_updates_critic_steps_times_and_keeps_parameter_sets_apart():
    torch.manual_seed(0)
    gan = build("gan", (2,), latent_dim=4, hidden=(16,))
    svi = AdversarialSVI.for_model(gan, adversarial_loss("wgan-gp"), 1e-3)
    out = svi.step(ring_points(32))
    assert set(out) >= {"gen_loss", "critic_loss", "penalty"} and all(isinstance(v, float) for v in out.values())
    critic_ids = {id(p) for p in gan.critic.parameters()}
    assert {id(p) for p in svi.critic_params} == critic_ids
    assert not critic_ids & {id(p) for p in svi.gen_params}
    assert {id(p) for p in gan.generator.parameters()} <= {id(p) for p in svi.gen_params}
    # Adam counts its updates: 5 critic steps (Gulrajani et al. n_critic) and 1 generator step
    critic_state = svi.critic_optimizer.state[svi.critic_params[0]]
    gen_state = svi.gen_optimizer.state[svi.gen_params[0]]
    assert int(critic_state["step"]) == 5 and int(gen_state["step"]) == 1
    assert svi.critic_optimizer.defaults["betas"] == (0.0, 0.9)


def test_any_implicit_pyro_model_with_pyro_params_is_fitted(one_thread):
    # a hand-written Pyro model: x ~ N(loc, 1) with loc a pyro.param; data N(0, 1) -> loc -> 0
    pyro.clear_param_store()
    torch.manual_seed(0)

    def model(n):
        loc = pyro.param("loc", torch.tensor([3.0]))
        with pyro.plate("data", n):
            return pyro.sample("x", dist.Normal(loc, 1.0).to_event(1))

    critic = MLPCritic((1,), hidden=(16,))
    svi = AdversarialSVI(model, critic, lambda p: torch.optim.Adam(p, lr=0.1),
                         torch.optim.Adam(critic.parameters(), lr=0.01), "gan-dp")
    for _ in range(100):
        svi.step(torch.randn(128, 1))
    assert abs(pyro.param("loc").item()) < 0.25  # from 3.0; 0.03 measured, the rest is adversarial noise
    pyro.clear_param_store()


def test_evaluate_loss_computes_the_penalty_under_no_grad():
    torch.manual_seed(0)
    gan = build("gan", (2,), latent_dim=4, hidden=(16,))
    svi = AdversarialSVI.for_model(gan, "gan-dp", 1e-3)
    x = ring_points(64)
    with torch.no_grad():
        out = svi.evaluate_loss(x)
    assert out["penalty"] == pytest.approx(r1_penalty(gan.critic, x, gamma=10).item(), rel=1e-5)
    assert out["penalty"] > 0


def _fit(gan_seed, out, epochs, resume=False, loss="wgan-gp"):
    torch.manual_seed(gan_seed)
    gan = build("gan", (2,), latent_dim=4, hidden=(16, 16))
    fit(gan, ring_points(256), loss=loss, epochs=epochs, batch_size=64, lr=1e-3, seed=3, out=out, resume=resume,
        progress=False)
    return gan


@pytest.mark.parametrize("loss", ["wgan-gp", "gan-dp"])
def test_fit_checkpoint_resume_equals_an_uninterrupted_run(tmp_path, loss, one_thread):
    straight = _fit(0, str(tmp_path / "a"), 4, loss=loss)
    _fit(0, str(tmp_path / "b"), 2, loss=loss)
    resumed = _fit(0, str(tmp_path / "b"), 4, resume=True, loss=loss)
    for (k, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), k
    ckpt = load_torch(str(tmp_path / "b" / "checkpoint.pt"))
    assert set(ckpt["step"]) == {"generator", "critic"} and ckpt["epoch"] == 4
    assert [e["gen_loss"] for e in ckpt["history"]] == [
        e["gen_loss"] for e in load_torch(str(tmp_path / "a" / "checkpoint.pt"))["history"]]


class NaNGenerator(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(2))

    def forward(self, z):
        return z[..., :2] * self.w * float("nan")


def test_fit_stops_with_training_diverged_on_nan_losses():
    gan = GAN((2,), latent_dim=2, generator=NaNGenerator(), critic=MLPCritic((2,), hidden=(8,)))
    with pytest.raises(TrainingDiverged, match="diverged"):
        fit(gan, ring_points(64), epochs=1, batch_size=32, progress=False)
