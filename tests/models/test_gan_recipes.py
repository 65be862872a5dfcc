"""Per-data-set GAN defaults (pyprogen.models.gan_recipes)."""
import pytest
import torch

from pyprogen.data import load_dataset
from pyprogen.infer.gamma_rule import default_gamma
from pyprogen.models import GAN, build
from pyprogen.models.gan_recipes import RECIPES, gan_model_defaults, gan_recipe, recipe_name


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_recipe_builds_and_names_only_fit_keywords(name):
    r = gan_recipe(name)
    assert set(r["fit"]) <= {"epochs", "batch_size", "lr", "lr_schedule", "precision"}
    shape = (1, 28, 28) if name == "mnist" else (2,)
    gan = build("gan", shape, **r["model"])
    assert isinstance(gan, GAN) and gan.ema > 0
    r["model"]["ema"] = 0.5  # a copy: the table itself is not changed
    assert RECIPES[name]["model"]["ema"] != 0.5


def test_recipes_are_found_from_data_sets_and_their_names():
    assert recipe_name(load_dataset("mnist")) == "mnist"  # "mnist (shipped subset)"
    assert gan_recipe(load_dataset("mnist"))["model"] == RECIPES["mnist"]["model"]  # images: not standardised
    assert gan_recipe("ring8")["model"] == RECIPES["ring8"]["model"]  # a name alone: no data to standardise by
    grid = gan_model_defaults(load_dataset("grid25"))
    assert {k: v for k, v in grid.items() if not k.startswith("data_")} == RECIPES["grid25"]["model"]
    assert grid["data_scale"] == pytest.approx(2.83, abs=0.03) and grid["data_loc"] == pytest.approx([0, 0], abs=0.05)


def test_data_without_a_recipe_get_gamma_from_their_scale():
    x = torch.randn(4000, 3, generator=torch.Generator().manual_seed(0)) * 2
    r = gan_recipe("my-data", x)
    assert r["fit"] == {} and r["model"]["gamma"] == pytest.approx(default_gamma(x))
    assert r["model"]["gamma"] == pytest.approx(40, rel=0.1) and r["model"]["data_scale"] == pytest.approx(2, rel=0.05)
    build("gan", (3,), **r["model"])
    images = torch.rand(100, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    assert set(gan_recipe("my-images", images)["model"]) == {"gamma"}  # images are not standardised
    assert gan_recipe("my-data") == {"model": {}, "fit": {}}
