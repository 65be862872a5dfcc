"""Fixtures of the experiments tests: ``fit_calls`` replaces ``runs.fit`` by a recorder that stops the run;
``benchmark_script`` imports a script of ``benchmarks/`` (not a package) by name."""
import importlib.util
import os

import pytest

from pyprogen.experiments import runs


class Stop(Exception):
    """Raised by the recorder instead of training."""


class Calls(list):
    Stop = Stop


@pytest.fixture
def fit_calls(monkeypatch):
    """``runs.fit`` replaced by a recorder that stops the run (raises :class:`Stop`): what the command would
    train — ``{"model", "x", **fit keywords}`` per call; ``pytest.raises(fit_calls.Stop)`` around the command."""
    calls = Calls()

    def fake_fit(model, x, **kw):
        calls.append({"model": model, "x": x, **kw})
        raise Stop

    monkeypatch.setattr(runs, "fit", fake_fit)
    return calls


@pytest.fixture
def benchmark_script():
    """``benchmark_script("pixelcnn_mnist")``: the module ``benchmarks/pixelcnn_mnist.py``, freshly imported."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

    def load(name):
        spec = importlib.util.spec_from_file_location(name, os.path.join(root, "benchmarks", f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
