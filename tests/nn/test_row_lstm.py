"""Row LSTM: the cell equations by hand, causality by autograd, the per-pixel (cached) form."""
import torch
from torch.nn import functional as F

from pyprogen.nn import RowLSTM, RowLSTMNet


def raster_gradients(net, height, width, seed=0):
    """``G[a, b]`` = |d out at pixel a / d input pixel b| for one single-channel image, raster order."""
    torch.manual_seed(seed)
    x = torch.rand(1, 1, height, width, requires_grad=True)
    out = net(x)
    rows = []
    for a in range(height * width):
        g, = torch.autograd.grad(out[0, :, a // width, a % width].sum(), x, retain_graph=True)
        rows.append(g.reshape(-1).abs())
    return torch.stack(rows)


def test_one_row_follows_the_lstm_equations():
    """With one row the state-to-state input is K^ss * 0 = bias: c = σ(i)·tanh(g), h = σ(o)·tanh(c)."""
    torch.manual_seed(0)
    layer = RowLSTM(channels=3, hidden=2, kernel_size=3)
    x = torch.randn(2, 3, 1, 5)
    gates = layer.input_to_state(x)[:, :, 0] + layer.state_to_state.bias[None, :, None]
    o, f, i, g = gates.chunk(4, dim=1)
    c = torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c)
    expected = x + F.conv2d(h[:, :, None], layer.out.masked_weight(), layer.out.bias)
    assert torch.allclose(layer(x), expected, atol=1e-6)


def test_second_row_uses_the_previous_state():
    torch.manual_seed(1)
    layer = RowLSTM(channels=2, hidden=2, kernel_size=3)
    x = torch.randn(1, 2, 2, 4)
    xg = layer.input_to_state(x)
    h0, c0 = layer.cell(xg[:, :, 0] + layer.state_to_state(torch.zeros(1, 2, 4)), torch.zeros(1, 2, 4))
    h1, _ = layer.cell(xg[:, :, 1] + layer.state_to_state(h0), c0)
    expected = x + layer.out(torch.stack([h0, h1], dim=2))
    assert torch.allclose(layer(x), expected, atol=1e-6)


def test_pixelrnn_is_causal_with_a_triangular_field():
    g = raster_gradients(RowLSTMNet(1, 1, channels=8, depth=2), 5, 5)
    assert torch.all(torch.triu(g) == 0)        # no pixel >= i
    assert torch.all(g[1:].sum(1) > 0)
    # the state-to-state kernel reaches one column further right per row above: (4,0) sees (0,4)
    assert g[4 * 5 + 0, 0 * 5 + 4] > 0


def test_cached_positions_equal_the_full_pass():
    torch.manual_seed(2)
    net = RowLSTMNet(1, 256, channels=8, depth=2)
    x = torch.rand(2, 1, 5, 6)
    full = net(x)
    cache = net.begin(2, 5, 6, x)
    cache["image"].image().copy_(x)
    got = torch.zeros_like(full)
    for i in range(5):
        for j in range(6):
            got[:, :, i, j] = net.step(cache, i, j)
        net.end_row(cache, i)
    assert torch.allclose(got, full, atol=1e-5), (got - full).abs().max()


def test_multichannel_rowlstm_orders_channels():
    torch.manual_seed(3)
    net = RowLSTMNet(3, 3, channels=48, hidden=24, depth=1)  # wide enough that ReLUs leave a live path
    x = torch.rand(1, 3, 3, 3, requires_grad=True)
    out = net(x)
    # value (pixel 4, channel c) depends on x[pixel 4, c'] only for c' < c
    for c in range(3):
        g, = torch.autograd.grad(out[0, c, 1, 1], x, retain_graph=True)
        assert torch.all(g[0, c:, 1, 1] == 0)
        assert torch.all(g[0, :, 1, 2:] == 0) and torch.all(g[0, :, 2] == 0)
        assert c == 0 or torch.all(g[0, :c, 1, 1] != 0)
