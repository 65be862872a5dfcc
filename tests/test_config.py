"""Config files: the TOML writer, ``train --config FILE`` (checked like flags, command line wins),
every run's ``config.toml`` (reproduces the run exactly) and ``--resume`` refusing another configuration."""
import hashlib
import math
import os
import tomllib

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pyprogen import cli
from pyprogen.config import config_actions, dumps
from pyprogen.experiments import runs

# -- the writer ------------------------------------------------------------------------------------


def test_dumps_writes_flat_toml_that_reads_back():
    table = {"model": "vae", "path": 'C:\\data\\"quoted"\n\ttab\x00\x1f\x7fé✓', "epochs": 3, "lr": 1e-05,
             "big": 1e16, "neg": -2.5, "flag": True, "off": False, "shape": [10000, 2], "names": ["a", "b,c"],
             "with space": 1, "dropped": None, "inf": math.inf}
    text = dumps(table, header="a header\nline two")
    assert text.startswith("# a header\n# line two\n")
    assert 'epochs = 3\n' in text and 'lr = 1e-05\n' in text and 'flag = true\n' in text and '"with space" = 1' in text
    assert "dropped" not in text
    back = tomllib.loads(text)
    assert back == {k: v for k, v in table.items() if v is not None}


@settings(max_examples=60, deadline=None, database=None)
@given(st.dictionaries(st.text(min_size=1, max_size=8),
                       st.one_of(st.text(max_size=12), st.integers(-2**63, 2**63 - 1), st.booleans(),
                                 st.floats(allow_nan=False), st.lists(st.integers(-5, 5), max_size=3)),
                       max_size=5))
def test_dumps_round_trips_any_flat_table(table):
    assert tomllib.loads(dumps(table)) == table


# -- train --config --------------------------------------------------------------------------------


@pytest.fixture
def captured(monkeypatch):
    """``train_run`` replaced by a recorder: what the command would train, nothing run."""
    calls = []
    monkeypatch.setattr(runs, "train_run", lambda model, data, **kw: calls.append(dict(model=model, data=data, **kw))
                        or {"loss": 1.0})
    return calls


def write(path, text):
    path.write_text(text)
    return str(path)


def test_config_file_fills_flags_and_the_command_line_wins(tmp_path, captured, capsys):
    cfg = write(tmp_path / "c.toml", 'model = "beta-vae"\ndata = "ring8"\nepochs = 7\nlr = 0.01\nbeta = 6\n'
                                      'latent-dim = 3\nno-progress = true\nlikelihood = "gaussian"\n')
    assert cli.main(["train", "--config", cfg, "--epochs", "2", "--out", str(tmp_path / "o")]) == 0
    (call,) = captured
    assert (call["model"], call["data"], call["epochs"], call["lr"], call["beta"], call["latent_dim"]) == \
        ("beta-vae", "ring8", 2, 0.01, 6.0, 3)
    assert isinstance(call["beta"], float) and call["progress"] is False and call["likelihood"] == "gaussian"
    assert call["batch_size"] is None and call["seed"] == 0  # defaults where neither says (batch: train_run's recipe)
    # an explicit flag equal to its default still wins over the file
    captured.clear()
    assert cli.main(["train", "vae", "--config", cfg, "--lr", "0.001", "--out", str(tmp_path / "o")]) == 0
    assert (captured[0]["model"], captured[0]["lr"], captured[0]["epochs"]) == ("vae", 0.001, 7)


@pytest.mark.parametrize("text, message", [
    ('model = "vae"\ndata = "ring8"\nlatent_dim = 3\n', "unknown key 'latent_dim'; write it 'latent-dim'"),
    ('model = "vae"\ndata = "ring8"\nfrobnicate = 1\n', "unknown key 'frobnicate'; expected one of batch-size,"),
    ('model = "vae"\ndata = "ring8"\nlr = "fast"\n', "lr: expected a positive finite number, got 'fast'"),
    ('model = "vae"\ndata = "ring8"\nepochs = 0\n', "epochs: expected a positive integer, got 0"),
    ('model = "vae"\ndata = "ring8"\nepochs = 1.5\n', "epochs: expected a positive integer, got 1.5"),
    ('model = "vae"\ndata = "ring8"\nseed = true\n', "seed: expected an integer in [0, 2**32), got True"),
    ('model = "vae"\ndata = "ring8"\nlatent-dim = 100000\n', "latent-dim: expected an integer in [1, 4096], got 100000"),
    ('model = "vae"\ndata = "ring8"\nlikelihood = "poisson"\n', "likelihood: expected one of bernoulli, categorical, "
                                                              "gaussian, got 'poisson'"),
    ('model = "vae"\ndata = "ring8"\nresume = "yes"\n', "resume: expected true or false, got 'yes'"),
    ('model = "vae"\ndata = 5\n', "data: expected a string, got 5"),
    ('model = "vae"\ndata = "ring8"\nimage-size = 100\n', "image-size: expected 32 or 64, got 100"),
    ('model = "vae"\ndata = "ring8"\nimage-size = 40\n', "image-size: expected one of 32, 64, got 40"),
    ('[train]\nmodel = "vae"\n', "unknown key 'train'"),
    ('model = "vae"\ndata = "ring8\n', "is not valid TOML (Illegal character"),
    ('config = "other.toml"\n', "unknown key 'config'"),
    ('model = "vea"\ndata = "ring8"\n', "model: unknown model 'vea'"),
    ('data = "ring8"\n', "required: model (or model = ... in --config FILE.toml)"),
    ('model = "vae"\n', "required: --data (or data = ... in --config FILE.toml)"),
])
def test_bad_config_is_one_line_exit_2_and_writes_nothing(tmp_path, text, message, captured, capsys):
    cfg = write(tmp_path / "bad.toml", text)
    out = tmp_path / "run"
    assert cli.main(["train", "--config", cfg, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not captured and not out.exists()


def test_missing_config_file(tmp_path, capsys):
    assert cli.main(["train", "--config", str(tmp_path / "nope.toml")]) == 2
    assert capsys.readouterr().err == f"pyprogen: error: config: no such file '{tmp_path / 'nope.toml'}'\n"


# -- the run's own config.toml ---------------------------------------------------------------------

FAST = ["--epochs", "2", "--batch-size", "100", "--num-particles", "2", "--no-progress"]


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cfgdata") / "points.npy"
    np.save(path, np.random.RandomState(0).normal(size=(300, 3)).astype(np.float32))
    return str(path)


def model_state(run):
    return torch.load(os.path.join(run, "checkpoint.pt"), weights_only=True)["model"]


def test_run_config_reproduces_the_run_parameter_for_parameter(tmp_path, data_file):
    first, second = str(tmp_path / "first"), str(tmp_path / "second")
    assert cli.main(["train", "beta-vae", "--data", data_file, "--latent-dim", "2", "--beta", "2.5", "--lr", "0.005",
                     "--seed", "11", "--grad-clip", "50", "--out", first, *FAST]) == 0
    config = tomllib.load(open(os.path.join(first, "config.toml"), "rb"))
    x = np.load(data_file)  # a .npy is the same array in every split; float32 already
    stated = {"model": "beta-vae", "data": data_file, "epochs": 2, "batch-size": 100, "lr": 0.005,
              "grad-clip": 50.0, "latent-dim": 2, "beta": 2.5, "likelihood": "gaussian", "seed": 11,
              "device": "cpu", "nproc": 1, "num-particles": 2, "no-progress": True, "precision": "fp32",
              "data-shape": [300, 3], "data-sha256": hashlib.sha256(x.tobytes()).hexdigest()}
    assert {k: config.get(k) for k in stated} == stated
    # every train flag is recorded, but --out/--resume/--config and those left unset (None: the default)
    actions = config_actions(cli._subparser(cli.build_parser(), "train"), skip=("help", "config", "out", "resume"))
    unset = {k for k, a in actions.items() if a.default is None} - {"model", "data", "latent-dim", "beta",
                                                                    "grad-clip", "likelihood", "batch-size", "lr", "epochs",
                                                                    "recipe", "precision"}  # resolved values are recorded
    assert set(config) == (set(actions) - unset) | {"data-shape", "data-sha256"}
    assert {"data-dir", "loss", "net", "image-size"} <= unset
    assert cli.main(["train", "--config", os.path.join(first, "config.toml"), "--out", second]) == 0
    a, b = model_state(first), model_state(second)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert open(os.path.join(second, "config.toml")).read() == open(os.path.join(first, "config.toml")).read()


# -- --resume against config.toml ------------------------------------------------------------------


@pytest.fixture(scope="module")
def ring_run(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("resume") / "R")
    assert cli.main(["train", "vae", "--data", "ring8", "--latent-dim", "2", "--out", out, "--epochs", "1",
                     "--batch-size", "1000", "--num-particles", "2", "--no-progress"]) == 0
    return out


def snapshot(run):
    return {name: open(os.path.join(run, name), "rb").read() for name in sorted(os.listdir(run))}


@pytest.mark.parametrize("flags, message", [
    (["vae", "--data", "grid25"], "resume: data was 'ring8' in the run, got 'grid25'"),
    (["vae", "--data", "ring8", "--lr", "0.01"], "resume: lr was 0.001 in the run, got 0.01"),
    (["vae", "--data", "ring8", "--batch-size", "500"], "resume: batch-size was 1000 in the run, got 500"),
    (["vae", "--data", "ring8", "--latent-dim", "3"], "resume: latent-dim was 2 in the run, got 3"),
    (["vae", "--data", "ring8", "--seed", "1"], "resume: seed was 0 in the run, got 1"),
    (["vae", "--data", "ring8", "--loss", "iwae"], "resume: loss was not set in the run, got 'iwae'"),
    (["beta-vae", "--data", "ring8"], "resume: model was 'vae' in the run, got 'beta-vae'"),
])
def test_resume_refuses_another_configuration(ring_run, flags, message, capsys):
    before = snapshot(ring_run)
    argv = ["train", *flags, "--out", ring_run, "--resume", "--epochs", "2", "--no-progress"]
    if "--batch-size" not in flags:
        argv += ["--batch-size", "1000"]
    capsys.readouterr()
    assert cli.main(argv) == 2
    assert capsys.readouterr().err == f"pyprogen: error: {message}\n"
    assert snapshot(ring_run) == before  # nothing written


def test_resume_refuses_other_data_under_the_same_name(tmp_path, capsys):
    path = tmp_path / "x.npy"
    np.save(path, np.random.RandomState(0).normal(size=(200, 2)).astype(np.float32))
    out = str(tmp_path / "run")
    assert cli.main(["train", "vae", "--data", str(path), "--out", out, "--epochs", "1", "--batch-size", "100",
                     "--num-particles", "2", "--no-progress"]) == 0
    old = tomllib.load(open(os.path.join(out, "config.toml"), "rb"))["data-sha256"]
    np.save(path, np.random.RandomState(1).normal(size=(200, 2)).astype(np.float32))
    capsys.readouterr()
    assert cli.main(["train", "vae", "--data", str(path), "--out", out, "--resume", "--epochs", "2",
                     "--batch-size", "100", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"pyprogen: error: resume: data-sha256 was '{old}' in the run, got '") and err.count("\n") == 1
    np.save(path, np.random.RandomState(1).normal(size=(300, 2)).astype(np.float32))
    assert cli.main(["train", "vae", "--data", str(path), "--out", out, "--resume", "--epochs", "2",
                     "--batch-size", "100", "--no-progress"]) == 2
    assert capsys.readouterr().err == "pyprogen: error: resume: data-shape was [200, 2] in the run, got [300, 2]\n"


def test_resume_with_the_same_configuration_continues_and_inherits_unset_flags(tmp_path, data_file):
    out = str(tmp_path / "run")
    base = ["train", "vae", "--data", data_file, "--batch-size", "100", "--num-particles", "2", "--no-progress"]
    assert cli.main([*base, "--loss", "elbo", "--grad-clip", "5", "--out", out, "--epochs", "1"]) == 0
    assert cli.main([*base, "--out", out, "--epochs", "2", "--resume"]) == 0  # loss and grad-clip: the run's
    config = tomllib.load(open(os.path.join(out, "config.toml"), "rb"))
    assert (config["epochs"], config["loss"], config["grad-clip"]) == (2, "elbo", 5.0)
    straight = str(tmp_path / "straight")
    assert cli.main([*base, "--loss", "elbo", "--grad-clip", "5", "--out", straight, "--epochs", "2"]) == 0
    a, b = model_state(out), model_state(straight)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_run_that_fails_before_its_first_checkpoint_leaves_config_toml_as_it_was(ring_run, tmp_path, capsys):
    fresh = tmp_path / "fresh"
    assert cli.main(["train", "vae", "--data", "ring8", "--loss", "gan", "--out", str(fresh), "--no-progress"]) == 2
    assert "needs a model with a critic" in capsys.readouterr().err and not fresh.exists()
    before = snapshot(ring_run)  # a new run over an old directory that fails before writing a checkpoint
    assert cli.main(["train", "vae", "--data", "grid25", "--loss", "gan", "--out", ring_run, "--no-progress"]) == 2
    assert snapshot(ring_run) == before
