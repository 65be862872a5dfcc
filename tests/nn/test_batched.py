"""BatchedMLP: S stacked networks equal S separate nn.Sequential MLPs (outputs and gradients)."""
import functools

import torch
from torch import nn

from pyprogen.nn import BatchedMLP, mlp

SIZES = [4, 16, 16, 1]
ACT = functools.partial(nn.LeakyReLU, 0.2)


def separate(seeds):
    nets = []
    for s in seeds:
        torch.manual_seed(s)
        nets.append(mlp(SIZES, ACT))
    return nets


def test_from_seeds_matches_separately_seeded_networks():
    seeds = [0, 3, 7]
    stack = BatchedMLP.from_seeds(SIZES, seeds, activation=ACT)
    x = torch.randn(3, 50, 4)
    y = stack(x)
    assert y.shape == (3, 50, 1)
    for i, net in enumerate(separate(seeds)):
        # baddbmm vs addmm: equal up to float32 rounding
        assert torch.allclose(y[i], net(x[i]), atol=1e-6)
        assert torch.allclose(stack.network(i)(x[i]), net(x[i]), atol=1e-6)


def test_summed_loss_gives_each_network_its_own_gradient():
    seeds = [1, 2]
    nets = separate(seeds)
    stack = BatchedMLP.from_modules(nets)
    x = torch.randn(2, 30, 4)
    (stack(x) ** 2).mean(1).sum().backward()
    for i, net in enumerate(nets):
        (net(x[i]) ** 2).mean().backward()
        assert torch.allclose(stack.layers[0].weight.grad[i], net[0].weight.grad.t(), atol=1e-6)
        assert torch.allclose(stack.layers[-1].bias.grad[i, 0], net[-1].bias.grad, atol=1e-6)


def test_slice_and_select_evaluate_a_subset():
    stack = BatchedMLP.from_seeds(SIZES, [0, 1, 2, 3], activation=ACT)
    x = torch.randn(4, 10, 4)
    full = stack(x)
    assert torch.equal(stack(x[1:3], slice(1, 3)), full[1:3])
    sub = stack.select([3, 0])
    assert torch.equal(sub(x[[3, 0]]), full[[3, 0]])
    with torch.no_grad():
        sub.layers[0].weight.zero_()  # a copy: the original is untouched
    assert torch.equal(stack(x), full)
