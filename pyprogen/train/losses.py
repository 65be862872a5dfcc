"""Turn fit's ``loss`` argument (None, a name, or an object) into an estimator object."""
import pyro.infer

from ..errors import PyprogenError
from ..infer.adversarial_loss import ADVERSARIAL_LOSSES, adversarial_loss
from ..infer.registry import ESTIMATORS, estimator


def resolve_loss(loss, model):
    """``None``: the model's ``default_loss()`` (``Trace_ELBO`` for a user model without one); a
    name from the estimator or adversarial-loss registry (an adversarial loss built with the model's
    ``loss_kwargs(name)`` where it has them); or an estimator object as it is."""
    if loss is None:
        default = getattr(model, "default_loss", None)
        return default() if callable(default) else pyro.infer.Trace_ELBO()
    if isinstance(loss, str):
        if loss in ADVERSARIAL_LOSSES:  # with the model's keywords for it (a GAN's gamma for gan-dp and r2)
            kwargs = getattr(model, "loss_kwargs", None)
            return adversarial_loss(loss, **(kwargs(loss) if callable(kwargs) else {}))
        if loss in ESTIMATORS:
            return estimator(loss, model)
        raise PyprogenError(f"loss: unknown name {loss!r}; expected one of "
                            f"{', '.join(sorted(ESTIMATORS) + sorted(ADVERSARIAL_LOSSES))}")
    if not callable(loss) and not hasattr(loss, "differentiable_loss") and not hasattr(loss, "critic_loss"):
        raise PyprogenError(f"loss: expected an estimator, a name or None, got {type(loss).__name__}")
    return loss
