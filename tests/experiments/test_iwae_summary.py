"""benchmarks/iwae_equal_compute.py: the IWAE-at-equal-compute table is a function of the run files."""
import json
import math

import pytest


def _run(loss, nll, se, epochs, cpu_s=3600.0):
    return {"loss": loss, "train_cpu_seconds": cpu_s, "cpu_minutes_budget": 60.0, "epochs_trained": epochs,
            "epochs_planned": epochs, "stopped_by_budget": False, "epoch_kept": epochs, "kl_warmup_updates": 0,
            "test_nll_nats": nll, "test_nll_stderr": se, "test_elbo_nats": -nll - 5, "eval_particles": 5000,
            "test_points": 10000}


def _write(tmp_path, runs):
    for name, d in runs.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(d))


def test_best_k_and_its_gap_to_the_vae_equal_a_hand_computation(tmp_path, benchmark_script):
    _write(tmp_path, {"vae_long_120": _run("JitTraceMeanField_ELBO", 88.30, 0.23, 120, 900.0),
                      "iwae_k5": _run("IWAE(k=5)", 87.10, 0.22, 170), "iwae_k10": _run("IWAE(k=10)", 86.90, 0.21, 105),
                      "iwae_k50": _run("IWAE(k=50)", 87.60, 0.22, 25)})
    out = benchmark_script("iwae_equal_compute").summarise(str(tmp_path))
    assert out["best_iwae_k"] == 10 and out["order_by_nll"] == [10, 5, 50]
    assert out["vae_minus_best_iwae_nats"] == pytest.approx(1.40, abs=1e-9)
    assert out["vae_minus_best_iwae_in_combined_se"] == round(1.40 / math.hypot(0.23, 0.21), 1)  # 4.5
    assert out["best_iwae_beats_vae"] is True
    rows = {r["k"]: r for r in out["rows"]}
    assert rows[1]["train_cpu_minutes"] == 15.0 and rows[50]["passes_share_of_burda"] == round(25 / 3280, 4)


def test_a_gap_within_two_standard_errors_is_not_a_win(tmp_path, benchmark_script):
    _write(tmp_path, {"vae_long_120": _run("JitTraceMeanField_ELBO", 88.30, 0.23, 120),
                      **{f"iwae_k{k}": _run(f"IWAE(k={k})", 88.0 + k / 100, 0.22, 10) for k in (5, 10, 50)}})
    out = benchmark_script("iwae_equal_compute").summarise(str(tmp_path))
    assert out["best_iwae_k"] == 5 and out["best_iwae_beats_vae"] is False  # 0.25 nats < 2 x 0.32


def test_a_run_still_evaluating_is_refused_in_one_line(tmp_path, benchmark_script):
    _write(tmp_path, {"vae_long_120": _run("JitTraceMeanField_ELBO", 88.30, 0.23, 120),
                      "iwae_k5": {"status": "trained; test evaluation running"}})
    with pytest.raises(SystemExit, match="iwae_k5: no test NLL yet"):
        benchmark_script("iwae_equal_compute").summarise(str(tmp_path))


def test_thread_checks_are_carried_into_the_summary_and_the_readme_sentence(tmp_path, benchmark_script):
    runs = {"vae_long_120": _run("JitTraceMeanField_ELBO", 88.30, 0.23, 120, 900.0),
            "iwae_k5": _run("IWAE(k=5)", 87.10, 0.22, 170), "iwae_k10": _run("IWAE(k=10)", 86.90, 0.21, 105),
            "iwae_k50": _run("IWAE(k=50)", 87.60, 0.22, 25)}
    runs["iwae_k10"]["thread_check"] = {"threads": 2, "epochs_compared": 3, "identical_epochs": 2,
                                        "max_abs_diff_train_loss": 0.001, "command": "c"}
    _write(tmp_path, runs)
    out = benchmark_script("iwae_equal_compute").summarise(str(tmp_path))
    checks = {r["k"]: r["thread_check"] for r in out["rows"]}
    assert checks[10] == {"threads": 2, "epochs_compared": 3, "identical_epochs": 2}
    assert checks[1] is None and checks[5] is None
    from pyprogen.experiments.readme_tables import _iwae_threads
    sentence = _iwae_threads(out["rows"])
    assert "IWAE(k=10) 2 of 3" in sentence and "differ in some epochs" in sentence
    assert "No thread check for: JitTraceMeanField_ELBO, IWAE(k=5), IWAE(k=50)." in sentence
