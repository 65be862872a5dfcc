"""Model families, one per file, each registered by name for :func:`build`."""
from .base import GenerativeModel
from .beta_tcvae import BetaTCVAE
from .beta_vae import BetaVAE
from .likelihoods import LIKELIHOODS, build_likelihood
from .registry import MODELS, build, register_model
from .vae import VAE
from .wae import WAE

__all__ = ["GenerativeModel", "VAE", "BetaVAE", "BetaTCVAE", "WAE", "build", "register_model", "MODELS",
           "LIKELIHOODS", "build_likelihood"]
