"""The one module that calls ArviZ: every other pyprogen module goes through these functions.

Supported: the ArviZ 0.x line (setup.cfg declares ``arviz>=0.17,<1``; tested with 0.23.4), whose
data model is ``arviz.InferenceData`` (one ``xarray.Dataset`` per group). What each function wraps:

=====================  =====================================================================
``from_mcmc``          ``az.from_pyro(mcmc, log_likelihood=True, dims=...)`` plus extra
                       ``sample_stats`` variables (chain, draw)
``from_draws``         ``az.from_dict(posterior=..., log_likelihood=..., observed_data=...)``
``concat_chains``      ``az.concat(*idatas, dim="chain")``
``psis``               ``az.psislw(log_weights, reff)`` (Vehtari et al. 2024, Pareto-smoothed IS)
``rhat``, ``ess``      ``az.rhat``, ``az.ess(method="bulk"|"tail")`` (Vehtari et al. 2021)
``summary``            ``az.summary``
``with_groups``        ``InferenceData.copy`` + ``InferenceData.add_groups``
``group_names``        ``InferenceData.groups()``
``save_netcdf``        ``InferenceData.to_netcdf`` (atomically, through :func:`pyprogen.io.atomic_path`)
``load_netcdf``        ``az.from_netcdf``
``point_dataset``      ``xarray.Dataset`` of per-point variables (a group to add)
=====================  =====================================================================

Group *contents* are read with plain xarray (``idata.posterior["z"].mean(("chain", "draw"))``),
which works on both data models.

What ArviZ 1.x changes, i.e. what a port of this one file has to handle (tried with arviz 1.3.0 =
arviz-base 1.3.1 + arviz-stats 1.3.3 + arviz-plots 1.3.2; they declare Python >= 3.12, so pip refuses
them on 3.11 unless ``--ignore-requires-python``, and then they import and run on 3.11.7):

- ``arviz`` is a meta-package over ``arviz-base`` (data), ``arviz-stats`` and ``arviz-plots``;
  ``InferenceData`` is ``xarray.DataTree`` (``az.InferenceData`` now returns that class with a
  ``MigrationWarning``). Groups are child nodes: ``dt.groups`` is a property of paths
  (``"/posterior"``), ``add_groups`` is gone (``dt["name"] = xarray.DataTree(dataset)`` works);
  ``dt.posterior["z"]``, ``dt.to_netcdf`` and ``az.from_netcdf`` work (round trip checked). netCDF files written here by
  0.23.4 are read by 1.x; writing/reading needs ``h5py`` (or ``netCDF4``), which ``arviz`` 1.x does
  not install by itself.
- ``az.from_pyro`` is removed (``arviz_base`` converts cmdstanpy, emcee, numpyro, pystan): MCMC
  draws must go through ``from_dict`` (``mcmc.get_samples(group_by_chain=True)``, the
  ``log_likelihood`` group computed from the model as :mod:`.guide` does, divergences by hand).
- ``az.from_dict`` takes one dict of groups: ``from_dict({"posterior": {...}, "log_likelihood":
  {...}}, dims=...)``; the ``posterior=`` keyword raises ``TypeError``.
- ``az.concat`` is removed: chains are joined with ``xarray.concat`` per group.
- ``az.psislw`` is removed; ``arviz_stats.base.array_stats.psislw(ary, r_eff, axis=-1)`` (and
  ``DataArray.azstats.psislw``) take the *negated* log weights (the LOO convention, log-likelihood
  values): passed log weights unchanged, GPD(k = 0.8) weights came out at k̂ ≈ 1.0, with the sign
  flipped at k̂ 0.735–0.927, the values 0.x gives to 0.005. Constant weights raise
  ``ValueError("All tail values are the same")`` instead of returning a fit.
- ``az.rhat``/``az.ess``/``az.summary`` exist; ``rhat``/``ess`` return a ``DataTree`` (indexable by
  variable name as before).
"""
import os
import warnings

import numpy as np
import xarray as xr

from ..errors import PyprogenError
from ..io import atomic_path

with warnings.catch_warnings():  # some 0.x releases announce the 1.x refactor on import
    warnings.simplefilter("ignore", FutureWarning)
    import arviz as az


def from_mcmc(mcmc, *, dims=None, sample_stats=None):
    """``InferenceData`` of a finished ``pyro.infer.MCMC`` run: groups ``posterior``, ``sample_stats``,
    ``log_likelihood`` (log p(x | z) per draw, recomputed from the model) and ``observed_data``.

    :param dims: ArviZ ``dims`` per site name.
    :param sample_stats: extra ``{name: array (chain, draw)}`` added to ``sample_stats``.
    """
    idata = az.from_pyro(mcmc, log_likelihood=True, dims=dims)
    for key, values in (sample_stats or {}).items():
        idata.sample_stats[key] = (("chain", "draw"), np.asarray(values))
    return idata


def from_draws(posterior, *, log_likelihood=None, observed_data=None, dims=None, attrs=None):
    """``InferenceData`` from arrays shaped ``(chain, draw, ...)`` (``az.from_dict``)."""
    return az.from_dict(posterior=posterior, log_likelihood=log_likelihood or None, observed_data=observed_data,
                        dims=dims, attrs=attrs)


def concat_chains(idatas):
    """Join runs of one chain each along ``chain``."""
    return idatas[0] if len(idatas) == 1 else az.concat(*idatas, dim="chain")


def psis(log_weights, reff=1.0):
    """Pareto-smoothed log weights and k̂: ``log_weights`` ``(N, S)`` (samples last) -> ``((N, S), (N,))``."""
    smoothed, k = az.psislw(np.asarray(log_weights, dtype=np.float64), reff=reff)
    return np.asarray(smoothed), np.array(k, dtype=np.float64, ndmin=1)


def rhat(idata):
    """Rank-normalised split r̂ per variable and element (``xarray.Dataset``)."""
    return az.rhat(idata)


def ess(idata, method="bulk"):
    """Effective sample size, ``method`` ``"bulk"`` or ``"tail"`` (``xarray.Dataset``)."""
    return az.ess(idata, method=method)


def summary(idata, **kwargs):
    """``az.summary`` (a ``pandas.DataFrame`` with mean, sd, HDI, ESS and r̂ per element)."""
    return az.summary(idata, **kwargs)


def point_dataset(variables, point):
    """A group of per-point variables: ``{name: values (N,)}`` on the ``point`` coordinate."""
    return xr.Dataset({k: ("point", np.asarray(v, dtype=float)) for k, v in variables.items()},
                      coords={"point": point})


def with_groups(idata, groups):
    """A copy of ``idata`` with extra groups ``{name: xarray.Dataset}`` (names outside ArviZ's schema allowed)."""
    out = idata.copy()
    with warnings.catch_warnings():  # ArviZ warns that these group names are not in its schema
        warnings.simplefilter("ignore", UserWarning)
        out.add_groups(groups)
    return out


def group_names(idata):
    """The group names of ``idata``, e.g. ``["posterior", "log_likelihood", ...]``."""
    return list(idata.groups())


def save_netcdf(idata, path):
    """Write ``idata`` to netCDF atomically (temp file, fsync, rename)."""
    if "\x00" in os.fspath(path):
        raise PyprogenError(f"out: could not write {os.fspath(path)!r} (embedded null byte)")
    try:
        with atomic_path(path) as tmp:
            idata.to_netcdf(tmp)
    except OSError as exc:  # an unwritable directory, a full disk
        raise PyprogenError(f"out: could not write {os.fspath(path)!r} ({exc.strerror or exc})") from exc


def load_netcdf(path):
    """Read an ``InferenceData`` written by :func:`save_netcdf`."""
    return az.from_netcdf(path)
