import pytest
import torch

from pyprogen.errors import PyprogenError
from pyprogen.nn import ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder


@pytest.mark.parametrize("shape", [(1, 28, 28), (1, 64, 64), (3, 32, 32)])
def test_conv_encoder_decoder_shapes_and_positive_scale(shape):
    enc, dec = ConvEncoder(shape, 6, width=8), ConvDecoder(6, shape, out_channels=2 * shape[0], width=8)
    loc, scale = enc(torch.rand(4, *shape))
    assert loc.shape == (4, 6) and bool((scale > 0).all())
    assert dec(loc).shape == (4, 2 * shape[0], *shape[1:])
    assert dec(torch.randn(3, 4, 6)).shape == (3, 4, 2 * shape[0], *shape[1:])  # particle dims pass through


def test_conv_width_sets_channels():
    enc = ConvEncoder((1, 28, 28), 4, width=16)
    assert enc.features.net[0].out_channels == 16 and enc.features.out_features == 32 * 7 * 7


def test_mlp_widths_and_parameter_count():
    enc, dec = MLPEncoder((784,), 50, hidden=(200, 200)), MLPDecoder(50, 784, hidden=(200, 200))
    # Burda et al. 2016 one-layer architecture: 784-200-200-(50+50) and 50-200-200-784
    assert sum(p.numel() for p in enc.parameters()) == 784 * 200 + 200 + 200 * 200 + 200 + 2 * (200 * 50 + 50)
    assert sum(p.numel() for p in dec.parameters()) == 50 * 200 + 200 + 200 * 200 + 200 + 200 * 784 + 784


def test_unsupported_image_size_is_a_clear_error():
    with pytest.raises(PyprogenError, match="conv nets expect"):
        ConvEncoder((1, 30, 30), 4)
