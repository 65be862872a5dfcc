"""Fixtures of the experiments tests: ``fit_calls`` replaces ``runs.fit`` by a recorder that stops the run."""
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
