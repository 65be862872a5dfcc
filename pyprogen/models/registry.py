"""Model registry: ``build(name, data_shape, **kw)`` without an if/elif ladder.

Each model file registers its factory with ``@register_model("name")``.
"""
from ..errors import PyprogenError

MODELS = {}


def register_model(name):
    def decorator(factory):
        MODELS[name] = factory
        return factory

    return decorator


def build(name, data_shape, **kwargs):
    """Build a registered model by name; records ``(name, data_shape, kwargs)`` so ``load`` can rebuild it."""
    if name not in MODELS:
        raise PyprogenError(f"model: unknown name {name!r}; expected one of {', '.join(sorted(MODELS))}")
    data_shape = tuple(int(d) for d in data_shape)
    try:
        model = MODELS[name](data_shape, **kwargs)
    except TypeError as exc:
        raise PyprogenError(f"model {name!r}: {exc}") from None
    model.config = {"name": name, "data_shape": list(data_shape), "kwargs": dict(kwargs)}
    return model
