"""``pyprogen compare``: a tiny budget over two seeds through ``run_compare``, checked against the per-seed
JSON (mean ± sd by hand) and against recomputation; the same numbers from one or two worker processes;
the no-argument default end to end (slow)."""
import json
import math
import os
import statistics
import subprocess
import sys

import pytest
import torch

from pyprogen.cli import main
from pyprogen.errors import PyprogenError
from pyprogen.experiments.compare import METRICS, compare_table, load_splits, run_compare
from pyprogen.experiments.recipes import evaluation_rows
from pyprogen.metrics.likelihood import log_likelihood
from pyprogen.train import load

KEYS = {"name", "family", "nll_nats", "fid", "precision", "recall", "classes_covered", "active_units", "mig",
        "seconds", "parameters"}
TINY = dict(epochs=1, n_train=128, n_test=32, n_samples=40, num_particles=4, classifier_train=600,
            classifier_epochs=1)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare")
    torch.manual_seed(0)
    result = run_compare(models=["vae", "gan-dp", "pixelcnn"], out=str(out), progress=False, seeds=2, workers=1,
                         cache_dir=str(out / "cache"), **TINY)
    return out, result


def test_compare_json_follows_the_contract(tiny):
    out, result = tiny
    with open(out / "compare.json") as f:
        on_disk = json.load(f, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c} in compare.json"))
    assert on_disk == json.loads(json.dumps(result))
    assert result["config"]["seeds"] == [0, 1] and result["config"]["torch_threads"] == 1
    assert result["command"] is None and "torch" in result["machine"]  # budget overrides: no CLI equivalent
    rows = {r["name"]: r for r in result["models"]}
    assert list(rows) == ["vae", "gan-dp", "pixelcnn"]
    for r in rows.values():
        assert KEYS <= set(r) and {f"{k}_sd" for k in KEYS - {"name", "family"}} <= set(r)
        assert all(v is None or not isinstance(v, float) or math.isfinite(v) for v in r.values())
        assert 0 <= r["precision"] <= 1 and 0 <= r["recall"] <= 1 and 0 <= r["classes_covered"] <= 10
        assert sum(r["class_counts"]) == 2 * TINY["n_samples"] and r["fid"] >= 0 and r["seconds"] > 0
    # no likelihood for the GAN, no encoder for the GAN or the PixelCNN, no factors on MNIST
    assert rows["gan-dp"]["nll_nats"] is None and rows["gan-dp"]["nll_nats_sd"] is None
    assert rows["gan-dp"]["family"] == "GAN"
    assert rows["gan-dp"]["active_units"] is None and rows["pixelcnn"]["active_units"] is None
    assert 0 <= rows["vae"]["active_units"] <= 16
    assert all(r["mig"] is None for r in rows.values())
    for name in ("samples", "reconstructions", "interpolations", "traversals"):
        assert os.path.isfile(result["config"]["figures"][name])


def test_mean_and_sd_equal_a_hand_computation_over_the_per_seed_json(tiny):
    out, result = tiny
    for row in result["models"]:
        per_seed = []
        for seed in (0, 1):
            with open(out / row["name"] / f"seed-{seed}" / "result.json") as f:
                per_seed.append(json.load(f))
        assert [r["seed"] for r in per_seed] == [0, 1]
        for metric in METRICS:
            values = [r[metric] for r in per_seed]
            if values[0] is None:
                assert row[metric] is None and row[f"{metric}_sd"] is None
                continue
            mean = sum(values) / 2
            sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (2 - 1))
            assert row[metric] == pytest.approx(mean, rel=1e-12, abs=1e-12), metric
            assert row[f"{metric}_sd"] == pytest.approx(sd, rel=1e-9, abs=1e-12), metric
            assert row[f"{metric}_sd"] == pytest.approx(statistics.stdev(values), rel=1e-9, abs=1e-12)
        assert [p["nll_nats"] for p in row["per_seed"]] == [r["nll_nats"] for r in per_seed]
    vae = next(r for r in result["models"] if r["name"] == "vae")
    assert vae["nll_nats_sd"] > 0  # two seeds really differ


def test_compare_numbers_match_recomputation(tiny):
    """PixelCNN's NLL is its exact log-likelihood; parameters are every trained weight; the VAE's IWAE
    bound lies below its ELBO's NLL."""
    out, result = tiny
    rows = {r["name"]: r for r in result["models"]}
    _, test = load_splits("binarized-mnist")
    x = test.x[evaluation_rows(len(test), TINY["n_test"])]  # a fixed random subset, as compare scores
    pixelcnn = load(str(out / "pixelcnn" / "seed-0"))
    with torch.no_grad():
        exact = -float(pixelcnn.log_prob(x).mean())
    assert rows["pixelcnn"]["per_seed"][0]["nll_nats"] == pytest.approx(exact, rel=1e-5)
    assert rows["pixelcnn"]["parameters"] == sum(p.numel() for p in pixelcnn.parameters())
    gan = load(str(out / "gan-dp" / "seed-0"))
    assert rows["gan-dp"]["parameters"] == sum(p.numel() for p in gan.generator.parameters()) + sum(
        p.numel() for p in gan.critic.parameters())
    vae_row = rows["vae"]["per_seed"][0]
    assert vae_row["nll_nats"] <= -vae_row["elbo_nats"] + 1.0
    vae = load(str(out / "vae" / "seed-0"))
    torch.manual_seed(1)
    again = -float(log_likelihood(vae.model, vae.guide, x, num_particles=200).mean())
    assert vae_row["nll_nats"] == pytest.approx(again, rel=0.03)


def test_compare_table_shows_mean_and_sd(tiny):
    table = compare_table(tiny[1])
    lines = table.splitlines()
    assert lines[0].startswith("| model | family | NLL (nats) |") and "MIG" not in lines[0]
    gan = next(line for line in lines if line.startswith("| gan-dp |"))
    assert gan.split("|")[3].strip() == "n/a"
    vae = next(r for r in tiny[1]["models"] if r["name"] == "vae")
    assert f"{vae['nll_nats']:.2f} ± {vae['nll_nats_sd']:.2f}" in table
    assert "mean ± sd over 2 seeds (0, 1)" in table


def test_one_or_two_workers_give_identical_numbers(tmp_path):
    """Each job runs on one torch thread from its seed: the worker count cannot change a number."""
    budget = dict(TINY, n_test=16, n_samples=20)
    runs = [run_compare(models=["vae"], out=str(tmp_path / f"w{w}"), progress=False, seeds=2, workers=w,
                        cache_dir=str(tmp_path / "cache"), **budget) for w in (1, 2)]
    strip = [{k: v for k, v in r.items() if "seconds" not in k} for run in runs for r in run["models"][0]["per_seed"]]
    assert strip[:2] == strip[2:]


def test_compare_rejects_unknown_entries_budget_keys_and_seeds(tmp_path, capsys):
    with pytest.raises(PyprogenError, match="models: unknown entry 'nope'"):
        run_compare(models=["nope"], out=str(tmp_path))
    with pytest.raises(PyprogenError, match="overrides"):
        run_compare(models=["vae"], out=str(tmp_path), n_epochs=3)
    with pytest.raises(PyprogenError, match="seeds"):
        run_compare(models=["vae"], out=str(tmp_path), seeds=0)
    assert main(["compare", "--models", "vae,nope", "--out", str(tmp_path)]) == 2
    assert "unknown entry 'nope'" in capsys.readouterr().err
    assert main(["compare", "--seeds", "0", "--out", str(tmp_path)]) == 2


@pytest.mark.slow
def test_compare_default_end_to_end(tmp_path):
    """``pyprogen compare`` with no arguments: every installed family, three seeds, table on stdout, JSON
    and figures."""
    env = dict(os.environ, PYPROGEN_CACHE=str(tmp_path / "cache"))
    proc = subprocess.run([sys.executable, "-m", "pyprogen", "compare", "--out", str(tmp_path / "out"),
                           "--no-progress"], capture_output=True, text=True, env=env, timeout=3600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(tmp_path / "out" / "compare.json") as f:
        result = json.load(f)
    names = [r["name"] for r in result["models"]]
    assert names == result["config"]["models"] and len(names) + len(result["config"]["left_out"]) == 8
    assert result["command"] == "pyprogen compare" and result["config"]["seeds"] == [0, 1, 2]
    assert all(f"| {n} |" in proc.stdout for n in names)
