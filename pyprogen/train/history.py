"""Training history: one dict per epoch (and evaluation entries appended by the caller)."""


class History(list):
    """A list of entries (dicts); ``history.losses`` gives the per-epoch training losses."""

    @property
    def losses(self):
        return [e["loss"] for e in self if "loss" in e]

    @property
    def last(self):
        return self[-1] if self else {}
