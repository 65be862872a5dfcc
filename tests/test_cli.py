"""Every CLI command end to end in a temp dir (stability, compare and diagnose have their own tests)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from pyprogen.cli import main


@pytest.fixture(scope="module")
def binary_npz(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    rng = np.random.RandomState(0)
    probs = np.linspace(0.05, 0.95, 16)
    np.savez(d / "bits.npz", train=(rng.rand(400, 16) < probs).astype(np.uint8),
             test=(rng.rand(100, 16) < probs).astype(np.uint8))
    return str(d / "bits.npz")


def test_train_evaluate_sample(tmp_path, binary_npz, capsys):
    out = str(tmp_path / "run")
    assert main(["train", "vae", "--data", binary_npz, "--epochs", "3", "--latent-dim", "2", "--lr", "0.01",
                 "--batch-size", "50", "--out", out, "--num-particles", "200", "--no-progress"]) == 0
    for name in ("checkpoint.pt", "metrics.json", "samples.png", "loss.png"):
        assert os.path.isfile(os.path.join(out, name)), name
    final = json.load(open(os.path.join(out, "metrics.json")))[-1]
    # 16 independent Bernoulli pixels: the best possible NLL is their entropy (≈ 8.9 nats); a 3-epoch
    # model must beat the uniform model's 16·log 2 ≈ 11.09 nats and can't beat the entropy by much.
    entropy = float(-(np.linspace(0.05, 0.95, 16) * np.log(np.linspace(0.05, 0.95, 16))
                      + (1 - np.linspace(0.05, 0.95, 16)) * np.log(1 - np.linspace(0.05, 0.95, 16))).sum())
    assert entropy - 0.5 < final["nll_nats"] < 16 * np.log(2)
    assert final["elbo_nats"] <= -final["nll_nats"] + 0.05  # ELBO ≤ log p(x)
    capsys.readouterr()
    assert main(["evaluate", out, "--json", "--num-particles", "200"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert abs(result["nll_nats"] - final["nll_nats"]) < 0.3
    assert main(["sample", out, "-n", "16", "--out", str(tmp_path / "s.npy")]) == 0
    s = np.load(tmp_path / "s.npy")
    assert s.shape == (16, 16) and set(np.unique(s)) <= {0.0, 1.0}
    assert main(["sample", out, "-n", "16", "--out", str(tmp_path / "s.png")]) == 0
    assert os.path.getsize(tmp_path / "s.png") > 1000


def test_train_on_toy_mixture_reports_modes(tmp_path, capsys):
    out = str(tmp_path / "ring")
    assert main(["train", "vae", "--data", "ring8", "--epochs", "2", "--latent-dim", "2",
                 "--out", out, "--num-particles", "10", "--no-progress"]) == 0
    final = json.load(open(os.path.join(out, "metrics.json")))[-1]
    assert 0 <= final["modes_covered"] <= 8 and 0.0 <= final["high_quality_fraction"] <= 1.0


@pytest.mark.parametrize("argv, needle", [
    (["train", "vae", "--data", "nope"], "unknown data set"),
    (["train", "vea", "--data", "ring8"], "unknown model"),
    (["train", "vae", "--data", "ring8", "--epochs", "0"], "positive integer"),
    (["train", "vae", "--data", "ring8", "--lr", "nan"], "positive"),
    (["train", "vae", "--data", "ring8", "--likelihood", "bernoulli", "--epochs", "1"], "0/1"),
    (["evaluate", "/does/not/exist"], "no such directory"),
    (["sample", "/does/not/exist", "--out", "x.gif"], "png or .npy"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_exit_2_one_line(argv, needle, capsys, tmp_path):
    assert main(argv + (["--out", str(tmp_path / "o")] if argv[0] == "train" else [])) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_python_dash_m_entry_point():
    proc = subprocess.run([sys.executable, "-m", "pyprogen", "train", "vae", "--data", "nope"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
