"""The interface every pyprogen model shares (see ../API.md, "Models").

A model is a :class:`pyro.nn.PyroModule` with a Pyro ``model(x=None, n=None)`` and
``guide(x=None, n=None)``; latent site ``"z"`` and observed site ``"x"`` live in
``pyro.plate("data", N)``. Estimators never special-case a model class: they read the
traces these two functions produce.
"""
import pyro.poutine as poutine
import torch
from pyro.infer import Predictive
from pyro.nn import PyroModule

from ..errors import PyprogenError


class GenerativeModel(PyroModule):
    """Base class: ``data_shape``, ``latent_dim``, ``sample(n)``, ``default_loss()``."""

    #: ``{"name", "data_shape", "kwargs"}`` set by :func:`pyprogen.models.build`; lets ``load`` rebuild.
    config = None

    def __init__(self, data_shape, latent_dim=0):
        super().__init__()
        self.data_shape = tuple(int(d) for d in data_shape)
        self.latent_dim = int(latent_dim)

    # -- helpers shared by the families -------------------------------------------------
    def batch_size(self, x, n):
        """The size of plate "data": ``len(x)`` when observing, else ``n``."""
        if x is not None:
            if tuple(x.shape[1:]) != self.data_shape:
                raise PyprogenError(
                    f"x: expected shape (N, {', '.join(map(str, self.data_shape))}), got {tuple(x.shape)}")
            return x.shape[0]
        if n is None:
            raise PyprogenError("n: expected a number of samples when x is None")
        return int(n)

    @property
    def device(self):
        for p in self.parameters():
            return p.device
        return torch.device("cpu")

    # -- the contract --------------------------------------------------------------------
    def model(self, x=None, n=None):  # pragma: no cover - abstract
        raise NotImplementedError("abstract: subclasses define the Pyro model")

    def guide(self, x=None, n=None):  # pragma: no cover - abstract
        raise NotImplementedError("abstract: subclasses define the Pyro guide")

    def default_loss(self):  # pragma: no cover - abstract
        raise NotImplementedError("abstract: subclasses name their default estimator")

    @torch.no_grad()
    def sample(self, n, *, mean=False):
        """``n`` draws of ``x`` from the model, shape ``(n, *data_shape)`` in data space.

        Through Pyro: :class:`pyro.infer.Predictive` runs ``model(n=n)`` and returns its ``"x"``
        site, so any subclass that defines only ``model``/``guide`` can be sampled. With
        ``mean=True`` each draw is the mean image E[x | z] of the ``"x"`` site's distribution given
        that draw's latents (smooth grids for likelihood models; a deterministic site's value for a GAN).
        """
        if not (isinstance(n, int) and not isinstance(n, bool) and n >= 1):
            raise PyprogenError(f"n: expected a positive integer, got {n!r}")
        likelihood = getattr(self, "likelihood", None)
        if mean:
            fn = poutine.trace(self.model).get_trace(n=n).nodes["x"]["fn"]
            return likelihood.mean_of(fn) if likelihood is not None else fn.mean
        x = Predictive(self.model, num_samples=1, return_sites=("x",))(n=n)["x"][0]
        return likelihood.to_data(x).float() if likelihood is not None else x

    def forward(self, x=None, n=None):
        return self.model(x, n)
