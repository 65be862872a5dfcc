"""``pyprogen train cvae|m2``: the data set's labels reach ``fit`` (``--labels N`` keeps N, the same number
per class; m2 trains on the rest as unlabelled rows, labelled rows repeated to half an epoch), config.toml
records it, evaluation reports m2's accuracy; wrong uses are one line, exit 2, nothing written."""
import json
import os
import tomllib

import pytest
import torch

from pyprogen import cli
from pyprogen.data import load_dataset




def test_cvae_gets_every_label_of_the_data(fit_calls, tmp_path):
    with pytest.raises(fit_calls.Stop):
        cli.main(["train", "cvae", "--data", "mnist", "--out", str(tmp_path / "r"), "--no-progress"])
    (call,) = fit_calls
    train = load_dataset("mnist", "train")
    assert torch.equal(call["x"], train.x) and torch.equal(call["labels"], train.y)


def test_m2_with_100_labels_trains_on_balanced_rows(fit_calls, tmp_path):
    with pytest.raises(fit_calls.Stop):
        cli.main(["train", "m2", "--data", "mnist", "--labels", "100", "--out", str(tmp_path / "r"), "--no-progress"])
    (call,) = fit_calls
    y = call["labels"]
    known = y != -1
    assert torch.bincount(y[known], minlength=10).tolist() == [990] * 10  # 10 per class, each repeated round(9900 / 100) = 99 times
    assert int((~known).sum()) == 10_000 - 100 and len(call["x"]) == len(y) == 9_900 + 9_900


@pytest.mark.parametrize("argv, message", [
    (["train", "vae", "--data", "mnist", "--labels", "10"], "labels: model 'vae' takes no labels"),
    (["train", "cvae", "--data", "mnist", "--labels", "100"], "labels: model 'cvae' needs every label"),
    (["train", "cvae", "--data", "binarized-mnist"], "data: 'binarized-mnist' has no labels"),
    (["train", "m2", "--data", "mnist", "--labels", "5"], "labels: expected at least one label per class"),
    (["train", "m2", "--data", "binarized-mnist", "--labels", "100"],
     "labels: 'binarized-mnist' has no labels; model 'm2' cannot keep any"),
])
def test_wrong_label_uses_are_one_line(argv, message, tmp_path, capsys):
    out = str(tmp_path / "r")
    assert cli.main([*argv, "--out", out, "--no-progress", "--epochs", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not os.path.exists(out) or os.listdir(out) == []


def test_m2_end_to_end_reports_accuracy_and_samples_a_class(tmp_path):
    """One epoch of semi-supervised m2 with 1,000 labels: metrics hold a test accuracy above chance (> 0.3) and
    config.toml the label count; `sample --label 3` writes the class-conditional grid."""
    out = str(tmp_path / "m2")
    torch.set_num_threads(1)
    cli.main(["train", "m2", "--data", "mnist", "--labels", "1000", "--epochs", "1", "--num-particles", "10",
              "--out", out, "--no-progress"])
    test = json.load(open(os.path.join(out, "metrics.json")))[-1]
    assert test["split"] == "test" and test["accuracy"] > 0.3
    with open(os.path.join(out, "config.toml"), "rb") as f:
        assert tomllib.load(f)["labels"] == 1000
    cli.main(["sample", out, "--label", "3", "-n", "16", "--out", os.path.join(out, "three.png")])
    assert os.path.getsize(os.path.join(out, "three.png")) > 0
