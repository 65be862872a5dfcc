"""Diagonal BiLSTM (van den Oord, Kalchbrenner & Kavukcuoglu 2016, "Pixel Recurrent Neural Networks",
sec. 3.2 and Fig. 4).

Each direction of a layer *skews* its input map, shifting row i right by i positions, so that the
pixels of one diagonal form one column of the skewed map ``(n, C, H, W + H − 1)``. The LSTM then runs
column by column (eq. 3, with the diagonal kernels):

    [o, f, i, g] = σ(K^ss ⊛ h_{c−1} + K^is ⊛ x_c)   (tanh for g),   c_c = f ⊙ c_{c−1} + i ⊙ g,   h_c = o ⊙ tanh(c_c)

K^is is a 1x1 (mask B) convolution; K^ss a column-wise convolution with a 2x1 kernel over the previous
column, which in image coordinates reads the state of the pixel above, (i−1, j), and of the pixel to
the left, (i, j−1); the cell state is carried along the row. Positions of the skewed map that lie
left of row i's start are the zero initial state. Unskewing gives a state whose receptive field is
every pixel above and to the left. The right-to-left direction is the same LSTM (its own weights) on
the horizontally mirrored map; its output is **shifted down by one row** before it is added to the
left-to-right output, so that pixel (i, j) only sees rows < i through it and the layer stays causal
(sec. 3.2). Layers are residual: a 1x1 (mask B) convolution maps the summed states back to the stream.
The network is a 7x7 mask-A convolution, ``depth`` Diagonal BiLSTM layers and a 1x1 output head.

Receptive field (checked by autograd in the tests): pixel (i, j) sees every earlier pixel except one, the
last pixel of the row above, (i−1, W−1), when j < W − 1 − first_kernel // 2. No stream holds that pixel's
value along row i − 1 (the mask-A layer keeps a pixel out of its own position), so only the first
convolution (reach first_kernel // 2 columns) and the right-to-left LSTM of row i carry it, and the
latter is read from row i + 1 on. This follows from the construction as the paper describes it.

The position form (``begin``/``step``/``end_row``) serves the cached sampler: the left-to-right state at
(i, j) is computed from the cached states at (i−1, j) and (i, j−1) when pixel (i, j) is visited; the
right-to-left states of row i are computed once row i is complete (``end_row``), right to left, and
read by row i + 1.
"""
import torch
from torch import nn
from torch.nn import functional as F

from ..errors import expect
from .masked_conv import Canvas, MaskedConv2d
from .recurrent_pixel_net import RecurrentPixelNet
from .row_lstm import RowLSTM


def skew(x):
    """``(n, C, H, W) -> (n, C, H, W + H − 1)`` with ``out[..., i, i + j] = x[..., i, j]``, zeros elsewhere."""
    n, c, height, width = x.shape
    flat = F.pad(x, (0, height)).reshape(n, c, height * (width + height))
    return flat[..., :height * (width + height - 1)].reshape(n, c, height, width + height - 1)


def unskew(x, width):
    """Inverse of :func:`skew`: ``out[..., i, j] = x[..., i, i + j]`` for ``j < width``."""
    n, c, height, skewed = x.shape
    flat = F.pad(x.reshape(n, c, height * skewed), (0, height))
    return flat.reshape(n, c, height, skewed + 1)[..., :width]


class DiagonalLSTM(nn.Module):
    """One direction (left to right): input stream ``(n, C, H, W)`` -> states ``(n, hidden, H, W)``."""

    def __init__(self, channels, hidden, data_channels=1):
        super().__init__()
        self.hidden = hidden
        self.input_to_state = MaskedConv2d(channels, 4 * hidden, 1, "B", data_channels)
        # weight[..., 0] reads the state above (i − 1, j), weight[..., 1] the state to the left (i, j − 1)
        self.state_to_state = nn.Conv1d(hidden, 4 * hidden, 2)

    def forward(self, x):
        n, _, height, width = x.shape
        columns = skew(self.input_to_state(x)).unbind(-1)  # one stacking backward, not a zero fill per column
        rows = torch.arange(height, device=x.device)
        h = x.new_zeros(n, self.hidden, height)
        c = torch.zeros_like(h)
        out = []
        for col, x_col in enumerate(columns):
            valid = ((rows <= col) & (col < rows + width)).to(x.dtype)  # positions on the image
            ss = self.state_to_state(F.pad(h, (1, 0)))
            h, c = RowLSTM.cell(x_col + ss, c)
            h, c = h * valid, c * valid
            out.append(h)
        return unskew(torch.stack(out, dim=-1), width)

    def state_at(self, x_in, h_above, h_left, c_left):
        """The LSTM at one position: ``x_in`` the stream ``(n, C)`` there, neighbours' states ``(n, hidden)``."""
        w = self.state_to_state.weight
        ss = F.linear(h_above, w[..., 0]) + F.linear(h_left, w[..., 1]) + self.state_to_state.bias
        return RowLSTM.cell(self.input_to_state.pointwise(x_in) + ss, c_left)


class DiagonalBiLSTM(nn.Module):
    """One residual Diagonal BiLSTM layer on a ``(n, channels, H, W)`` stream."""

    def __init__(self, channels, hidden, data_channels=1):
        super().__init__()
        expect(hidden % data_channels == 0, "hidden", f"a multiple of {data_channels}", hidden)
        self.hidden = hidden
        self.left = DiagonalLSTM(channels, hidden, data_channels)
        self.right = DiagonalLSTM(channels, hidden, data_channels)
        self.out = MaskedConv2d(hidden, channels, 1, "B", data_channels)

    def forward(self, x):
        h_left = self.left(x)
        h_right = self.right(x.flip(-1)).flip(-1)
        shifted = F.pad(h_right, (0, 0, 1, 0))[:, :, :-1]  # row i reads the right-to-left state of row i − 1
        return x + self.out(h_left + shifted)

    def new_cache(self, n, height, width, pad, like):
        return {name: Canvas(n, self.hidden, height, width, pad, like) for name in ("h", "c", "h_right", "c_right")}

    def forward_at(self, x_in, cache, i, j):
        """Output ``(n, channels)`` at (i, j); ``x_in`` caches the layer input (row i filled up to j)."""
        h, c = self.left.state_at(x_in.at(i, j), cache["h"].at(i - 1, j), cache["h"].at(i, j - 1),
                                  cache["c"].at(i, j - 1))
        cache["h"].put(i, j, h)
        cache["c"].put(i, j, c)
        return x_in.at(i, j) + self.out.pointwise(h + cache["h_right"].at(i - 1, j))

    def end_row(self, x_in, cache, i):
        """Row i of the layer input is complete: the right-to-left states of row i, from the right edge."""
        hr, cr = cache["h_right"], cache["c_right"]
        for j in reversed(range(x_in.image().shape[-1])):
            h, c = self.right.state_at(x_in.at(i, j), hr.at(i - 1, j), hr.at(i, j + 1), cr.at(i, j + 1))
            hr.put(i, j, h)
            cr.put(i, j, c)


class DiagonalBiLSTMNet(RecurrentPixelNet):
    """Image ``(n, C, H, W)`` -> ``(n, out_channels, H, W)``: 7x7 mask A, ``depth`` Diagonal BiLSTM layers, 1x1 head."""

    def __init__(self, data_channels, out_channels, *, channels=32, hidden=None, depth=2, first_kernel=7):
        hidden = channels if hidden is None else hidden
        expect(isinstance(depth, int) and depth >= 1, "depth", "a positive integer", depth)
        expect(channels >= data_channels, "channels", f"at least {data_channels}", channels)
        super().__init__(data_channels, out_channels, channels, lambda: DiagonalBiLSTM(channels, hidden, data_channels),
                         depth=depth, pad=max(first_kernel // 2, 1), first_kernel=first_kernel)
