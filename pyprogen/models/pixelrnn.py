"""PixelRNN with Row LSTM layers (van den Oord, Kalchbrenner & Kavukcuoglu 2016, sec. 3.1) as a
Pyro model with the exact autoregressive likelihood log p(x) = sum_i log p(x_i | x_<i) (eq. 1).

Same contract as :class:`~pyprogen.models.pixelcnn.PixelCNN`: site ``"x"`` in ``plate("data")``,
``latent_dim = 0``, an empty guide (Trace_ELBO's loss is -log p(x)), Bernoulli or 256-way outputs.
The cached sampler carries each layer's LSTM state (h, c) row by row instead of re-running the rows.
"""
from ..nn import RowLSTMNet
from .pixelcnn import AutoregressiveModel
from .registry import register_model


class PixelRNN(AutoregressiveModel):
    """Row LSTM PixelRNN.

    :param data_shape: ``(C, H, W)``.
    :param likelihood: ``"bernoulli"`` or ``"categorical"``.
    :param channels: width of the residual stream (64); ``hidden``: LSTM state size (defaults to ``channels``).
    :param depth: number of Row LSTM layers (2).
    :param kernel_size: width of the input-to-state and state-to-state kernels (3).
    :param first_kernel: the 7x7 mask-A input convolution.
    :param sampler: default sampler, ``"cached"`` or ``"naive"``.
    """

    def __init__(self, data_shape, *, likelihood="bernoulli", channels=64, hidden=None, depth=2, kernel_size=3,
                 first_kernel=7, sampler="cached"):
        super().__init__(data_shape, RowLSTMNet, likelihood=likelihood, sampler=sampler, channels=channels,
                         hidden=hidden, depth=depth, kernel_size=kernel_size, first_kernel=first_kernel)


@register_model("pixelrnn", help='PixelRNN with Row LSTM layers (van den Oord et al. 2016), exact likelihood.')
def _build_pixelrnn(data_shape, **kw):
    return PixelRNN(data_shape, **kw)
