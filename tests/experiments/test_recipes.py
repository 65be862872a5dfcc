"""Recipes: what ``pyprogen train`` takes from a family's recipe for flags left unset, what flags override,
and that the CLI's KL warm-up / free bits / LR schedule flags reach fit and config.toml."""
import numpy as np
import pytest

from pyprogen.cli import main
from pyprogen.config import read_toml
from pyprogen.errors import PyprogenError
from pyprogen.experiments.recipes import RECIPES, VAE_BURDA, VAE_DEFAULT, recipe, train_defaults
from pyprogen.train import load


def test_lookup_by_model_and_family():
    assert recipe("vae") is VAE_DEFAULT and recipe("beta-tcvae") is VAE_DEFAULT
    assert recipe("vae", "burda") is VAE_BURDA and VAE_BURDA.kwargs == {"hidden": (200, 200), "latent_dim": 50}
    assert VAE_BURDA.batch_size == 20 and VAE_BURDA.lr_schedule == "burda" and VAE_BURDA.epochs == 3280
    assert recipe("gan") is None and recipe("my-model") is None
    with pytest.raises(PyprogenError, match="recipe"):
        recipe("vae", "nope")
    kw, fit = train_defaults("vae", (1, 28, 28))
    assert kw == {"hidden": (512, 512), "latent_dim": 32} and fit["batch_size"] == 32 and fit["lr_schedule"] == "cosine"
    assert train_defaults("vae", (2,)) == ({}, {"batch_size": 128, "lr": 1e-3, "kl_warmup": None, "free_bits": None,
                                                "lr_schedule": None, "precision": "fp32"})  # 2-D toys keep the model's defaults
    for (preset, family), r in RECIPES.items():
        assert r.fit_kwargs()["epochs"] >= 1 and r.batch_size >= 1, (preset, family)


@pytest.fixture
def images(tmp_path):
    x = (np.random.default_rng(0).random((40, 1, 28, 28)) > 0.7).astype(np.float32)
    path = tmp_path / "tiny.npy"
    np.save(path, x)
    return str(path)


def _train(tmp_path, images, *flags):
    out = tmp_path / "run"
    assert main(["train", "vae", "--data", images, "--epochs", "1", "--num-particles", "2", "--no-progress",
                 "--out", str(out), *flags]) == 0
    return read_toml(str(out / "config.toml")), load(str(out))


def test_train_fills_unset_flags_from_the_recipe(tmp_path, images):
    config, model = _train(tmp_path, images)
    assert config["batch-size"] == 32 and config["lr"] == 1e-3 and config["lr-schedule"] == "cosine"
    assert config["recipe"] == "default" and "kl-warmup" not in config and config["latent-dim"] == 32
    assert model.config["kwargs"]["hidden"] in ((512, 512), [512, 512])


def test_flags_win_over_the_recipe(tmp_path, images):
    config, model = _train(tmp_path, images, "--batch-size", "8", "--lr", "0.002", "--latent-dim", "4",
                           "--kl-warmup", "3", "--free-bits", "0.25", "--lr-schedule", "step:2:0.5")
    assert config["batch-size"] == 8 and config["lr"] == 0.002 and config["latent-dim"] == 4
    assert config["kl-warmup"] == 3 and config["free-bits"] == 0.25 and config["lr-schedule"] == "step:2:0.5"
    config, _ = _train(tmp_path / "burda", images, "--recipe", "burda")
    assert config["batch-size"] == 20 and config["latent-dim"] == 50 and config["lr-schedule"] == "burda"


def test_bad_schedule_is_one_line(tmp_path, images, capsys):
    assert main(["train", "vae", "--data", images, "--epochs", "1", "--no-progress", "--out", str(tmp_path / "r"),
                 "--lr-schedule", "linear"]) == 2
    assert "lr_schedule: unknown schedule 'linear'" in capsys.readouterr().err


def test_every_compare_recipe_builds_its_models():
    """compare's quick and paper recipes: each entry's nets build and fit accepts its settings."""
    import inspect

    from pyprogen.data import load_dataset
    from pyprogen.experiments.compare import ENTRIES, RECIPE_SET, plan
    from pyprogen.experiments.runs import model_kwargs
    from pyprogen.models import MODELS, build
    from pyprogen.train import fit

    train = load_dataset("binarized-mnist", "train")
    fit_args = set(inspect.signature(fit).parameters)
    for preset in ("quick", "paper"):
        for name, entry in ENTRIES.items():
            if entry.model not in MODELS:
                continue
            kw, fit_kw, _ = plan(entry, "binarized-mnist", preset)
            build(entry.model, train.data_shape, **{**model_kwargs(entry.model, train), **kw})
            assert set(fit_kw) <= fit_args and RECIPE_SET[preset] == preset
