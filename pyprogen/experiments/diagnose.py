"""``pyprogen diagnose DIR``: the ArviZ check of a trained run directory on its test points.

Loads the model of a run directory (:func:`pyprogen.train.load`), takes ``points`` test points of its
data (a fixed random subset, :func:`~pyprogen.experiments.recipes.evaluation_rows`, as ``train`` and
``compare`` score: binarized MNIST's test file is sorted by digit, so its first rows are all zeros), runs :func:`pyprogen.diagnostics.check` (NUTS reference, PSIS k̂ of Vehtari
et al. 2024, the amortisation gap of Cremer et al. 2018) and writes the files of
:func:`pyprogen.diagnostics.report.write_report` to ``out`` (default ``DIR/diagnostics``).
"""
import os
import time

from ..data import as_tensor, load_dataset
from ..diagnostics import check
from ..diagnostics.report import write_report
from ..errors import PyprogenError, expect
from ..train import load
from .recipes import evaluation_rows


def run_points(model, data, points):
    """``points`` test points (a fixed random subset, :func:`evaluation_rows`; all, in order, if there are no
    more) of ``data`` (name, array or dataset) or of the run's own data set."""
    if data is None:
        data = (getattr(model, "config", None) or {}).get("data")
        if data is None:
            raise PyprogenError("data: the run directory does not name its data set; pass --data NAME|FILE")
    if isinstance(data, str):
        data = load_dataset(data, split="test")
    x = as_tensor(data, "data")  # tensors, arrays, datasets; uint8 images scaled to [0, 1]
    expect(tuple(x.shape[1:]) == tuple(model.data_shape), "data", f"points of shape {tuple(model.data_shape)}",
           tuple(x.shape[1:]))
    if points < len(x):  # all of them, in order, when there are no more than ``points``
        x = x[evaluation_rows(len(x), points)]
    if hasattr(model, "likelihood"):
        model.likelihood.check(x, "data")
    return x


def diagnose_dir(run_dir, *, data=None, points=100, out=None, num_samples=500, warmup_steps=500, num_chains=2,
                 num_particles=1000, local_steps=500, seed=0, progress=True, jit_compile=True):
    """Run :func:`check` on a trained run directory; write the report files and return the result dict
    (with ``"seconds"`` and ``"files"`` added)."""
    expect(isinstance(points, int) and not isinstance(points, bool) and points >= 1, "points", "a positive integer",
           points)
    start = time.perf_counter()
    model = load(run_dir)
    if not getattr(model, "latent_dim", 0):
        raise PyprogenError(f"run directory {run_dir!r}: the model has no latent variables to diagnose")
    x = run_points(model, data, points)
    result = check(model.model, model.guide, x, num_samples=num_samples, warmup_steps=warmup_steps,
                   num_chains=num_chains, num_particles=num_particles, local_steps=local_steps, seed=seed,
                   progress=progress, jit_compile=jit_compile)
    result["seconds"] = time.perf_counter() - start
    result["files"] = write_report(result, os.path.join(run_dir, "diagnostics") if out is None else out)
    return result
