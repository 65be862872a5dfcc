"""Turn fit's ``loss`` argument (None, a name, or an object) into an estimator object."""
from ..errors import PyprogenError
from ..infer.adversarial_loss import ADVERSARIAL_LOSSES, adversarial_loss
from ..infer.registry import ESTIMATORS, estimator


def resolve_loss(loss, model):
    if loss is None:
        return model.default_loss()
    if isinstance(loss, str):
        if loss in ADVERSARIAL_LOSSES:
            return adversarial_loss(loss)
        if loss in ESTIMATORS:
            return estimator(loss, model)
        raise PyprogenError(f"loss: unknown name {loss!r}; expected one of "
                            f"{', '.join(sorted(ESTIMATORS) + sorted(ADVERSARIAL_LOSSES))}")
    if not callable(loss) and not hasattr(loss, "differentiable_loss") and not hasattr(loss, "critic_loss"):
        raise PyprogenError(f"loss: expected an estimator, a name or None, got {type(loss).__name__}")
    return loss
