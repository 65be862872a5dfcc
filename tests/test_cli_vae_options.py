"""``pyprogen train --guide/--flow-length/--prior/--prior-components`` for VAE-family models (built, recorded in
config.toml, checked on --resume, refused in one line elsewhere) and ``pyprogen sample RUN --label Y`` for the
class-conditional models (cvae, m2)."""
import os
import tomllib

import numpy as np
import pytest
import torch

from pyprogen.cli import main
from pyprogen.models import build
from pyprogen.seeding import set_seed
from pyprogen.train import load
from pyprogen.train.checkpoint import save_checkpoint

FAST = ["--epochs", "1", "--latent-dim", "2", "--batch-size", "50", "--num-particles", "5", "--no-progress"]


@pytest.fixture(scope="module")
def bits(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    rng = np.random.RandomState(0)
    probs = np.linspace(0.05, 0.95, 16)
    np.savez(d / "bits.npz", train=(rng.rand(200, 16) < probs).astype(np.uint8),
             test=(rng.rand(50, 16) < probs).astype(np.uint8))
    return str(d / "bits.npz")


@pytest.fixture(scope="module")
def flow_run(bits, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("runs") / "flow")
    assert main(["train", "vae", "--data", bits, "--guide", "planar", "--flow-length", "3", "--prior", "mog",
                 "--prior-components", "4", "--out", out, *FAST]) == 0
    return out


def test_guide_and_prior_flags_build_the_model_and_are_recorded(flow_run, capsys):
    model = load(flow_run)
    assert (model.guide_name, model.flow_length, model.prior_name) == ("planar", 3, "mog")
    assert len(model.flow.steps) == 3 and model.latent_prior.logits.shape == (4,)
    config = tomllib.load(open(os.path.join(flow_run, "config.toml"), "rb"))
    assert {k: config[k] for k in ("guide", "flow-length", "prior", "prior-components")} == {
        "guide": "planar", "flow-length": 3, "prior": "mog", "prior-components": 4}
    capsys.readouterr()
    assert main(["evaluate", flow_run, "--json", "--num-particles", "5"]) == 0
    assert "nll_nats" in capsys.readouterr().out


@pytest.mark.parametrize("flags, message", [
    (["--guide", "iaf"], "resume: guide was 'planar' in the run, got 'iaf'"),
    (["--flow-length", "2"], "resume: flow-length was 3 in the run, got 2"),
    (["--prior", "vamp"], "resume: prior was 'mog' in the run, got 'vamp'"),
    (["--prior-components", "5"], "resume: prior-components was 4 in the run, got 5"),
])
def test_resume_refuses_another_guide_or_prior(flow_run, bits, flags, message, capsys):
    argv = ["train", "vae", "--data", bits, "--out", flow_run, "--resume", "--epochs", "2", "--no-progress", *flags]
    assert main(argv) == 2
    assert capsys.readouterr().err.strip() == f"pyprogen: error: {message}"


def test_resume_with_the_same_guide_continues(bits, tmp_path):
    out = str(tmp_path / "r")
    assert main(["train", "beta-vae", "--data", bits, "--guide", "iaf", "--out", out, *FAST]) == 0
    assert main(["train", "beta-vae", "--data", bits, "--guide", "iaf", "--out", out, "--resume", "--epochs", "2",
                 "--num-particles", "5", "--no-progress"]) == 0
    assert load(out).guide_name == "iaf"


def test_any_vae_family_model_takes_a_guide_and_a_prior(bits, tmp_path):
    out = str(tmp_path / "f")
    assert main(["train", "factor-vae", "--data", bits, "--guide", "radial", "--prior", "vamp",
                 "--prior-components", "3", "--out", out, *FAST]) == 0
    model = load(out)
    assert (model.guide_name, model.prior_name) == ("radial", "vamp") and model.latent_prior.pseudo_inputs.shape[0] == 3


@pytest.mark.parametrize("model, flags, needle", [
    ("gan", ["--guide", "iaf"], "guide: model 'gan' has no guide option"),
    ("m2", ["--prior", "vamp"], "prior: model 'm2' has no prior option"),
    ("vae", ["--flow-length", "0"], "expected an integer in [1, 1000], got '0'"),
    ("vae", ["--guide", "nope"], "invalid choice: 'nope'"),
    ("vae", ["--flow-length", "4"], "flow-length: applies to a flow guide"),
    ("vae", ["--guide", "diagonal", "--flow-length", "4"], "flow-length: applies to a flow guide"),
    ("vae", ["--prior-components", "3"], "prior-components: applies to a mixture prior"),
    ("vae", ["--prior-components", "0", "--prior", "mog"], "expected an integer in [1, 100000], got '0'"),
])
def test_bad_guide_or_prior_flags_exit_2_one_line(bits, tmp_path, model, flags, needle, capsys):
    out = tmp_path / "bad"
    assert main(["train", model, "--data", bits, "--out", str(out), "--epochs", "1", "--no-progress", *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (out / "checkpoint.pt").exists() and not (out / "config.toml").exists()


# -- pyprogen sample --label ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def m2_run(bits, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("runs") / "m2")
    assert main(["train", "m2", "--data", bits, "--out", out, *FAST]) == 0
    return out


@pytest.fixture(scope="module")
def cvae_run(tmp_path_factory):
    """A conditional VAE saved as a run directory (built directly: ``bits`` has no labels for ``pyprogen train``)."""
    out = tmp_path_factory.mktemp("runs") / "cvae"
    out.mkdir()
    set_seed(0)
    model = build("cvae", (16,), num_classes=4, latent_dim=2, hidden=(8,))
    save_checkpoint(str(out), {"model": model.state_dict(), "config": model.config})
    return str(out)


@pytest.mark.parametrize("run", ["m2_run", "cvae_run"])
def test_sample_label_draws_from_the_class_conditional(run, request, tmp_path):
    out = request.getfixturevalue(run)
    assert main(["sample", out, "-n", "6", "--label", "3", "--seed", "7", "--out", str(tmp_path / "s.npy")]) == 0
    model = load(out)
    set_seed(7)
    assert np.array_equal(np.load(tmp_path / "s.npy"), model.sample(6, label=3).numpy())
    means = []
    for label in (1, 3):  # the same z, another label: other mean images
        set_seed(7)
        means.append(model.sample(6, mean=True, label=label))
    assert not torch.allclose(*means)
    assert main(["sample", out, "-n", "4", "--label", "0", "--out", str(tmp_path / "s.png")]) == 0
    assert os.path.getsize(tmp_path / "s.png") > 1000


@pytest.mark.parametrize("run, label, needle", [
    ("m2_run", "10", "label: expected a class in 0..9 for this m2 model, got 10"),
    ("m2_run", "-1", "label: expected a class in 0..9"),
    ("cvae_run", "4", "label: expected a class in 0..3 for this cvae model, got 4"),
    ("flow_run", "3", "label: model 'vae' is not class-conditional (--label is for cvae and m2)"),
    ("m2_run", "three", "expected an integer class label, got 'three'"),
])
def test_sample_label_errors_are_one_line(run, label, needle, request, tmp_path, capsys):
    out = request.getfixturevalue(run)
    assert main(["sample", out, "--label", label, "--out", str(tmp_path / "s.npy")]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1 and not (tmp_path / "s.npy").exists()
