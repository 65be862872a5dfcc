"""The DCGAN nets' dense hidden layer (InfoGAN's MNIST architecture) and per-net widths."""
import pytest
import torch

from pyprogen.errors import PyprogenError
from pyprogen.models import build
from pyprogen.nn import DCGANCritic, DCGANGenerator


def count(module):
    return sum(p.numel() for p in module.parameters())


def test_dense_layers_have_the_hand_counted_parameters_and_shapes():
    # generator 28x28, width 8: z(16) -> FC 32 (+BN) -> FC 16*7*7 (+BN) -> convT 16->8 (no bias, BN) -> convT 8->1
    g = DCGANGenerator(16, (1, 28, 28), width=8, dense=32)
    start = 16 * 7 * 7
    expected = (16 * 32 + 32 + 2 * 32) + (32 * start + start + 2 * start) + (16 * 8 * 16 + 2 * 8) + (8 * 1 * 16 + 1)
    assert count(g) == expected
    assert g(torch.randn(5, 16)).shape == (5, 1, 28, 28)
    # critic: conv 1->8, conv 8->16 (4x4, bias), FC 16*7*7 -> 24, FC 24 -> 1
    d = DCGANCritic((1, 28, 28), width=8, dense=24)
    assert count(d) == (16 * 8 + 8) + (8 * 16 * 16 + 16) + (16 * 49 * 24 + 24) + (24 + 1)
    assert d(torch.rand(3, 1, 28, 28)).shape == (3, 1)


def test_no_dense_layer_keeps_the_state_dict_layout_of_older_checkpoints():
    assert list(DCGANGenerator(16, (1, 28, 28), width=8).state_dict())[:6] == [
        "project.0.weight", "project.0.bias", "project.1.weight", "project.1.bias", "project.1.running_mean",
        "project.1.running_var"]
    assert [k for k in DCGANCritic((1, 28, 28), width=8).state_dict()] == [
        "net.0.weight", "net.0.bias", "net.2.weight", "net.2.bias", "net.5.weight", "net.5.bias"]


def test_gan_takes_one_width_and_dense_for_both_nets_or_a_pair():
    both = build("gan", (1, 28, 28), latent_dim=16, width=8, dense=24)
    pair = build("gan", (1, 28, 28), latent_dim=16, width=(8, 4), dense=(32, 0))
    assert count(both.generator) == count(DCGANGenerator(16, (1, 28, 28), width=8, dense=24))
    assert count(both.critic) == count(DCGANCritic((1, 28, 28), width=8, dense=24))
    assert count(pair.generator) == count(DCGANGenerator(16, (1, 28, 28), width=8, dense=32))
    assert count(pair.critic) == count(DCGANCritic((1, 28, 28), width=4))
    assert build("gan", (1, 28, 28), latent_dim=16, width=[8, 4], dense=[32, 0]).num_parameters == pair.num_parameters


@pytest.mark.parametrize("argument,bad", [("dense", -1), ("dense", (1, 2, 3)), ("dense", 1.5), ("width", 0),
                                          ("width", (8, True))])
def test_bad_width_or_dense_is_one_line(argument, bad):
    with pytest.raises(PyprogenError, match=rf"^{argument}: expected an integer >= [01] or a \(generator, critic\) "
                                            r"pair of them, got .*$"):
        build("gan", (1, 28, 28), **{argument: bad})
