"""Networks (torch only): MLPs, conv encoders/decoders, masked convs, row LSTMs, batched MLPs."""
from .conv import ConvDecoder, ConvEncoder, ConvFeatures
from .mlp import MLPDecoder, MLPEncoder, mlp

__all__ = ["mlp", "MLPEncoder", "MLPDecoder", "ConvFeatures", "ConvEncoder", "ConvDecoder"]
