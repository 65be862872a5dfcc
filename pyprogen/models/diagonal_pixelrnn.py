"""PixelRNN with Diagonal BiLSTM layers (van den Oord, Kalchbrenner & Kavukcuoglu 2016, sec. 3.2) as a
Pyro model with the exact autoregressive likelihood log p(x) = Σ_i log p(x_i | x_<i) (eq. 1).

Same contract as :class:`~pyprogen.models.pixelcnn.PixelCNN` and the Row LSTM
:class:`~pyprogen.models.pixelrnn.PixelRNN`: site ``"x"`` in ``plate("data")``, ``latent_dim = 0``, an
empty guide (Trace_ELBO's loss is −log p(x)), Bernoulli or 256-way outputs. The cached sampler carries
the left-to-right LSTM state pixel by pixel and runs the right-to-left LSTM once per completed row
(:class:`~pyprogen.nn.diagonal_lstm.DiagonalBiLSTMNet`). The paper's binarized-MNIST result (7 layers, h = 16)
is 79.20 nats (Table 4).
"""
from ..nn.diagonal_lstm import DiagonalBiLSTMNet
from .pixelcnn import AutoregressiveModel
from .registry import register_model


class DiagonalPixelRNN(AutoregressiveModel):
    """Diagonal BiLSTM PixelRNN.

    :param data_shape: ``(C, H, W)``.
    :param likelihood: ``"bernoulli"`` or ``"categorical"``.
    :param channels: width of the residual stream (32); ``hidden``: LSTM state size (defaults to ``channels``).
    :param depth: number of Diagonal BiLSTM layers (2).
    :param first_kernel: the mask-A input convolution (7).
    :param sampler: default sampler, ``"cached"`` or ``"naive"``.
    """

    def __init__(self, data_shape, *, likelihood="bernoulli", channels=32, hidden=None, depth=2, first_kernel=7,
                 sampler="cached"):
        super().__init__(data_shape, DiagonalBiLSTMNet, likelihood=likelihood, sampler=sampler, channels=channels,
                         hidden=hidden, depth=depth, first_kernel=first_kernel)


@register_model("pixelrnn-diagonal", help='PixelRNN with Diagonal BiLSTM layers (van den Oord et al. 2016).')
def _build_diagonal_pixelrnn(data_shape, **kw):
    return DiagonalPixelRNN(data_shape, **kw)
