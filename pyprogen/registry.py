"""``Registry``: the one name -> factory table behind models, estimators, adversarial losses,
likelihoods, step types and data sets.

An entry registers itself in the file that defines it::

    ESTIMATORS = Registry("estimator", argument="loss")

    @ESTIMATORS.register("beta")
    def _beta(model, **kw): ...

so a new ELBO variant, GAN loss or model family is one new file: nothing else names it. A
registry is a read-only view of a ``dict`` (``name in R``, ``R[name]``, ``sorted(R)`` work),
and :meth:`lookup` turns an unknown name into one line naming the argument and the choices.
"""
from collections.abc import Mapping

from .errors import PyprogenError


class Registry(Mapping):
    """Named factories of one kind.

    :param kind: what an entry is ("model", "estimator", ...), used in messages.
    :param argument: the user-facing argument an unknown name came from (``loss``, ``model``, ...).
    """

    def __init__(self, kind, *, argument=None):
        self.kind, self.argument = kind, argument or kind
        self._entries = {}
        self._help = {}

    # -- registration ---------------------------------------------------------------------
    def register(self, name, *, help=None):
        """Decorator: ``@R.register("name")`` on a class or factory; returns it unchanged.

        A class gets ``registry_name = name``. Re-registering a name replaces the entry (a user's
        module reloaded in a notebook), which is what Python's own re-definition does.
        """
        if not isinstance(name, str) or not name:
            raise PyprogenError(f"{self.kind} registry: expected a non-empty name, got {name!r}")

        def decorator(entry):
            self._entries[name] = entry
            doc = help or (entry.__doc__ or "").strip().splitlines()
            self._help[name] = doc if isinstance(doc, str) else (doc[0] if doc else "")
            if isinstance(entry, type):
                entry.registry_name = name
            return entry

        return decorator

    # -- look-up ----------------------------------------------------------------------------
    def lookup(self, name):
        """The entry for ``name``, or one line naming the argument and the registered names."""
        if not isinstance(name, str) or name not in self._entries:
            raise PyprogenError(f"{self.argument}: unknown {self.kind} {name!r}; expected one of "
                                f"{', '.join(sorted(self._entries))}")
        return self._entries[name]

    def build(self, name, *args, **kwargs):
        """``lookup(name)(*args, **kwargs)``; a wrong keyword becomes one line naming the entry."""
        factory = self.lookup(name)
        try:
            return factory(*args, **kwargs)
        except TypeError as exc:
            raise PyprogenError(f"{self.kind} {name!r}: {exc}") from None

    def describe(self, name):
        """One line about an entry (its docstring's first line, or the help given at registration)."""
        self.lookup(name)
        return self._help.get(name, "")

    # -- Mapping ------------------------------------------------------------------------------
    def __getitem__(self, name):
        return self._entries[name]

    def __iter__(self):
        return iter(self._entries)

    def __len__(self):
        return len(self._entries)

    def __repr__(self):
        return f"Registry({self.kind!r}: {', '.join(sorted(self._entries))})"
