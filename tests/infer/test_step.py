"""The step protocol (infer/step.py): every step type returns per-data-point means as a dict,
names its optimisers, and round-trips its state; make_step picks by what the model declares."""
import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro.infer import Trace_ELBO

from pyprogen.errors import PyprogenError
from pyprogen.infer import (STEPS, AdversarialSVI, NonSaturatingLoss, OptimizerSpec, TorchSVI, WAEGANSVI,
                            make_step, site_distribution)
from pyprogen.models import build


def test_registry_holds_the_three_step_types_keyed_by_critic_site():
    assert {"svi", "adversarial", "latent-adversarial"} <= set(STEPS)
    assert [STEPS[n].critic_site for n in ("svi", "adversarial", "latent-adversarial")] == [None, "x", "z"]


def test_svi_step_returns_the_elbo_per_data_point():
    torch.manual_seed(0)
    model = build("vae", (4,), latent_dim=2)
    x = (torch.rand(10, 4) > 0.5).float()
    step = make_step(model, Trace_ELBO(), 1e-3)
    assert isinstance(step, TorchSVI)
    step.initialise(x)
    pyro.set_rng_seed(3)
    out = step.evaluate_loss(x)
    pyro.set_rng_seed(3)
    by_hand = Trace_ELBO().loss(model.model, model.guide, x) / len(x)  # a sum over the plate, per point
    assert set(out) == {"loss"} and out["loss"] == pytest.approx(by_hand, rel=1e-6)
    [spec] = step.optimizers()
    assert isinstance(spec, OptimizerSpec) and spec.name == "model" and spec.reduce == "sum"
    assert {id(p) for p in spec.params} == {id(p) for p in model.parameters()}
    out = step.step(x)
    assert set(out) == {"loss"}


def test_adversarial_step_reports_batch_means_equal_to_a_hand_computation():
    torch.manual_seed(0)
    gan = build("gan", (2,), latent_dim=3, hidden=(8,))
    step = make_step(gan, NonSaturatingLoss(), 1e-3)
    assert isinstance(step, AdversarialSVI)
    x = torch.randn(16, 2)
    step.initialise(x)
    pyro.set_rng_seed(7)
    out = step.evaluate_loss(x)
    pyro.set_rng_seed(7)  # the same draws by hand: the generator loss first, then the critic's fakes
    softplus = torch.nn.functional.softplus
    d_fake = gan.critic(gan.generator(torch.randn(16, 3))).squeeze(-1)
    gen = softplus(-d_fake).mean()
    d_fake2 = gan.critic(gan.generator(torch.randn(16, 3))).squeeze(-1)
    critic = softplus(-gan.critic(x).squeeze(-1)).mean() + softplus(d_fake2).mean()
    assert set(out) == {"gen_loss", "critic_loss", "penalty"}
    assert out["gen_loss"] == pytest.approx(gen.item(), rel=1e-5)
    assert out["critic_loss"] == pytest.approx(critic.item(), rel=1e-5)
    names = [(s.name, s.reduce) for s in step.optimizers()]
    assert names == [("generator", "mean"), ("critic", "mean")]
    gen_ids = {id(p) for p in step.optimizers()[0].params}
    assert gen_ids == {id(p) for p in gan.generator.parameters()}


def test_state_dict_round_trip_restores_every_optimiser():
    torch.manual_seed(0)
    gan = build("gan", (2,), latent_dim=3, hidden=(8,))
    step = make_step(gan, NonSaturatingLoss(), 1e-3)
    x = torch.randn(16, 2)
    step.step(x)
    state = step.state_dict()
    assert set(state) == {"generator", "critic"}
    other = make_step(gan, NonSaturatingLoss(), 1e-3)
    other.initialise(x)
    other.load_state_dict(state)
    for a, b in zip(step.optimizers(), other.optimizers()):
        sa, sb = a.optimizer.state_dict()["state"], b.optimizer.state_dict()["state"]
        assert all(torch.equal(sa[k]["exp_avg"], sb[k]["exp_avg"]) for k in sa)
    with pytest.raises(PyprogenError, match="no state for the generator optimiser"):
        other.load_state_dict({"critic": state["critic"]})


def test_wae_gan_is_picked_from_the_models_critic_site():
    model = build("wae-gan", (2,), latent_dim=2, likelihood="gaussian", hidden=(8,), critic_hidden=(8,))
    assert isinstance(make_step(model, model.default_loss(), 1e-3), WAEGANSVI)


def test_site_distribution_stops_the_program_at_the_site():
    calls = []

    def program(n):
        with pyro.plate("data", n):
            z = pyro.sample("z", dist.Normal(torch.full((n,), 2.0), 3.0))
            calls.append("after z")
            return z

    fn = site_distribution(program, "z", n=5)
    assert calls == [] and fn.mean.tolist() == [2.0] * 5 and fn.stddev.tolist() == [3.0] * 5
    with pytest.raises(PyprogenError, match="no sample site 'w'"):
        site_distribution(program, "w", n=5)


@pytest.mark.parametrize("model_name, loss, match", [
    ("gan", Trace_ELBO(), "GAN is an implicit model"),
    ("vae", NonSaturatingLoss(), "needs a model with a critic"),
])
def test_mismatched_losses_are_refused_in_one_line(model_name, loss, match):
    model = build(model_name, (2,), latent_dim=2)
    with pytest.raises(PyprogenError, match=match) as info:
        make_step(model, loss, 1e-3)
    assert "\n" not in str(info.value)
