"""StackedGAN: a plate over runs as a Pyro program; every run's draws come from its own generator."""
import functools

import pyro.poutine as poutine
import pytest
import torch
from pyro.infer import Predictive
from torch import nn

from pyprogen.errors import PyprogenError
from pyprogen.models.stacked_gan import RunGenerators, RunNormal, StackedGAN
from pyprogen.nn import mlp

ACT = functools.partial(nn.LeakyReLU, 0.2)


def make(seeds):
    return StackedGAN.from_seeds(seeds, latent_dim=3, hidden=[8], activation=ACT)


def test_trace_has_z_and_x_in_plates_runs_and_data():
    gan = make([0, 1, 2])
    tr = poutine.trace(gan.model).get_trace(n=5)
    z, x = tr.nodes["z"], tr.nodes["x"]
    assert z["value"].shape == (3, 5, 3) and x["value"].shape == (3, 5, 1)
    assert {(f.name, f.dim) for f in z["cond_indep_stack"]} == {("runs", -2), ("data", -1)}
    tr.compute_log_prob()
    expected = torch.distributions.Normal(0.0, 1.0).log_prob(z["value"]).sum(-1)
    torch.testing.assert_close(z["log_prob"], expected)
    assert Predictive(gan.model, num_samples=1, return_sites=("x",))(n=4)["x"].shape == (1, 3, 4, 1)


def test_each_run_draws_and_initialises_as_alone():
    stacked, alone = make([4, 7]), make([7])
    torch.testing.assert_close(stacked.generator.layers[0].weight[1], alone.generator.layers[0].weight[0])
    torch.manual_seed(7)  # network pair s starts as torch.manual_seed(seed); G = mlp(...); D = mlp(...)
    g, d = mlp([3, 8, 1], ACT), mlp([1, 8, 1], ACT)
    torch.testing.assert_close(alone.critic.layers[0].weight[0], d[0].weight.t())
    x_stacked, x_alone = stacked.model(n=6), alone.model(n=6)
    torch.testing.assert_close(x_stacked[1], x_alone[0])
    z = torch.randn(6, 3, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(x_alone[0], g(z), atol=1e-6, rtol=1e-6)


def test_run_generators_fork_select_and_uniform():
    rngs = RunGenerators([0, 1, 2])
    with rngs.fork():
        first = rngs.randn(4)
    torch.testing.assert_close(rngs.randn(4), first)  # the fork left every stream where it was
    g = torch.Generator().manual_seed(2)
    torch.randn(4, generator=g)  # run 2 has made one draw of 4 so far
    sub = rngs.select([2])
    expected = torch.randn(4, generator=g)
    torch.testing.assert_close(sub.randn(4)[0], expected)  # run 2's stream continues in the sub-stack ...
    torch.testing.assert_close(rngs.randn(4)[2], expected)  # ... from a copy: the original is not advanced
    u = rngs.uniform(torch.Size((3, 5, 1)), torch.float64)
    assert u.shape == (3, 5, 1) and u.dtype == torch.float64 and 0 <= u.min() and u.max() <= 1
    with pytest.raises(PyprogenError, match="runs"):
        rngs.uniform(torch.Size((2, 5, 1)))
    with pytest.raises(PyprogenError, match="expand"):
        RunNormal(rngs, 5, 2).expand((4, 5))
