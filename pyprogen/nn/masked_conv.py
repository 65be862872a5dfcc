"""Masked convolutions for PixelCNN (van den Oord, Kalchbrenner & Kavukcuoglu 2016, "Pixel
Recurrent Neural Networks", sec. 3.4 and Fig. 4) and gated vertical/horizontal stacks
(van den Oord et al. 2016, "Conditional Image Generation with PixelCNN Decoders", eq. 2, Fig. 2).

Pixels are ordered in raster order and, within a pixel, by channel (R before G before B):
    p(x) = prod_i prod_c p(x_{i,c} | x_{<i}, x_{i,<c})          (PixelRNN paper, eq. 1-2)
Mask A (first layer) lets the output of channel group g at pixel i see the input groups < g at
pixel i; mask B (later layers) also lets it see group g. Channel ``k`` of any layer belongs
to group ``k % data_channels``, so a likelihood's ``(n, k * C, H, W)`` layout lines up.

Every layer here also has a *position* form (``*_at``) that computes its output at one pixel
(i, j) from cached activations, used by the cached sampler (Ramachandran et al. 2017,
"Fast Generation for Convolutional Autoregressive Models"): each activation is computed once.
Caches are :class:`Canvas` objects: zero-padded ``P`` rows on top and ``P`` columns on each side,
which is what ``padding=`` does in the full forward pass.
"""
import torch
from torch import nn
from torch.nn import functional as F

from ..errors import expect


class Canvas:
    """An ``(n, C, H, W)`` activation cache stored with ``pad`` zero rows above, columns left/right."""

    def __init__(self, n, channels, height, width, pad, like):
        self.pad = pad
        self.data = like.new_zeros(n, channels, height + pad, width + 2 * pad)

    def put(self, i, j, value):
        """Write ``value`` ``(n, C)`` at pixel (i, j)."""
        self.data[:, :, self.pad + i, self.pad + j] = value

    def put_row(self, i, value):
        """Write ``value`` ``(n, C, W)`` as row i."""
        self.data[:, :, self.pad + i, self.pad:self.data.shape[-1] - self.pad] = value

    def at(self, i, j):
        return self.data[:, :, self.pad + i, self.pad + j]

    def patch(self, i, j, up, left, right):
        """Rows ``i-up .. i`` and columns ``j-left .. j+right`` (padding included), ``(n, C, up+1, left+right+1)``."""
        r, c = self.pad + i, self.pad + j
        return self.data[:, :, r - up:r + 1, c - left:c + right + 1]

    def rows(self, i, up):
        """Rows ``i-up .. i`` over the full padded width."""
        r = self.pad + i
        return self.data[:, :, r - up:r + 1, :]

    def image(self):
        return self.data[:, :, self.pad:, self.pad:self.data.shape[-1] - self.pad]


def causal_mask(out_channels, in_channels, kernel_size, mask_type, data_channels=1):
    """The PixelCNN mask ``(out, in, kh, kw)``: nothing below the centre row or right of the centre;
    at the centre, output group g sees input groups < g (``"A"``) or <= g (``"B"``)."""
    expect(mask_type in ("A", "B"), "mask_type", "'A' or 'B'", mask_type)
    kh, kw = kernel_size
    cy, cx = kh // 2, kw // 2
    mask = torch.ones(out_channels, in_channels, kh, kw)
    mask[:, :, cy + 1:, :] = 0
    mask[:, :, cy, cx + 1:] = 0
    g_out = torch.arange(out_channels) % data_channels
    g_in = torch.arange(in_channels) % data_channels
    allowed = g_out[:, None] > g_in[None, :] if mask_type == "A" else g_out[:, None] >= g_in[None, :]
    mask[:, :, cy, cx] = allowed.float()
    return mask


class MaskedConv2d(nn.Conv2d):
    """``nn.Conv2d`` with a causal mask (type A or B), 'same' zero padding, odd kernel sizes."""

    def __init__(self, in_channels, out_channels, kernel_size, mask_type="B", data_channels=1):
        kernel_size = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        expect(all(k % 2 == 1 for k in kernel_size), "kernel_size", "odd sizes", kernel_size)
        super().__init__(in_channels, out_channels, kernel_size, padding=(kernel_size[0] // 2, kernel_size[1] // 2))
        self.mask_type = mask_type
        self.register_buffer("mask", causal_mask(out_channels, in_channels, kernel_size, mask_type, data_channels))

    def masked_weight(self):
        return self.weight * self.mask

    def forward(self, x):
        return F.conv2d(x, self.masked_weight(), self.bias, padding=self.padding)

    def forward_at(self, canvas, i, j):
        """Output ``(n, out)`` at pixel (i, j) from the input cache (only the unmasked upper half is read)."""
        ph, pw = self.padding
        w = self.masked_weight()[:, :, :ph + 1, :]
        patch = canvas.patch(i, j, ph, pw, pw)
        return F.linear(patch.reshape(patch.shape[0], -1), w.reshape(w.shape[0], -1), self.bias)

    def pointwise(self, h):
        """For a 1x1 kernel: the layer applied to a vector ``(n, in)`` at one pixel."""
        return F.linear(h, self.masked_weight()[:, :, 0, 0], self.bias)


class ResidualBlock(nn.Module):
    """PixelCNN residual block (van den Oord 2016, Fig. 5): ReLU-1x1(2h->h)-ReLU-kxk B-ReLU-1x1(h->2h), plus skip."""

    def __init__(self, channels, kernel_size=3, data_channels=1):
        super().__init__()
        inner = max(channels // 2, data_channels)
        self.reduce = MaskedConv2d(channels, inner, 1, "B", data_channels)
        self.conv = MaskedConv2d(inner, inner, kernel_size, "B", data_channels)
        self.expand = MaskedConv2d(inner, channels, 1, "B", data_channels)

    def forward(self, h):
        u = F.relu(self.reduce(F.relu(h)))
        return h + self.expand(F.relu(self.conv(u)))

    def new_cache(self, n, height, width, pad, like):
        return Canvas(n, self.reduce.out_channels, height, width, pad, like)

    def forward_at(self, h, cache, i, j):
        """``h`` is the block input ``(n, channels)`` at (i, j); ``cache`` holds the inner activation."""
        cache.put(i, j, F.relu(self.reduce.pointwise(F.relu(h))))
        return h + self.expand.pointwise(F.relu(self.conv.forward_at(cache, i, j)))


def gate(a):
    """Gated activation tanh(W_f * x) ⊙ σ(W_g * x) (Conditional PixelCNN, eq. 2)."""
    f, g = a.chunk(2, dim=1)
    return torch.tanh(f) * torch.sigmoid(g)


class GatedBlock(nn.Module):
    """One gated PixelCNN layer with a vertical stack (rows above, no blind spot) and a horizontal
    stack (the current row, left of the pixel), Conditional PixelCNN Fig. 2; single data channel.

    Vertical: a ``(k//2+1) x k`` conv over rows i-k//2..i. It reaches the horizontal stack shifted
    down by one row, so pixel (i, j) only sees rows < i through it. Horizontal: a ``1 x (k//2+1)``
    conv over columns j-k//2..j (``first``: ``1 x k//2`` over columns < j, i.e. mask A), a residual
    connection after a 1x1 (except in the first layer).
    """

    def __init__(self, in_channels, channels, kernel_size=3, first=False):
        super().__init__()
        expect(kernel_size % 2 == 1 and kernel_size >= 3, "kernel_size", "an odd size >= 3", kernel_size)
        self.p, self.first = kernel_size // 2, first
        self.v_conv = nn.Conv2d(in_channels, 2 * channels, (self.p + 1, kernel_size))
        self.v_to_h = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.h_conv = nn.Conv2d(in_channels, 2 * channels, (1, self.p if first else self.p + 1))
        self.h_out = nn.Conv2d(channels, channels, 1)

    def forward(self, v, h):
        width = h.shape[-1]
        vc = self.v_conv(F.pad(v, (self.p, self.p, self.p, 0)))
        shifted = F.pad(vc, (0, 0, 1, 0))[:, :, :-1]
        hc = self.h_conv(F.pad(h, (self.p, 0, 0, 0)))[..., :width]
        h_new = self.h_out(gate(hc + self.v_to_h(shifted)))
        return gate(vc), h_new if self.first else h + h_new

    def new_cache(self, n, height, width, pad, like):
        """Caches of the pre-gate vertical activation and of the layer's vertical output."""
        return {"vc": Canvas(n, self.v_conv.out_channels, height, width, pad, like),
                "v": Canvas(n, self.v_conv.out_channels // 2, height, width, pad, like)}

    def vertical_row(self, v_in, cache, i):
        """Compute the vertical stack at row i (once row i of the input is complete)."""
        rows = v_in.rows(i, self.p)
        pad = v_in.pad
        vc = F.conv2d(rows[..., pad - self.p:rows.shape[-1] - pad + self.p], self.v_conv.weight, self.v_conv.bias)
        cache["vc"].put_row(i, vc[:, :, 0])
        cache["v"].put_row(i, gate(vc[:, :, 0]))

    def horizontal_at(self, h_in, cache, i, j):
        """Horizontal output ``(n, channels)`` at (i, j) from the input cache ``h_in`` and row i-1 of the vertical."""
        kw = self.h_conv.kernel_size[1]
        patch = h_in.patch(i, j, 0, self.p, 0)[..., :kw]
        w = self.h_conv.weight
        hc = F.linear(patch.reshape(patch.shape[0], -1), w.reshape(w.shape[0], -1), self.h_conv.bias)
        above = F.linear(cache["vc"].at(i - 1, j), self.v_to_h.weight[:, :, 0, 0], self.v_to_h.bias)
        h_new = F.linear(gate(hc + above), self.h_out.weight[:, :, 0, 0], self.h_out.bias)
        return h_new if self.first else h_in.at(i, j) + h_new


class OutputHead(nn.Module):
    """ReLU - 1x1 (mask B) - ReLU - 1x1 (mask B) to ``out_channels`` likelihood parameters per pixel."""

    def __init__(self, channels, out_channels, data_channels=1):
        super().__init__()
        self.hidden = MaskedConv2d(channels, channels, 1, "B", data_channels)
        self.out = MaskedConv2d(channels, out_channels, 1, "B", data_channels)

    def forward(self, h):
        return self.out(F.relu(self.hidden(F.relu(h))))

    def pointwise(self, h):
        return self.out.pointwise(F.relu(self.hidden.pointwise(F.relu(h))))


class PixelCNNNet(nn.Module):
    """Image ``(n, C, H, W)`` in [0, 1] -> ``(n, out_channels, H, W)``: a 7x7 mask-A conv, ``depth``
    residual blocks with kxk mask-B convs, and a 1x1 head (van den Oord 2016, Table 4)."""

    def __init__(self, data_channels, out_channels, *, channels=64, depth=5, kernel_size=3, first_kernel=7):
        super().__init__()
        expect(channels >= 2 * data_channels, "channels", f"at least {2 * data_channels}", channels)
        self.data_channels = data_channels
        self.pad = max(first_kernel, kernel_size) // 2
        self.first = MaskedConv2d(data_channels, channels, first_kernel, "A", data_channels)
        self.blocks = nn.ModuleList(ResidualBlock(channels, kernel_size, data_channels) for _ in range(depth))
        self.head = OutputHead(channels, out_channels, data_channels)

    def forward(self, x):
        h = self.first(x)
        for block in self.blocks:
            h = block(h)
        return self.head(h)

    # -- cached evaluation, one pixel at a time ---------------------------------------
    def begin(self, n, height, width, like):
        return {"image": Canvas(n, self.data_channels, height, width, self.pad, like),
                "blocks": [b.new_cache(n, height, width, self.pad, like) for b in self.blocks]}

    def step(self, cache, i, j):
        """Parameters ``(n, out_channels)`` at (i, j), given the image cache filled up to (i, j)."""
        h = self.first.forward_at(cache["image"], i, j)
        for block, c in zip(self.blocks, cache["blocks"]):
            h = block.forward_at(h, c, i, j)
        return self.head.pointwise(h)

    def end_row(self, cache, i):
        """Nothing is row-wise in a mask A/B stack."""


class GatedPixelCNNNet(nn.Module):
    """Gated PixelCNN without the blind spot (Conditional PixelCNN, Fig. 2): a first gated layer
    (kernel ``first_kernel``, horizontal mask A), ``depth`` gated layers, the 1x1 head on the horizontal stack.
    Single data channel (the vertical/horizontal split here does not mask colour channels)."""

    def __init__(self, data_channels, out_channels, *, channels=64, depth=5, kernel_size=3, first_kernel=7):
        super().__init__()
        expect(data_channels == 1, "data_shape", "one channel for the gated PixelCNN", data_channels)
        self.data_channels = data_channels
        self.pad = max(first_kernel, kernel_size) // 2
        self.layers = nn.ModuleList([GatedBlock(data_channels, channels, first_kernel, first=True)]
                                    + [GatedBlock(channels, channels, kernel_size) for _ in range(depth)])
        self.head = OutputHead(channels, out_channels, data_channels)

    def forward(self, x):
        v = h = x
        for layer in self.layers:
            v, h = layer(v, h)
        return self.head(h)

    def begin(self, n, height, width, like):
        channels = self.head.hidden.in_channels
        return {"image": Canvas(n, self.data_channels, height, width, self.pad, like),
                "layers": [layer.new_cache(n, height, width, self.pad, like) for layer in self.layers],
                "h": [Canvas(n, channels, height, width, self.pad, like) for _ in self.layers]}

    def step(self, cache, i, j):
        h_in = cache["image"]
        for layer, c, h_out in zip(self.layers, cache["layers"], cache["h"]):
            h_out.put(i, j, layer.horizontal_at(h_in, c, i, j))
            h_in = h_out
        return self.head.pointwise(h_in.at(i, j))

    def end_row(self, cache, i):
        """Row i of the image is complete: compute the vertical stacks at row i (read by row i+1)."""
        v_in = cache["image"]
        for layer, c in zip(self.layers, cache["layers"]):
            layer.vertical_row(v_in, c, i)
            v_in = c["v"]
