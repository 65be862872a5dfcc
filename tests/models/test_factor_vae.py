"""FactorVAE (Kim & Mnih 2018): permute_dims, the TC estimate and the discriminator loss against hand
computations, the step's terms, the step protocol (picked by critic_site, exact resume), the CLI end to end."""
import json
import os

import numpy as np
import pyro
import pyro.poutine as poutine
import pytest
import torch
from torch.nn import functional as F

from pyprogen.cli import main
from pyprogen.errors import PyprogenError
from pyprogen.infer import FactorTCLoss, FactorVAESVI, NonSaturatingLoss, make_step, permute_dims
from pyprogen.io import load_torch
from pyprogen.models import FactorVAE, build
from pyprogen.seeding import set_seed
from pyprogen.train import fit, load

torch.manual_seed(0)
DATA = (torch.rand(300, 12) < torch.linspace(0.1, 0.9, 12)).float()


def small(seed=1, **kw):
    set_seed(seed)
    return build("factor-vae", (12,), latent_dim=3, hidden=(16,), critic_hidden=(16, 16), **kw)


class FixedCritic(torch.nn.Module):
    """A fixed discriminator with a known logit: a·z + b·z₀z₁ + c (nothing to train by accident)."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor([0.7, -1.3, 0.4]))
        self.b = torch.nn.Parameter(torch.tensor(0.9))

    def forward(self, z):
        return (z @ self.w + self.b * z[:, 0] * z[:, 1] - 0.2).unsqueeze(-1)


def test_permute_dims_permutes_each_dimension_independently():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(500, 4, generator=g)
    z[:, 1] = z[:, 0]  # perfectly dependent dimensions
    p = permute_dims(z, generator=torch.Generator().manual_seed(1))
    assert p.shape == z.shape
    for j in range(4):  # each column a permutation of the original column: the marginals are kept exactly
        assert torch.equal(p[:, j].sort().values, z[:, j].sort().values)
    # each column has its own permutation: the dependence is gone (|corr| of 500 independent pairs < 4/√500)
    assert abs(np.corrcoef(p[:, 0], p[:, 1])[0, 1]) < 4 / 500 ** 0.5
    assert not torch.equal(p[:, 0], z[:, 0]) and not torch.equal(p[:, 0], p[:, 1])
    rows = [(z[:, j].unsqueeze(1) == p[:, j].unsqueeze(0)).float().argmax(0) for j in (2, 3)]
    assert not torch.equal(rows[0], rows[1])  # different permutations in different columns
    with pytest.raises(PyprogenError, match="batch, dims"):
        permute_dims(torch.zeros(3))


def test_tc_estimate_and_discriminator_loss_equal_a_hand_computation():
    model = small(gamma=2.5)
    model.critic = FixedCritic()
    step = make_step(model, model.default_loss(), 1e-3)
    assert isinstance(step, FactorVAESVI)
    step.initialise(DATA)
    x = DATA[:64]
    pyro.set_rng_seed(5)
    out = step.evaluate_loss(x)
    # the same draws by an independent route: generator_objective draws z first, critic_inputs z' then the permutation
    pyro.set_rng_seed(5)
    z = poutine.trace(model.guide).get_trace(x).nodes["z"]["value"]
    z2 = poutine.trace(model.guide).get_trace(x).nodes["z"]["value"]
    keys = torch.rand(z2.shape)
    perm = torch.stack([z2[keys[:, j].argsort(), j] for j in range(z2.shape[1])], 1)
    d = torch.sigmoid(model.critic(z).squeeze(-1))
    tc = torch.log(d / (1 - d)).mean()
    assert out["tc"] == pytest.approx(tc.item(), rel=1e-5)
    d_real, d_fake = torch.sigmoid(model.critic(z2).squeeze(-1)), torch.sigmoid(model.critic(perm).squeeze(-1))
    bce = F.binary_cross_entropy(d_real, torch.ones(64)) + F.binary_cross_entropy(d_fake, torch.zeros(64))
    assert out["critic_loss"] == pytest.approx(bce.item(), rel=1e-5)
    # the VAE's objective: −ELBO (analytic KL of the diagonal guide from N(0, I)) + γ·TC, per data point
    loc, scale = model.encoder(x)
    kl = (0.5 * (loc ** 2 + scale ** 2 - 1) - scale.log()).sum(-1)
    recon = -torch.distributions.Bernoulli(logits=model.decoder(z)).log_prob(x).sum(-1)
    assert out["neg_elbo"] == pytest.approx((recon + kl).mean().item(), rel=1e-5)
    assert out["loss"] == pytest.approx(out["neg_elbo"] + 2.5 * out["tc"], rel=1e-6)


class CorrelatedLinearEncoder(torch.nn.Module):
    """q(z|x) = N(Wx, σ²I) starting at W = [[1, 0], [1, 0.3]]: codes with correlation 0.96 on independent data."""

    def __init__(self):
        super().__init__()
        self.loc = torch.nn.Linear(2, 2)
        self.raw_scale = torch.nn.Parameter(torch.full((2,), -2.0))
        with torch.no_grad():
            self.loc.weight.copy_(torch.tensor([[1.0, 0.0], [1.0, 0.3]]))
            self.loc.bias.zero_()

    def forward(self, x):
        return self.loc(x), F.softplus(self.raw_scale).expand(len(x), 2) + 1e-4


def code_correlation(gamma, seed, steps=300):
    set_seed(seed)
    model = FactorVAE((2,), latent_dim=2, likelihood="gaussian", hidden=(32,), encoder=CorrelatedLinearEncoder(),
                      critic_hidden=(64, 64), gamma=gamma, critic_lr=1e-3)
    x = torch.randn(4000, 2, generator=torch.Generator().manual_seed(0))
    step = make_step(model, model.default_loss(), 3e-3)
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        step.step(x[torch.randint(len(x), (256,), generator=g)])
    return float(np.corrcoef(model.encode(x).numpy().T)[0, 1])


@pytest.mark.parametrize("seed", [1, 2])
def test_the_tc_penalty_decorrelates_the_codes(seed):
    # Kim & Mnih 2018: γ·TC pushes q(z) towards the product of its marginals. From codes correlated at 0.96, 300
    # steps leave a correlation of 0.47-0.59 without the penalty and 0.015-0.04 with γ = 20 (seeds 1-3, measured).
    assert code_correlation(0.0, seed) > 0.35
    assert abs(code_correlation(20.0, seed)) < 0.15


def test_the_step_trains_both_nets_with_their_own_optimisers():
    model = small()
    step = make_step(model, model.default_loss(), 1e-3)
    step.initialise(DATA)
    specs = {s.name: s for s in step.optimizers()}
    assert set(specs) == {"vae", "critic"}
    critic_ids = {id(p) for p in model.critic.parameters()}
    assert {id(p) for p in specs["critic"].params} == critic_ids
    assert critic_ids.isdisjoint(id(p) for p in specs["vae"].params)
    assert {id(p) for p in specs["vae"].params} | critic_ids == {id(p) for p in model.parameters()}
    assert specs["critic"].optimizer.param_groups[0]["lr"] == 1e-4  # the paper's discriminator lr
    assert specs["critic"].optimizer.param_groups[0]["betas"] == (0.5, 0.9)
    before = [p.detach().clone() for p in model.parameters()]
    out = step.step(DATA[:64])
    assert set(out) == {"loss", "neg_elbo", "tc", "critic_loss", "penalty"}
    assert all(not torch.equal(a, b) for a, b in zip(before, model.parameters()))  # every tensor moved


def test_wrong_losses_and_weights_are_refused_in_one_line():
    model = small()
    with pytest.raises(PyprogenError, match="own cross-entropy"):
        make_step(model, NonSaturatingLoss(), 1e-3)
    for bad in ({"gamma": -1.0}, {"gamma": float("nan")}, {"critic_lr": 0.0}):
        with pytest.raises(PyprogenError, match="gamma|critic_lr"):
            small(**bad)
    assert isinstance(model.default_loss(), FactorTCLoss) and isinstance(model, FactorVAE)


def test_flow_guide_and_mixture_prior_use_the_monte_carlo_kl():
    model = small(guide="planar", prior="mog", prior_components=3)
    history = fit(model, DATA, epochs=1, batch_size=100, progress=False)
    assert np.isfinite(history[-1]["neg_elbo"]) and np.isfinite(history[-1]["tc"])


def params(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_interrupted_run_resumed_equals_uninterrupted(tmp_path):
    full = small()
    h_full = fit(full, DATA, epochs=3, batch_size=50, seed=4, out=str(tmp_path / "a"), progress=False)
    part = small()
    fit(part, DATA, epochs=1, batch_size=50, seed=4, out=str(tmp_path / "b"), progress=False)
    ckpt = load_torch(str(tmp_path / "b" / "checkpoint.pt"))
    assert set(ckpt["step"]) == {"vae", "critic"} and ckpt["step"]["critic"]["state"]  # Adam moments saved
    assert any(k.startswith("critic.") for k in ckpt["model"])
    resumed = small(seed=123)  # a different init: everything must come from the checkpoint
    h_res = fit(resumed, DATA, epochs=3, batch_size=50, seed=4, out=str(tmp_path / "b"), resume=True, progress=False)
    for k, v in params(full).items():
        assert torch.equal(v, params(resumed)[k]), k
    assert [(e["loss"], e["critic_loss"]) for e in h_full] == [(e["loss"], e["critic_loss"]) for e in h_res]


def test_cli_train_evaluate_sample_end_to_end(tmp_path, capsys):
    rng = np.random.RandomState(0)
    probs = np.linspace(0.05, 0.95, 16)
    data = tmp_path / "bits.npz"
    np.savez(data, train=(rng.rand(200, 16) < probs).astype(np.uint8), test=(rng.rand(50, 16) < probs).astype(np.uint8))
    out = str(tmp_path / "run")
    assert main(["train", "factor-vae", "--data", str(data), "--epochs", "1", "--latent-dim", "2", "--batch-size", "50",
                 "--out", out, "--num-particles", "20", "--no-progress"]) == 0
    final = json.load(open(os.path.join(out, "metrics.json")))
    assert {"neg_elbo", "tc", "critic_loss"} <= set(final[0]) and np.isfinite(final[-1]["nll_nats"])
    capsys.readouterr()
    assert main(["evaluate", out, "--json", "--num-particles", "20"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["elbo_nats"] <= -result["nll_nats"] + 0.5 and result["nll_nats"] < 16 * np.log(2) + 1
    assert main(["sample", out, "-n", "4", "--out", str(tmp_path / "s.npy")]) == 0
    assert np.load(tmp_path / "s.npy").shape == (4, 16)
    assert main(["train", "factor-vae", "--data", str(data), "--loss", "ns-gan", "--epochs", "1",
                 "--out", str(tmp_path / "bad"), "--no-progress"]) == 2
    assert "own cross-entropy" in capsys.readouterr().err


def test_cli_gamma_and_critic_lr_reach_the_factor_vae(tmp_path, capsys):
    rng = np.random.RandomState(1)
    data = tmp_path / "bits.npy"
    np.save(data, (rng.rand(100, 8) < 0.3).astype(np.float32))
    out = str(tmp_path / "run")
    assert main(["train", "factor-vae", "--data", str(data), "--gamma", "20", "--critic-lr", "0.002", "--epochs", "1",
                 "--latent-dim", "2", "--out", out, "--num-particles", "2", "--no-progress"]) == 0
    model = load(out)
    assert (model.gamma, model.critic_lr) == (20.0, 0.002)
    config = open(os.path.join(out, "config.toml")).read()
    assert "gamma = 20.0" in config and "critic-lr = 0.002" in config
    assert main(["train", "factor-vae", "--data", str(data), "--ema", "0.9", "--epochs", "1",
                 "--out", str(tmp_path / "ema"), "--no-progress"]) == 2
    assert "ema: model 'factor-vae' has no ema option" in capsys.readouterr().err
