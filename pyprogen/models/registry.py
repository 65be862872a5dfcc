"""Model registry: ``build(name, data_shape, **kw)`` without an if/elif ladder.

Each model file registers its factory with ``@register_model("name")``.
"""
from ..registry import Registry

MODELS = Registry("model")
register_model = MODELS.register


def build(name, data_shape, **kwargs):
    """Build a registered model by name; records ``(name, data_shape, kwargs)`` so ``load`` can rebuild it."""
    MODELS.lookup(name)
    data_shape = tuple(int(d) for d in data_shape)
    model = MODELS.build(name, data_shape, **kwargs)
    model.config = {"name": name, "data_shape": list(data_shape), "kwargs": dict(kwargs)}
    return model
