"""``pyprogen compare``: a tiny budget through ``run_compare`` checked against recomputation, and the
no-argument default end to end (slow)."""
import json
import math
import os
import subprocess
import sys

import pytest
import torch

from pyprogen.cli import main
from pyprogen.errors import PyprogenError
from pyprogen.experiments.compare import compare_table, load_splits, run_compare
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
    result = run_compare(models=["vae", "gan-dp", "pixelcnn"], out=str(out), progress=False,
                         cache_dir=str(out / "cache"), **TINY)
    return out, result


def test_compare_json_follows_the_contract(tiny):
    out, result = tiny
    with open(out / "compare.json") as f:
        on_disk = json.load(f, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c} in compare.json"))
    assert on_disk == json.loads(json.dumps(result))
    rows = {r["name"]: r for r in result["models"]}
    assert list(rows) == ["vae", "gan-dp", "pixelcnn"]
    for r in rows.values():
        assert KEYS <= set(r)
        assert all(v is None or not isinstance(v, float) or math.isfinite(v) for v in r.values())
        assert 0 <= r["precision"] <= 1 and 0 <= r["recall"] <= 1 and 0 <= r["classes_covered"] <= 10
        assert sum(r["class_counts"]) == TINY["n_samples"] and r["fid"] >= 0 and r["seconds"] > 0
    # no likelihood for the GAN, no encoder for the GAN or the PixelCNN, no factors on MNIST
    assert rows["gan-dp"]["nll_nats"] is None and rows["gan-dp"]["family"] == "GAN"
    assert rows["gan-dp"]["active_units"] is None and rows["pixelcnn"]["active_units"] is None
    assert 0 <= rows["vae"]["active_units"] <= 16
    assert all(r["mig"] is None for r in rows.values())
    assert os.path.isfile(result["config"]["figures"]["samples"])
    assert os.path.isfile(result["config"]["figures"]["traversals"])


def test_compare_numbers_match_recomputation(tiny):
    """PixelCNN's NLL is its exact log-likelihood; parameters are every trained weight; the VAE's IWAE
    bound lies below its ELBO's NLL."""
    out, result = tiny
    rows = {r["name"]: r for r in result["models"]}
    _, test = load_splits("mnist")
    x = (test.x[:TINY["n_test"]] > 0.5).float()
    pixelcnn = load(str(out / "pixelcnn"))
    with torch.no_grad():
        exact = -float(pixelcnn.log_prob(x).mean())
    assert rows["pixelcnn"]["nll_nats"] == pytest.approx(exact, rel=1e-5)
    assert rows["pixelcnn"]["parameters"] == sum(p.numel() for p in pixelcnn.parameters())
    gan = load(str(out / "gan-dp"))
    assert rows["gan-dp"]["parameters"] == sum(p.numel() for p in gan.generator.parameters()) + sum(
        p.numel() for p in gan.critic.parameters())
    assert rows["vae"]["nll_nats"] <= -rows["vae"]["elbo_nats"] + 1.0
    vae = load(str(out / "vae"))
    torch.manual_seed(1)
    again = -float(log_likelihood(vae.model, vae.guide, x, num_particles=200).mean())
    assert rows["vae"]["nll_nats"] == pytest.approx(again, rel=0.03)


def test_compare_table_marks_missing_metrics(tiny):
    table = compare_table(tiny[1])
    lines = table.splitlines()
    assert lines[0].startswith("| model | family | NLL (nats) |") and "MIG" not in lines[0]
    gan = next(line for line in lines if line.startswith("| gan-dp |"))
    assert gan.split("|")[3].strip() == "n/a"
    assert "128 training images, 1 epochs" in table


def test_compare_rejects_unknown_entries_and_budget_keys(tmp_path, capsys):
    with pytest.raises(PyprogenError, match="models: unknown entry 'nope'"):
        run_compare(models=["nope"], out=str(tmp_path))
    with pytest.raises(PyprogenError, match="overrides"):
        run_compare(models=["vae"], out=str(tmp_path), n_epochs=3)
    assert main(["compare", "--models", "vae,nope", "--out", str(tmp_path)]) == 2
    assert "unknown entry 'nope'" in capsys.readouterr().err


@pytest.mark.slow
def test_compare_default_end_to_end(tmp_path):
    """``pyprogen compare`` with no arguments: every installed family, table on stdout, JSON and figures."""
    env = dict(os.environ, PYPROGEN_CACHE=str(tmp_path / "cache"))
    proc = subprocess.run([sys.executable, "-m", "pyprogen", "compare", "--out", str(tmp_path / "out"),
                           "--no-progress"], capture_output=True, text=True, env=env, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(tmp_path / "out" / "compare.json") as f:
        result = json.load(f)
    names = [r["name"] for r in result["models"]]
    assert names == result["config"]["models"] and len(names) + len(result["config"]["left_out"]) == 8
    assert all(f"| {n} |" in proc.stdout for n in names)
