"""Model families, one per file, each registered by name for :func:`build`."""
from .base import GenerativeModel
from .beta_tcvae import BetaTCVAE
from .beta_vae import BetaVAE
from .gan import GAN
from .vq_vae import VQVAE
from .conditional_vae import ConditionalVAE
from .m2 import M2
from .hierarchical_vae import HierarchicalVAE
from .diagonal_pixelrnn import DiagonalPixelRNN
from .dip_vae import DIPVAE
from .factor_vae import FactorVAE
from .info_vae import InfoVAE
from .fast_sampling import autoregressive_sample, cached_sample, draw_noise, naive_sample
from .likelihoods import LIKELIHOODS, build_likelihood
from .pixelcnn import AutoregressiveModel, PixelCNN
from .pixelrnn import PixelRNN
from .registry import MODELS, build, register_model
from .vae import VAE
from .wae import WAE
from .wae_gan import WAEGAN

__all__ = ["GAN", "WAEGAN", "GenerativeModel", "VAE", "BetaVAE", "BetaTCVAE", "WAE", "build", "register_model", "MODELS",
           "LIKELIHOODS", "build_likelihood",
           "PixelCNN", "PixelRNN", "AutoregressiveModel", "autoregressive_sample", "naive_sample", "cached_sample",
           "draw_noise"]
