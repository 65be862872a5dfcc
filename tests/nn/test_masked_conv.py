"""Masked convolutions, residual and gated blocks: masks, causality by autograd, cached positions."""
import pytest
import torch

from pyprogen.errors import PyprogenError
from pyprogen.nn import GatedPixelCNNNet, MaskedConv2d, PixelCNNNet, causal_mask


def order_gradients(net, shape, seed=0):
    """``G[a, b]`` = sum |d out_a / d in_b| over the values of one image, in raster (pixel, channel) order.

    Output value a = (pixel i, channel group c) collects the parameters of that value
    (likelihood layout ``(k, C)``: channels ``c, c + C, ...``)."""
    torch.manual_seed(seed)
    channels, height, width = shape
    x = torch.rand(1, *shape, requires_grad=True)
    out = net(x)
    k = out.shape[1] // channels
    out = out.reshape(1, k, channels, height, width)
    rows = []
    for i in range(height):
        for j in range(width):
            for c in range(channels):
                g, = torch.autograd.grad(out[0, :, c, i, j].sum(), x, retain_graph=True)
                rows.append(g[0].permute(1, 2, 0).reshape(-1).abs())  # (H, W, C) raster order
    return torch.stack(rows)


def test_mask_a_and_b_match_hand_written_3x3():
    a = causal_mask(1, 1, (3, 3), "A")[0, 0]
    b = causal_mask(1, 1, (3, 3), "B")[0, 0]
    assert torch.equal(a, torch.tensor([[1., 1., 1.], [1., 0., 0.], [0., 0., 0.]]))
    assert torch.equal(b, torch.tensor([[1., 1., 1.], [1., 1., 0.], [0., 0., 0.]]))


def test_channel_groups_at_the_centre():
    # 3 data channels, 6 hidden channels: channel k is in group k % 3.
    a = causal_mask(6, 3, (1, 1), "A", data_channels=3)[:, :, 0, 0]
    b = causal_mask(6, 6, (1, 1), "B", data_channels=3)[:, :, 0, 0]
    for o in range(6):
        assert torch.equal(a[o], torch.tensor([float(g < o % 3) for g in range(3)]))
        assert torch.equal(b[o], torch.tensor([float(g % 3 <= o % 3) for g in range(6)]))


@pytest.mark.parametrize("first_kernel,depth", [(3, 0), (7, 3)])
def test_mask_a_then_b_stack_is_causal(first_kernel, depth):
    """Mask A alone (depth 0) and mask A + B residual blocks: d out_i / d x_{>=i} = 0 exactly."""
    net = PixelCNNNet(1, 1, channels=8, depth=depth, first_kernel=first_kernel)
    g = order_gradients(net, (1, 5, 5))
    assert torch.all(torch.triu(g) == 0)
    assert torch.all(g[1:].sum(1) > 0)            # every pixel but the first sees something
    assert g[6, 5] > 0 and g[5, 4] == 0           # (1,1) sees (1,0); (1,0) cannot reach (0,4)


def test_multichannel_mask_orders_channels_within_a_pixel():
    net = PixelCNNNet(3, 2 * 3, channels=12, depth=2)
    g = order_gradients(net, (3, 4, 4))
    assert torch.all(torch.triu(g) == 0)                 # value (pixel i, channel c) sees only earlier values
    assert g[1, 0] > 0 and g[2, 1] > 0 and g[2, 0] > 0  # G sees R, B sees R and G of the same pixel


def test_gated_stack_is_causal_and_has_no_blind_spot():
    gated = order_gradients(GatedPixelCNNNet(1, 1, channels=8, depth=2, first_kernel=5), (1, 5, 5))
    masked = order_gradients(PixelCNNNet(1, 1, channels=8, depth=2, first_kernel=3), (1, 5, 5))
    assert torch.all(torch.triu(gated) == 0) and torch.all(torch.triu(masked) == 0)
    strictly_before = torch.tril(torch.ones(25, 25), diagonal=-1).bool()
    assert torch.all(gated[strictly_before] > 0)        # sees every earlier pixel
    assert int((masked[strictly_before] == 0).sum()) > 0  # the masked stack's blind spot
    # pixel (2, 1) in a 3x3 mask-A/B stack of depth 2 cannot see (0, 4), upper right of its cone
    assert masked[2 * 5 + 1, 0 * 5 + 4] == 0


@pytest.mark.parametrize("net_class", [PixelCNNNet, GatedPixelCNNNet])
def test_cached_positions_equal_the_full_pass(net_class):
    torch.manual_seed(1)
    net = net_class(1, 3, channels=8, depth=2)
    x = (torch.rand(3, 1, 6, 7) < 0.5).float()
    full = net(x)
    cache = net.begin(3, 6, 7, x)
    cache["image"].image().copy_(x)
    got = torch.zeros_like(full)
    for i in range(6):
        for j in range(7):
            got[:, :, i, j] = net.step(cache, i, j)
        net.end_row(cache, i)
    assert torch.allclose(got, full, atol=1e-5), (got - full).abs().max()


def test_masked_conv_forward_at_matches_conv():
    torch.manual_seed(2)
    conv = MaskedConv2d(2, 4, 5, "B")
    net_in = torch.randn(1, 2, 6, 6)
    full = conv(net_in)
    from pyprogen.nn import Canvas
    canvas = Canvas(1, 2, 6, 6, 2, net_in)
    canvas.image().copy_(net_in)
    assert torch.allclose(conv.forward_at(canvas, 3, 5), full[:, :, 3, 5], atol=1e-6)


def test_bad_arguments_raise():
    with pytest.raises(PyprogenError, match="mask_type"):
        causal_mask(1, 1, (3, 3), "C")
    with pytest.raises(PyprogenError, match="kernel_size"):
        MaskedConv2d(1, 1, 4)
    with pytest.raises(PyprogenError, match="data_shape"):
        GatedPixelCNNNet(3, 3)
