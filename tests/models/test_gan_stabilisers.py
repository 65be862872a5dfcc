"""GAN stabilisers as model options: generator EMA, two learning rates, spectral norm, gamma; bad input."""
import math

import pyro
import pyro.poutine as poutine
import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from pyprogen.errors import PyprogenError
from pyprogen.infer import adversarial_loss
from pyprogen.infer.step import make_step
from pyprogen.models import GAN, build
from pyprogen.nn import MLPCritic
from pyprogen.nn.ema import EMA
from pyprogen.train import fit, load
from pyprogen.train.checkpoint import load_checkpoint


def small_gan(**kw):
    torch.manual_seed(0)
    return build("gan", (2,), latent_dim=4, hidden=(8, 8), **kw)


def data(n=64):
    return torch.randn(n, 2, generator=torch.Generator().manual_seed(1))


def test_ema_weights_equal_the_hand_computed_average():
    decay, start, k = 0.9, 2, 7
    gan = small_gan(ema=decay, ema_start=start)
    step = make_step(gan, adversarial_loss("ns-gan"), 1e-2)
    x = data(32)
    step.initialise(x)
    average = {n: p.detach().double().clone() for n, p in gan.generator.named_parameters()}
    for t in range(1, k + 1):
        step.step(x)
        u = t - start
        d = 0.0 if u <= 0 else min(decay, (1 + u) / (10 + u))  # the warm-up of nn/ema.py
        for n, p in gan.generator.named_parameters():
            average[n] = d * average[n] + (1 - d) * p.detach().double()
    assert int(gan.generator_ema.steps) == k
    mine = dict(gan.generator_ema.module.named_buffers())
    moved = False
    for n, p in gan.generator.named_parameters():
        torch.testing.assert_close(mine[n].double(), average[n], atol=1e-6, rtol=0)
        moved |= not torch.allclose(mine[n], p)
    assert moved  # after the start the average lags the raw weights


def test_ema_tracks_exactly_before_start_and_holds_no_parameters():
    gan = small_gan(ema=0.99, ema_start=3)
    step = make_step(gan, adversarial_loss("ns-gan"), 1e-2)
    x = data(16)
    step.initialise(x)
    for _ in range(3):
        step.step(x)
    mine = dict(gan.generator_ema.module.named_buffers())
    for n, p in gan.generator.named_parameters():
        assert torch.equal(mine[n], p)
    # the average is buffers: no optimiser owns it, and the model's parameter count is unchanged
    ema_ids = {id(b) for b in gan.generator_ema.buffers()}
    assert not any(id(p) in ema_ids for spec in step.optimizers() for p in spec.params)
    assert sum(p.numel() for p in gan.parameters()) == sum(gan.num_parameters.values())


def test_eval_mode_samples_from_the_ema_generator():
    gan = small_gan(ema=0.9)
    fit(gan, data(), epochs=3, batch_size=16, lr=1e-2, progress=False)
    assert not gan.training  # fit leaves the model in eval mode
    tr = poutine.trace(gan.model).get_trace(n=10)  # what Predictive and sample() run
    z, x = tr.nodes["z"]["value"], tr.nodes["x"]["value"]
    torch.testing.assert_close(x, gan.generator_ema(z))
    assert not torch.allclose(x, gan.generator(z))
    out = pyro.infer.Predictive(gan.model, num_samples=1, return_sites=("z", "x"))(n=10)  # sample()'s path
    torch.testing.assert_close(out["x"][0], gan.generator_ema(out["z"][0]))
    gan.train()
    tr = poutine.trace(gan.model).get_trace(n=10)
    torch.testing.assert_close(tr.nodes["x"]["value"], gan.generator(tr.nodes["z"]["value"]))
    gan.eval()
    torch.testing.assert_close(gan.generate(z), gan.generator_ema(z))


def test_ema_survives_resume_bit_for_bit(tmp_path):
    kw = dict(epochs=2, batch_size=16, lr=1e-2, seed=3, progress=False)
    a = small_gan(ema=0.95, spectral_norm=True, critic_lr=3e-3)
    fit(a, data(), out=str(tmp_path / "a"), **kw)
    b = small_gan(ema=0.95, spectral_norm=True, critic_lr=3e-3)
    fit(b, data(), out=str(tmp_path / "b"), **{**kw, "epochs": 1})
    b = load(str(tmp_path / "b"))  # a fresh process would rebuild the model from its directory
    fit(b, data(), out=str(tmp_path / "b"), resume=True, **kw)
    sa, sb = a.state_dict(), b.state_dict()
    assert any(k.startswith("generator_ema.") for k in sa) and sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key
    assert int(sa["generator_ema.steps"]) == 2 * 4
    ca, cb = load_checkpoint(str(tmp_path / "a")), load_checkpoint(str(tmp_path / "b"))
    for name in ("generator", "critic"):
        for pa, pb in zip(ca["step"][name]["state"].values(), cb["step"][name]["state"].values()):
            assert all(torch.equal(pa[k], pb[k]) for k in pa)


def test_two_learning_rates_reach_the_two_optimisers(tmp_path):
    gan = small_gan(critic_lr=4e-3)
    step = make_step(gan, adversarial_loss("gan-dp"), 1e-3)
    step.initialise(data(8))
    lrs = {spec.name: spec.optimizer.param_groups[0]["lr"] for spec in step.optimizers()}
    assert lrs == {"generator": 1e-3, "critic": 4e-3}
    fit(gan, data(), epochs=1, batch_size=16, lr=2e-4, out=str(tmp_path), progress=False)
    state = load_checkpoint(str(tmp_path))["step"]
    assert state["generator"]["param_groups"][0]["lr"] == 2e-4 and state["critic"]["param_groups"][0]["lr"] == 4e-3
    plain = make_step(small_gan(), adversarial_loss("gan-dp"), 1e-3)  # without critic_lr both use fit's lr
    plain.initialise(data(8))
    assert [s.optimizer.param_groups[0]["lr"] for s in plain.optimizers()] == [1e-3, 1e-3]


def test_critic_steps_option():
    step = make_step(small_gan(critic_steps=3), adversarial_loss("ns-gan"), 1e-3)
    assert step.critic_steps == 3
    assert make_step(small_gan(), adversarial_loss("wgan-gp"), 1e-3).critic_steps == 5  # the loss's own otherwise


def test_gamma_reaches_the_default_loss_and_losses_named_by_string():
    gan = small_gan(gamma=0.5)
    assert gan.default_loss().gamma == 0.5
    assert gan.loss_kwargs("r2") == {"gamma": 0.5} and gan.loss_kwargs("gan-dp") == {"gamma": 0.5}
    assert gan.loss_kwargs("wgan-gp") == {} and gan.loss_kwargs("hinge") == {}
    assert small_gan().default_loss().gamma == 10 and small_gan().loss_kwargs("r2") == {}


@pytest.mark.parametrize("name", ["gan-dp", "r2"])
def test_a_loss_named_in_fit_takes_the_models_gamma(name):
    from pyprogen.train.losses import resolve_loss

    assert resolve_loss(name, small_gan(gamma=0.5)).gamma == 0.5  # fit(loss=...), --loss, compare's entries
    assert resolve_loss(name, small_gan()).gamma == 10
    assert type(resolve_loss("hinge", small_gan(gamma=0.5))).__name__ == "HingeLoss"


def test_spectral_norm_option_on_built_and_user_critics():
    gan = small_gan(spectral_norm=True)
    assert all(parametrize.is_parametrized(m, "weight") for m in gan.critic.modules() if isinstance(m, nn.Linear))
    assert not any(parametrize.is_parametrized(m, "weight") for m in small_gan().critic.modules()
                   if isinstance(m, nn.Linear))
    conv = build("gan", (1, 28, 28), latent_dim=4, width=4, spectral_norm=True)
    assert sum(parametrize.is_parametrized(m, "weight") for m in conv.critic.modules()) == 3
    user = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))
    GAN((2,), latent_dim=4, critic=user, spectral_norm=True)
    assert parametrize.is_parametrized(user[0], "weight")


class NoWeights(nn.Module):
    def forward(self, x):
        return x.sum(-1, keepdim=True)


@pytest.mark.parametrize("kw,argument", [
    ({"gamma": -1.0}, "gamma"), ({"gamma": math.nan}, "gamma"), ({"gamma": math.inf}, "gamma"),
    ({"critic_lr": -1e-3}, "critic_lr"), ({"critic_lr": 0.0}, "critic_lr"), ({"critic_lr": math.nan}, "critic_lr"),
    ({"critic_lr": math.inf}, "critic_lr"), ({"critic_lr": "fast"}, "critic_lr"),
    ({"ema": 1.0}, "ema"), ({"ema": -0.1}, "ema"), ({"ema": math.nan}, "ema"), ({"ema": 1.5}, "ema"),
    ({"ema": 0.9, "ema_start": -1}, "ema_start"), ({"ema_start": 1.5}, "ema_start"),
    ({"critic_steps": 0}, "critic_steps"), ({"spectral_norm": -2}, "spectral_norm"),
    ({"critic": NoWeights(), "spectral_norm": True}, "critic"),
])
def test_bad_options_are_one_line_errors_naming_the_argument(kw, argument):
    with pytest.raises(PyprogenError, match=f"^{argument}: ") as info:
        GAN((2,), latent_dim=4, **kw)
    assert "\n" not in str(info.value)


def test_ema_module_alone():
    src = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    ema = EMA(src, decay=0.5)
    assert list(ema.parameters()) == [] and ema(torch.zeros(2, 3)).shape == (2, 4)
    with torch.no_grad():
        src[0].weight.add_(1.0)
    src(torch.randn(8, 3))  # moves BatchNorm's running statistics
    ema.update(src)  # t = 1: d = min(0.5, 2/11)
    d = 2 / 11
    buffers = dict(ema.module.named_buffers())
    torch.testing.assert_close(buffers["0.weight"], d * (src[0].weight - 1) + (1 - d) * src[0].weight)
    assert torch.equal(buffers["1.running_mean"], src[1].running_mean)
    with pytest.raises(PyprogenError, match="^ema: expected an EMA decay in"):
        EMA(src, decay=1.0)


def test_standardised_nets_work_in_data_units():
    from pyprogen.models.gan import data_standardisation

    x = torch.randn(4000, 2, generator=torch.Generator().manual_seed(4)) * 3 + torch.tensor([1.0, -2.0])
    kw = data_standardisation(x)
    assert kw["data_loc"] == pytest.approx([1.0, -2.0], abs=0.15) and kw["data_scale"] == pytest.approx(3.0, rel=0.05)
    gan = small_gan(**kw)
    z = torch.randn(7, 4)
    loc, scale = torch.tensor(kw["data_loc"]), kw["data_scale"]
    torch.testing.assert_close(gan.generator(z), loc + scale * gan.generator.net(z))
    torch.testing.assert_close(gan.critic(x[:7]), gan.critic.net((x[:7] - loc) / scale))
    fit(gan, x[:256], epochs=1, batch_size=64, progress=False)  # trains through the wrappers
    with pytest.raises(PyprogenError, match="^data_scale: "):
        small_gan(data_scale=0.0)
    with pytest.raises(PyprogenError, match="^data_loc: expected a finite number or 2 finite numbers"):
        small_gan(data_scale=1.0, data_loc=[1.0, 2.0, 3.0])
    with pytest.raises(PyprogenError, match="^data_loc: needs data_scale"):
        small_gan(data_loc=0.0)
