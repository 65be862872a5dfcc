"""The stack shared by the recurrent PixelRNNs (van den Oord et al. 2016, section 3): a 7x7 mask-A
convolution, ``depth`` recurrent layers with residual connections, and a 1x1 output head.

Full-image evaluation runs every layer over the whole image; the cached sampler
(:mod:`pyprogen.models.fast_sampling`) evaluates one pixel at a time through ``begin``/``step``/
``end_row``: every layer's input is kept on a :class:`Canvas` and each layer keeps its own state
cache (``layer.new_cache``/``layer.forward_at``). Subclasses choose the layers and their padding.
"""
from torch import nn

from .masked_conv import Canvas, MaskedConv2d, OutputHead


class RecurrentPixelNet(nn.Module):
    """Image ``(n, C, H, W)`` -> ``(n, out_channels, H, W)``: mask-A convolution, ``depth`` layers, 1x1 head.

    :param make_layer: builds one recurrent layer (maps ``(n, channels, H, W)`` to the same shape and has
        ``new_cache``/``forward_at``; one with ``end_row`` finishes a row once it is complete). Modules
        are built in the order first convolution, layers, head (the order seeded initialisation follows).
    :param pad: the canvas padding the layers' cached evaluation reads beyond the image.
    """

    def __init__(self, data_channels, out_channels, channels, make_layer, *, depth, pad, first_kernel=7):
        super().__init__()
        self.data_channels = data_channels
        self.pad = pad
        self.first = MaskedConv2d(data_channels, channels, first_kernel, "A", data_channels)
        self.layers = nn.ModuleList(make_layer() for _ in range(depth))
        self.head = OutputHead(channels, out_channels, data_channels)

    def forward(self, x):
        h = self.first(x)
        for layer in self.layers:
            h = layer(h)
        return self.head(h)

    # -- cached evaluation, one pixel at a time (see fast_sampling) ---------------------
    def begin(self, n, height, width, like):
        channels = self.first.out_channels
        return {"image": Canvas(n, self.data_channels, height, width, self.pad, like),
                "stream": [Canvas(n, channels, height, width, self.pad, like) for _ in range(len(self.layers) + 1)],
                "layers": [layer.new_cache(n, height, width, self.pad, like) for layer in self.layers]}

    def step(self, cache, i, j):
        stream = cache["stream"]
        stream[0].put(i, j, self.first.forward_at(cache["image"], i, j))
        for k, (layer, c) in enumerate(zip(self.layers, cache["layers"])):
            stream[k + 1].put(i, j, layer.forward_at(stream[k], c, i, j))
        return self.head.pointwise(stream[-1].at(i, j))

    def end_row(self, cache, i):
        """Row ``i`` is complete in every layer's input: layers with a right-to-left pass run it."""
        for layer, stream, c in zip(self.layers, cache["stream"], cache["layers"]):
            finish = getattr(layer, "end_row", None)
            if finish is not None:
                finish(stream, c, i)
