"""Networks (torch only): MLPs, conv encoders/decoders, masked convs, row LSTMs, batched MLPs."""
from .batched import BatchedLinear, BatchedMLP
from .conv import ConvDecoder, ConvEncoder, ConvFeatures
from .diagonal_lstm import DiagonalBiLSTM, DiagonalBiLSTMNet, DiagonalLSTM
from .dcgan import DCGANCritic, DCGANGenerator, MLPCritic, MLPGenerator
from .mlp import MLPDecoder, MLPEncoder, mlp
from .masked_conv import (Canvas, GatedBlock, GatedPixelCNNNet, MaskedConv2d, OutputHead, PixelCNNNet, ResidualBlock,
                          causal_mask)
from .row_lstm import RowLSTM, RowLSTMNet

__all__ = ["DCGANGenerator", "DCGANCritic", "MLPGenerator", "MLPCritic", "mlp", "MLPEncoder", "MLPDecoder", "ConvFeatures", "ConvEncoder", "ConvDecoder",
           "Canvas", "causal_mask", "MaskedConv2d", "ResidualBlock", "GatedBlock", "OutputHead", "PixelCNNNet",
           "GatedPixelCNNNet", "RowLSTM", "RowLSTMNet", "BatchedLinear", "BatchedMLP"]
