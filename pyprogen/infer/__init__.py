"""Estimators (ELBO variants, importance weighting) and adversarial losses; they read Pyro traces."""
from .beta_elbo import BetaELBO
from .dip_vae import DIPELBO
from .info_vae import InfoELBO
from .importance import log_weights
from .iwae import IWAE
from .miwae import MIWAE
from .ciwae import CIWAE
from .piwae import PIWAE
from .jit_elbo import JitTraceMeanField_ELBO
from .free_bits import FreeBitsELBO
from .kl_warmup import KLWarmup
from .kernels import imq_kernel, mmd2_unbiased, rbf_kernel
from .mmd_elbo import MMDELBO
from .tc_elbo import TCELBO
from .adversarial_loss import ADVERSARIAL_LOSSES, AdversarialLoss, adversarial_loss, register_adversarial_loss
from .gan_dp import GANDPLoss
from .hinge import HingeLoss
from .lsgan import LSGANLoss
from .minimax_gan import MinimaxGANLoss
from .non_saturating_gan import NonSaturatingLoss
from .penalties import gradient_penalty, lipschitz_penalty, r1_penalty, r2_penalty
from .r2 import R2Loss
from .wgan import WGANLoss
from .wgan_gp import WGANGPLoss
from .wgan_lp import WGANLPLoss
from .adversarial_svi import AdversarialSVI
from .registry import ESTIMATORS, estimator, register_estimator
from .svi import TorchSVI
from .wae_gan_svi import WAEGANSVI
from .factor_vae import FactorTCLoss, FactorVAESVI, permute_dims
from .step import STEPS, OptimizerSpec, Step, capture_parameters, make_step, site_distribution
