"""Row LSTM (van den Oord, Kalchbrenner & Kavukcuoglu 2016, "Pixel Recurrent Neural Networks", sec. 3.1).

Each layer processes the image one row at a time (eq. 3):
    [o_i, f_i, i_i, g_i] = σ(K^ss ⊛ h_{i-1} + K^is ⊛ x_i)       (tanh for g)
    c_i = f_i ⊙ c_{i-1} + i_i ⊙ g_i,   h_i = o_i ⊙ tanh(c_i)
K^is is a 1 x k mask-B convolution along row i (columns <= j); K^ss a 1-D convolution of width k
over the hidden state of the previous row, which gives the triangular receptive field above the
pixel. Layers are residual (a 1x1 conv maps h back to the stream width) and stacked after a
7x7 mask-A convolution; a 1x1 head gives the per-pixel likelihood parameters.

The position form (``forward_at``) carries the LSTM state row by row for the cached sampler.
"""
import torch
from torch import nn
from torch.nn import functional as F

from ..errors import expect
from .masked_conv import Canvas, MaskedConv2d
from .recurrent_pixel_net import RecurrentPixelNet


class RowLSTM(nn.Module):
    """One residual Row LSTM layer on a ``(n, channels, H, W)`` stream."""

    def __init__(self, channels, hidden, kernel_size=3, data_channels=1):
        super().__init__()
        expect(hidden % data_channels == 0, "hidden", f"a multiple of {data_channels}", hidden)
        self.hidden = hidden
        self.input_to_state = MaskedConv2d(channels, 4 * hidden, (1, kernel_size), "B", data_channels)
        self.state_to_state = nn.Conv1d(hidden, 4 * hidden, kernel_size, padding=kernel_size // 2)
        self.out = MaskedConv2d(hidden, channels, 1, "B", data_channels)

    @staticmethod
    def cell(gates, c):
        o, f, i, g = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c

    def forward(self, x):
        n, _, height, width = x.shape
        x_gates = self.input_to_state(x)
        h = x.new_zeros(n, self.hidden, width)
        c = torch.zeros_like(h)
        rows = []
        for i in range(height):
            h, c = self.cell(x_gates[:, :, i] + self.state_to_state(h), c)
            rows.append(h)
        return x + self.out(torch.stack(rows, dim=2))

    def new_cache(self, n, height, width, pad, like):
        """Canvases of h and c; row -1 (the padding) is the zero initial state."""
        return {"h": Canvas(n, self.hidden, height, width, pad, like),
                "c": Canvas(n, self.hidden, height, width, pad, like)}

    def forward_at(self, x_in, cache, i, j):
        """Output ``(n, channels)`` at (i, j); ``x_in`` caches the layer input (row i filled up to j)."""
        k = self.state_to_state.kernel_size[0]
        above = cache["h"].patch(i - 1, j, 0, k // 2, k // 2)
        w = self.state_to_state.weight
        ss = F.linear(above.reshape(above.shape[0], -1), w.reshape(w.shape[0], -1), self.state_to_state.bias)
        h, c = self.cell(self.input_to_state.forward_at(x_in, i, j) + ss, cache["c"].at(i - 1, j))
        cache["h"].put(i, j, h)
        cache["c"].put(i, j, c)
        return x_in.at(i, j) + self.out.pointwise(h)


class RowLSTMNet(RecurrentPixelNet):
    """Image ``(n, C, H, W)`` -> ``(n, out_channels, H, W)``: 7x7 mask A, ``depth`` Row LSTM layers, 1x1 head.
    The LSTM state is carried per pixel in ``step``: nothing is left to do at the end of a row."""

    def __init__(self, data_channels, out_channels, *, channels=64, hidden=None, depth=2, kernel_size=3,
                 first_kernel=7):
        hidden = channels if hidden is None else hidden
        expect(channels >= data_channels, "channels", f"at least {data_channels}", channels)
        super().__init__(data_channels, out_channels, channels,
                         lambda: RowLSTM(channels, hidden, kernel_size, data_channels),
                         depth=depth, pad=max(first_kernel, kernel_size) // 2, first_kernel=first_kernel)
