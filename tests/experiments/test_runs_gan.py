"""``pyprogen train gan``: the per-data-set recipe's fit settings reach ``fit`` (flags win), the GAN
flags (--critic-lr, --gamma, --ema, --spectral-norm) and --precision reach the model, config.toml and --resume, and
bad values are one line, exit 2, nothing written."""
import os
import tomllib

import pytest
import torch

from pyprogen import cli
from pyprogen.models import build
from pyprogen.models.gan_recipes import RECIPES




def test_default_command_trains_with_the_recipes_fit_settings(fit_calls, tmp_path):
    out = str(tmp_path / "run")
    with pytest.raises(fit_calls.Stop):
        cli.main(["train", "gan", "--data", "ring8", "--out", out, "--no-progress"])
    (call,) = fit_calls
    recipe = RECIPES["ring8"]
    assert {k: call[k] for k in recipe["fit"]} == recipe["fit"] and call["precision"] == "fp32"
    gan = call["model"]
    assert gan.ema == recipe["model"]["ema"] and gan.gamma == recipe["model"]["gamma"]
    assert gan.config["kwargs"]["hidden"] == recipe["model"]["hidden"]
    assert "data_scale" in gan.config["kwargs"]  # vector data: standardised nets
    assert not os.path.exists(os.path.join(out, "config.toml"))  # a failed run leaves no config behind


def test_mnist_default_command_trains_the_recipes_nets_in_bf16(fit_calls, tmp_path):
    with pytest.raises(fit_calls.Stop):
        cli.main(["train", "gan", "--data", "mnist", "--out", str(tmp_path / "run"), "--no-progress"])
    (call,) = fit_calls
    recipe = RECIPES["mnist"]
    assert {k: call[k] for k in recipe["fit"]} == recipe["fit"] and call["precision"] == "bf16"
    gan = call["model"]
    assert gan.num_parameters == build("gan", (1, 28, 28), **recipe["model"]).num_parameters
    assert [m.out_features for m in gan.generator.project if isinstance(m, torch.nn.Linear)][0] == 1024
    with pytest.raises(fit_calls.Stop):  # the flag wins over the recipe
        cli.main(["train", "gan", "--data", "mnist", "--out", str(tmp_path / "run2"), "--precision", "fp32"])
    assert fit_calls[1]["precision"] == "fp32"


def test_flags_win_over_the_recipe(fit_calls, tmp_path):
    with pytest.raises(fit_calls.Stop):
        cli.main(["train", "gan", "--data", "grid25", "--out", str(tmp_path / "run"), "--epochs", "3", "--lr", "0.01",
                  "--batch-size", "64", "--lr-schedule", "constant", "--ema", "0", "--gamma", "0.25",
                  "--critic-lr", "0.004", "--spectral-norm", "--latent-dim", "3"])
    (call,) = fit_calls
    assert (call["epochs"], call["lr"], call["batch_size"], call["lr_schedule"]) == (3, 0.01, 64, "constant")
    gan = call["model"]
    assert (gan.ema, gan.gamma, gan.critic_lr, gan.latent_dim) == (0.0, 0.25, 0.004, 3)
    assert gan.config["kwargs"]["spectral_norm"] is True


def test_models_without_a_recipe_keep_ten_epochs(fit_calls, tmp_path):
    with pytest.raises(fit_calls.Stop):
        cli.main(["train", "vae", "--data", "ring8", "--out", str(tmp_path / "run")])
    assert fit_calls[0]["epochs"] == 10


#: constant lr: a cosine horizon is the run's epochs, which a resume to more epochs changes (schedules.py)
FAST = ["--batch-size", "2000", "--lr", "0.001", "--lr-schedule", "constant", "--num-particles", "2", "--no-progress"]
GAN_FLAGS = ["--ema", "0.9", "--gamma", "0.5", "--critic-lr", "0.003", "--spectral-norm", "--precision", "bf16"]


def state(run):
    return torch.load(os.path.join(run, "checkpoint.pt"), weights_only=True)["model"]


def test_gan_flags_recorded_and_resumed_bit_for_bit(tmp_path, capsys):
    straight, resumed = str(tmp_path / "straight"), str(tmp_path / "resumed")
    base = ["train", "gan", "--data", "ring8", *FAST, *GAN_FLAGS]
    assert cli.main([*base, "--epochs", "2", "--out", straight]) == 0
    config = tomllib.load(open(os.path.join(straight, "config.toml"), "rb"))
    assert {k: config.get(k) for k in ("ema", "gamma", "critic-lr", "spectral-norm", "epochs", "lr-schedule",
                                       "precision")} == \
        {"ema": 0.9, "gamma": 0.5, "critic-lr": 0.003, "spectral-norm": True, "epochs": 2, "lr-schedule": "constant",
         "precision": "bf16"}
    assert cli.main([*base, "--epochs", "1", "--out", resumed]) == 0
    # the resumed command gives no GAN flag: the run's own (EMA state included) continue
    assert cli.main(["train", "gan", "--data", "ring8", "--out", resumed, "--resume", "--epochs", "2",
                     "--no-progress", "--num-particles", "2"]) == 0
    a, b = state(straight), state(resumed)
    assert any(k.startswith("generator_ema.") for k in a) and a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    capsys.readouterr()
    for flags, key in ((["--ema", "0.5"], "ema"), (["--gamma", "2"], "gamma"), (["--critic-lr", "0.1"], "critic-lr"),
                       (["--precision", "fp32"], "precision")):
        assert cli.main(["train", "gan", "--data", "ring8", "--out", resumed, "--resume", "--epochs", "3",
                         *flags]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"pyprogen: error: resume: {key} was ") and err.count("\n") == 1


@pytest.mark.parametrize("argv, needle", [
    (["gan", "--gamma", "-1"], "argument --gamma: expected a finite number >= 0"),
    (["gan", "--gamma", "nan"], "argument --gamma: expected a finite number >= 0"),
    (["gan", "--gamma", "inf"], "argument --gamma: expected a finite number >= 0"),
    (["gan", "--critic-lr", "-0.001"], "argument --critic-lr: expected a positive finite number"),
    (["gan", "--critic-lr", "inf"], "argument --critic-lr: expected a positive finite number"),
    (["gan", "--ema", "1"], "argument --ema: expected an EMA decay in [0, 1)"),
    (["gan", "--ema", "-0.1"], "argument --ema: expected an EMA decay in [0, 1)"),
    (["gan", "--ema", "nan"], "argument --ema: expected an EMA decay in [0, 1)"),
    (["vae", "--spectral-norm"], "spectral-norm: model 'vae' has no critic to normalise"),
    (["vae", "--ema", "0.9"], "ema: model 'vae' has no ema option"),
    (["wae-gan", "--gamma", "1"], "gamma: model 'wae-gan' has no gamma option"),
])
def test_bad_gan_flags_one_line_exit_2_nothing_written(argv, needle, tmp_path, capsys):
    out = tmp_path / "o"
    assert cli.main(["train", argv[0], "--data", "ring8", "--epochs", "1", "--out", str(out), *argv[1:]]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


def test_bad_gan_values_in_a_config_file(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('model = "gan"\ndata = "ring8"\nema = 1.0\n')
    assert cli.main(["train", "--config", str(cfg), "--out", str(tmp_path / "o")]) == 2
    assert "ema: expected an EMA decay in [0, 1)" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
