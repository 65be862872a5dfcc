"""Every CLI command end to end in a temp dir (stability, compare and diagnose have their own tests);
the help text, ``pyprogen list`` and repeated list flags."""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from pyprogen import cli
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


# -- help, list, repeated flags --------------------------------------------------------------------
def subparsers():
    return next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices


def test_every_argument_of_every_subcommand_has_help():
    seen = 0
    for name, parser in subparsers().items():
        for action in parser._actions:
            assert action.help and action.help.strip(), (name, action.dest)
            if action.dest != "help" and (action.default not in (None, False) or action.choices):
                # a default or choices it has is stated in its one line (as argparse would print it)
                assert "default:" in action.help or action.choices, (name, action.dest)
            if action.choices:
                assert "one of " + ", ".join(map(str, action.choices)) in action.help, (name, action.dest)
            seen += 1
    assert seen >= 40 and set(subparsers()) == {"train", "evaluate", "sample", "compare", "stability", "diagnose",
                                                "list"}


def test_defaults_stated_in_help_match_the_parser():
    train = subparsers()["train"]
    for action in train._actions:
        if action.default not in (None, False, argparse.SUPPRESS) and action.dest != "help":
            assert f"default: {action.default}" in action.help, action.dest
    stability = {a.dest: a.help for a in subparsers()["stability"]._actions}
    from pyprogen.experiments.stability import DEFAULT_LRS, DEFAULT_METHODS, DEFAULT_TARGETS, FULL

    assert all(f"'{t}'" in stability["target"] for t in DEFAULT_TARGETS)
    assert f"default: {','.join(DEFAULT_METHODS)}" in stability["methods"]
    assert f"default: {' '.join(map(str, DEFAULT_LRS))}" in stability["lr"]
    assert f"default: {FULL['seeds']}" in stability["seeds"] and f"default: {FULL['epochs']}" in stability["epochs"]
    from pyprogen.experiments.compare import DEFAULT_MODELS

    compare = {a.dest: a.help for a in subparsers()["compare"]._actions}
    assert f"default: {','.join(DEFAULT_MODELS)}" in compare["models"]


def test_help_names_the_registry_entries_and_picks_up_new_ones(monkeypatch):
    from pyprogen.data import DATASETS
    from pyprogen.infer import ADVERSARIAL_LOSSES, ESTIMATORS
    from pyprogen.models import LIKELIHOODS, MODELS

    for registry in (MODELS, DATASETS, ESTIMATORS, ADVERSARIAL_LOSSES, LIKELIHOODS):
        monkeypatch.setitem(registry._entries, "zz-new-entry", lambda *a, **k: None)
    train = {a.dest: a for a in subparsers()["train"]._actions}
    assert all(name in train["model"].help for name in MODELS) and "zz-new-entry" in train["model"].help
    assert all(name in train["data"].help for name in DATASETS) and "cifar10" in train["data"].help
    assert all(name in train["loss"].help for name in [*ESTIMATORS, *ADVERSARIAL_LOSSES])
    assert "zz-new-entry" in train["likelihood"].choices


def test_help_exits_0_and_prints_to_stdout(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["train", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "--latent-dim" in out and "default: 128" in out and "binarized-mnist" in out


def test_list_prints_every_registry_one_line_each(capsys):
    from pyprogen.data import DATASETS
    from pyprogen.infer import ADVERSARIAL_LOSSES, ESTIMATORS
    from pyprogen.models import LIKELIHOODS, MODELS

    assert cli.main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    titles = ["models:", "estimators:", "adversarial losses:", "data sets:", "likelihoods:"]
    assert [line for line in lines if not line.startswith("  ")] == titles
    sections = {}
    for line in lines:
        if line in titles:
            current = sections.setdefault(line[:-1], [])
        else:
            current.append(line.split()[0])
    assert sections == {"models": sorted(MODELS), "estimators": sorted(ESTIMATORS),
                        "adversarial losses": sorted(ADVERSARIAL_LOSSES), "data sets": sorted(DATASETS),
                        "likelihoods": sorted(LIKELIHOODS)}
    wgan_gp = next(line for line in lines if line.split()[0] == "wgan-gp")
    assert ADVERSARIAL_LOSSES.describe("wgan-gp") in wgan_gp


@pytest.mark.parametrize("repeated, joined", [
    (["stability", "--target", "Normal(0, 1)", "--target", "Beta(2, 5)"], ["stability", "--target", "Normal(0, 1)", "Beta(2, 5)"]),
    (["stability", "--lr", "1e-4", "--lr", "1e-3", "2e-3"], ["stability", "--lr", "1e-4", "1e-3", "2e-3"]),
    (["stability", "--methods", "gan,wgan-gp", "--methods", "gan-dp"], ["stability", "--methods", "gan,wgan-gp,gan-dp"]),
    (["compare", "--models", "vae", "--models", "gan,pixelcnn"], ["compare", "--models", "vae,gan,pixelcnn"]),
])
def test_repeated_list_flags_accumulate(repeated, joined):
    parser = cli.build_parser()
    assert vars(parser.parse_args(repeated)) == vars(parser.parse_args(joined))


def test_list_flags_accumulate_values_not_defaults():
    parser = cli.build_parser()
    args = parser.parse_args(["stability", "--lr", "1e-4", "--target", "Normal(0, 1)", "--lr", "1e-3"])
    assert args.lr == [1e-4, 1e-3] and args.target == ["Normal(0, 1)"] and args.methods is None
    again = parser.parse_args(["stability"])  # a fresh parse does not see the last one's values
    assert again.lr is None and again.target is None


# -- image data end to end: a folder of PNGs (--data DIR, --image-size) and CIFAR-10's binary files ------


def test_train_and_evaluate_on_a_folder_of_images(tmp_path, capsys):
    from PIL import Image

    folder = tmp_path / "pictures"
    folder.mkdir()
    rng = np.random.RandomState(0)
    for i in range(12):
        Image.fromarray(rng.randint(0, 256, (70, 90, 3)).astype(np.uint8)).save(folder / f"{i:02d}.png")
    out = str(tmp_path / "run")
    assert main(["train", "vae", "--data", str(folder), "--image-size", "64", "--epochs", "1", "--latent-dim", "2",
                 "--batch-size", "10", "--num-particles", "2", "--out", out, "--no-progress"]) == 0
    import tomllib

    config = tomllib.load(open(os.path.join(out, "config.toml"), "rb"))
    assert config["image-size"] == 64 and config["data-shape"] == [10, 3, 64, 64]  # 12 images: 10 train, 1 valid, 1 test
    capsys.readouterr()
    assert main(["evaluate", out, "--json", "--num-particles", "2"]) == 0  # the run's own size, 64
    assert "elbo_nats" in json.loads(capsys.readouterr().out)
    assert main(["train", "vae", "--data", "ring8", "--image-size", "64", "--out", str(tmp_path / "x")]) == 2
    assert capsys.readouterr().err == ("pyprogen: error: image-size: applies to a folder of images given as --data DIR, "
                                       "not to 'ring8'\n")


def test_train_on_cifar10_binary_files(tmp_path):
    rng = np.random.RandomState(0)
    for name, n in [*((f"data_batch_{i}.bin", 4) for i in range(1, 6)), ("test_batch.bin", 3)]:
        records = np.concatenate([rng.randint(0, 10, (n, 1)), rng.randint(0, 256, (n, 3072))], axis=1)
        (tmp_path / name).write_bytes(records.astype(np.uint8).tobytes())
    out = str(tmp_path / "run")
    assert main(["train", "vae", "--data", "cifar10", "--data-dir", str(tmp_path), "--epochs", "1", "--latent-dim",
                 "2", "--batch-size", "20", "--num-particles", "2", "--out", out, "--no-progress"]) == 0
    final = json.load(open(os.path.join(out, "metrics.json")))[-1]
    assert final["split"] == "test" and np.isfinite(final["elbo_nats"])
