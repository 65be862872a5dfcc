"""``pyprogen train --recipe NAME`` must apply or stop: a named preset with no recipe for the model, or on data
that are not images, is one line on stderr and exit status 2 (not a silent run with other settings)."""
import os

import pytest

from pyprogen.cli import main


@pytest.mark.parametrize("argv, line", [
    (["train", "gan", "--data", "binarized-mnist", "--recipe", "burda"],
     "pyprogen: error: recipe: 'burda' has no recipe for model 'gan'; it applies to beta-tcvae, beta-vae, dip-vae-i, "
     "dip-vae-ii, factor-vae, info-vae, vae"),
    (["train", "pixelcnn", "--data", "binarized-mnist", "--recipe", "burda"],
     "pyprogen: error: recipe: 'burda' has no recipe for model 'pixelcnn'; it applies to beta-tcvae, beta-vae, "
     "dip-vae-i, dip-vae-ii, factor-vae, info-vae, vae"),
    (["train", "vae", "--data", "ring8", "--recipe", "burda"],
     "pyprogen: error: recipe: 'burda' is a recipe for images (C, H, W); the data have shape (2,)"),
])
def test_recipe_that_does_not_apply_is_one_line_exit_2(argv, line, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(argv + ["--out", str(out), "--epochs", "1", "--no-progress"]) == 2
    assert capsys.readouterr().err.splitlines() == [line]
    assert not os.path.exists(out)  # nothing left behind
