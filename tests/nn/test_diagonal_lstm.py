"""Diagonal BiLSTM: skewing, the LSTM equations by hand, causality by autograd (with the one documented
blind pixel), the per-pixel (cached) form equal to the full pass, channel ordering."""
import pytest
import torch
from torch.nn import functional as F

from pyprogen.errors import PyprogenError
from pyprogen.nn.diagonal_lstm import DiagonalBiLSTM, DiagonalBiLSTMNet, DiagonalLSTM, skew, unskew
from pyprogen.nn.row_lstm import RowLSTM


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


def test_skew_shifts_row_i_by_i_and_unskew_inverts_it():
    x = torch.arange(1.0, 13.0).reshape(1, 1, 3, 4)
    s = skew(x)
    assert s.shape == (1, 1, 3, 6)
    for i in range(3):
        assert torch.equal(s[0, 0, i, i:i + 4], x[0, 0, i])
        assert s[0, 0, i].abs().sum() == x[0, 0, i].abs().sum()  # zeros elsewhere
    assert torch.equal(unskew(s, 4), x)


def test_left_to_right_lstm_follows_the_equations_in_image_coordinates():
    """h(i, j), c(i, j) = cell(K^is x(i, j) + K^ss_0 h(i−1, j) + K^ss_1 h(i, j−1) + b, c(i, j−1)), zero outside."""
    torch.manual_seed(0)
    lstm = DiagonalLSTM(channels=3, hidden=2)
    x = torch.randn(2, 3, 3, 4)
    xg = lstm.input_to_state(x)
    w, b = lstm.state_to_state.weight, lstm.state_to_state.bias
    h = torch.zeros(2, 2, 4, 5)  # one zero row above, one zero column left
    c = torch.zeros(2, 2, 4, 5)
    for i in range(3):
        for j in range(4):
            gates = xg[:, :, i, j] + h[:, :, i, j + 1] @ w[..., 0].T + h[:, :, i + 1, j] @ w[..., 1].T + b
            h[:, :, i + 1, j + 1], c[:, :, i + 1, j + 1] = RowLSTM.cell(gates, c[:, :, i + 1, j])
    assert torch.allclose(lstm(x), h[:, :, 1:, 1:], atol=1e-6)


def test_right_direction_is_mirrored_and_shifted_down_one_row():
    torch.manual_seed(1)
    layer = DiagonalBiLSTM(channels=4, hidden=2)
    x = torch.randn(1, 4, 3, 5)
    right = layer.right(x.flip(-1)).flip(-1)
    expected = x + layer.out(layer.left(x) + F.pad(right, (0, 0, 1, 0))[:, :, :-1])
    assert torch.allclose(layer(x), expected, atol=1e-6)


@pytest.mark.parametrize("height,width,first_kernel", [(5, 5, 7), (4, 8, 3)])
def test_net_is_causal_and_sees_every_earlier_pixel_but_one(height, width, first_kernel):
    """No gradient from any pixel >= i. Every earlier pixel reaches pixel (i, j), except the last pixel of
    the row above, (i−1, W−1), for j < W − 1 − first_kernel // 2: no stream holds its value in row i−1
    (the mask-A layer excludes a pixel from its own position) and the first convolution reaches only
    first_kernel // 2 columns, so only the right-to-left LSTM of row i carries it, which row i + 1 reads."""
    g = raster_gradients(DiagonalBiLSTMNet(1, 1, channels=8, depth=2, first_kernel=first_kernel), height, width)
    assert torch.all(torch.triu(g) == 0)
    seen = g > 0
    r = first_kernel // 2
    for a in range(height * width):
        i, j = divmod(a, width)
        for b in range(a):
            blind = b == (i - 1) * width + width - 1 and j < width - 1 - r
            assert bool(seen[a, b]) != blind, (a, b)


def test_cached_positions_equal_the_full_pass():
    torch.manual_seed(2)
    net = DiagonalBiLSTMNet(1, 256, channels=8, depth=2)
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


def test_multichannel_orders_channels():
    torch.manual_seed(3)
    net = DiagonalBiLSTMNet(3, 3, channels=48, hidden=24, depth=1)
    x = torch.rand(1, 3, 3, 3, requires_grad=True)
    out = net(x)
    for c in range(3):  # value (pixel 4, channel c) depends on x[pixel 4, c'] only for c' < c
        g, = torch.autograd.grad(out[0, c, 1, 1], x, retain_graph=True)
        assert torch.all(g[0, c:, 1, 1] == 0)
        assert torch.all(g[0, :, 1, 2:] == 0) and torch.all(g[0, :, 2] == 0)
        assert c == 0 or torch.all(g[0, :c, 1, 1] != 0)


def test_bad_sizes_raise():
    with pytest.raises(PyprogenError, match="hidden"):
        DiagonalBiLSTMNet(3, 3, channels=9, hidden=8)
    with pytest.raises(PyprogenError, match="depth"):
        DiagonalBiLSTMNet(1, 1, depth=0)
