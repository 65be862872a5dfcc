"""The stability study: no import cycle or private training loop, the drift rule, the end-to-end quick study
(stacked == alone for every loss and the hand-written reference runs: tests/experiments/test_stacked_runs.py)."""
import inspect
import json
import math
import subprocess
import sys
import time

import pytest
import torch

from pyprogen.errors import PyprogenError
from pyprogen.experiments import stability, stacked_runs
from pyprogen.experiments.stability import run_study, stability_table, study_config
from pyprogen.experiments.stability_report import drift


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)  # tiny networks: one thread is faster than two on a shared 2-core machine


def test_no_import_cycle_and_no_private_training_loop():
    """stability_report does not import stability; the study trains through AdversarialSVI (no loop of its own)."""
    code = ("import sys, pyprogen.experiments.stability_report; "
            "print('pyprogen.experiments.stability' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
    for module in (stability, stacked_runs):
        source = inspect.getsource(module)
        assert "backward(" not in source and "zero_grad(" not in source and "torch.optim" not in source


def test_drift_rule():
    mu, sigma = 4.0, 1.25
    # gets within e = 0.04 at epoch 1, ends at e = (1 + 0.5)/1.25 = 1.2: drifted
    assert drift([0.0, 4.05, 5.0], [0.1, 1.25, 0.75], mu, sigma, 0.1, 0.2) == (True, pytest.approx(0.04),
                                                                               pytest.approx(1.2))
    assert drift([0.0, 4.05, 4.1], [0.1, 1.25, 1.3], mu, sigma, 0.1, 0.2)[0] is False  # stays close
    assert drift([0.0, 2.0, 3.0], [0.1, 1.0, 1.0], mu, sigma, 0.1, 0.2)[0] is False  # never got close
    assert drift([0.0], [1.0], math.nan, math.nan, 0.1, 0.2) == (None, None, None)


def test_quick_study_end_to_end(tmp_path):
    t0, c0 = time.perf_counter(), time.process_time()
    result = run_study(quick=True, out=str(tmp_path), progress=False)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    cfg = result["config"]
    assert cfg["targets"] == ["Normal(4, 1.25)", "Beta(2, 5)"] and cfg["methods"] == ["gan", "wgan-gp", "gan-dp"]
    assert len(result["results"]) == 2 * 3 * 3 * cfg["seeds"]
    saved = json.loads((tmp_path / "stability.json").read_text())
    assert set(saved["noise_floor"]) == set(cfg["targets"])
    for floor in saved["noise_floor"].values():
        assert {"hist_kl", "kde_kl", "w1"} <= set(floor)
        assert 0 < floor["hist_kl"] < 0.3 and 0 < floor["w1"] < 0.2  # 2,000-draws: floor ≈ 0.08-0.1 and ≈ 0.05
    keys = {"target", "method", "lr", "seed", "hist_kl", "hist_kl_sd", "kde_kl", "w1", "final_mean", "final_std",
            "true_mean", "true_std", "drifted", "trajectory"}
    for entry in saved["results"]:
        assert keys <= set(entry)
        assert entry["trajectory"]["epoch"] == list(range(cfg["epochs"] + 1))
        assert len(entry["trajectory"]["mean"]) == cfg["epochs"] + 1
    beta = [e for e in saved["results"] if e["target"] == "Beta(2, 5)"][0]
    assert beta["true_mean"] == pytest.approx(2 / 7) and beta["true_std"] == pytest.approx(math.sqrt(10 / 392))
    assert len(saved["long_run"]) == 2 * cfg["seeds"]
    assert saved["long_run"][0]["trajectory"]["epoch"][-1] == cfg["long_epochs"]
    table = (tmp_path / "stability.md").read_text()
    assert table == stability_table(result)
    assert table.count("| gan-dp |") == 2 * 3 + 0 and table.count("| wgan-gp |") == 2 * 3 + 2
    for name in saved["figures"]:
        png = (tmp_path / name).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert len(saved["figures"]) == 3 + 2
    assert set(saved["timing_seconds"]) == {"gan", "wgan-gp", "gan-dp", "long wgan-gp", "total"}
    print(f"quick study: {seconds:.1f} s wall, {cpu:.1f} s CPU")


@pytest.mark.parametrize("kwargs, words", [
    (dict(targets=["Foo(1)"]), "unknown distribution"),
    (dict(methods=["nope"]), "unknown adversarial loss"),
    (dict(lrs=[-1.0]), "lr"),
    (dict(seeds=0), "seeds"),
    (dict(epochs=0), "epochs"),
])
def test_bad_arguments_raise(kwargs, words):
    with pytest.raises(PyprogenError, match=words):
        study_config(**kwargs)
