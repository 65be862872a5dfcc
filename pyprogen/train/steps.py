"""Which step object trains a model with a given loss: a registry keyed on the loss's type.

``fit`` knows two step objects, Pyro-style: :class:`pyprogen.infer.svi.TorchSVI` (SVI for any
ELBO or callable loss) and :class:`pyprogen.infer.adversarial_svi.AdversarialSVI`. Both have
``initialise(batch)``, ``step(batch)``, ``evaluate_loss(batch)``, ``state_dict()`` and
``load_state_dict()``. Model families whose training needs another step object register it here.
"""
import torch

from ..errors import PyprogenError
from ..infer.adversarial_loss import AdversarialLoss
from ..infer.svi import TorchSVI
from ..infer.wae_gan_svi import WAEGANLoss

STEP_FACTORIES = {}


def register_step(loss_type):
    def decorator(factory):
        STEP_FACTORIES[loss_type] = factory
        return factory

    return decorator


@register_step(AdversarialLoss)
def _adversarial(model, loss, lr):
    from ..infer.adversarial_svi import AdversarialSVI

    if not isinstance(getattr(model, "critic", None), torch.nn.Module):
        raise PyprogenError(f"loss: the adversarial loss {type(loss).__name__} needs a model with a critic "
                            f"(gan, wae-gan), got {type(model).__name__}")

    return AdversarialSVI.for_model(model, loss, lr)


@register_step(WAEGANLoss)
def _wae_gan(model, loss, lr):
    from ..infer.wae_gan_svi import WAEGANSVI

    return WAEGANSVI.for_model(model, loss, lr)


def _svi(model, loss, lr):
    return TorchSVI(model.model, model.guide, lambda params: torch.optim.Adam(params, lr=lr), loss, modules=[model])


def make_step(model, loss, lr):
    """The step object for ``loss`` (most specific registered type first; SVI otherwise)."""
    for cls in type(loss).__mro__:
        if cls in STEP_FACTORIES:
            return STEP_FACTORIES[cls](model, loss, lr)
    return _svi(model, loss, lr)
