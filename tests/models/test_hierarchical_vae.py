"""The two-stochastic-layer VAE (Burda et al. 2016): its trace and architecture, the IWAE bound on it, and
training end to end through ``pyprogen train`` with the ELBO and with IWAE on a few hundred MNIST digits."""
import json
import os

import numpy as np
import pyro
import pytest
import torch
from pyro import poutine
from pyro.infer import Trace_ELBO

from pyprogen.cli import main
from pyprogen.data import load_dataset
from pyprogen.errors import PyprogenError
from pyprogen.infer import IWAE, log_weights
from pyprogen.models import HierarchicalVAE, build


def test_trace_has_two_latent_layers_and_x_in_plate_data():
    model = build("hierarchical-vae", (1, 28, 28))
    x = (torch.rand(5, 1, 28, 28) > 0.5).float()
    guide_trace = poutine.trace(model.guide).get_trace(x)
    model_trace = poutine.trace(poutine.replay(model.model, trace=guide_trace)).get_trace(x)
    assert guide_trace.nodes["z"]["value"].shape == (5, 100) and guide_trace.nodes["z2"]["value"].shape == (5, 50)
    for name in ("z2", "z", "x"):
        assert [f.name for f in model_trace.nodes[name]["cond_indep_stack"]] == ["data"]
    assert model_trace.nodes["x"]["is_observed"]
    assert model.sample(3).shape == (3, 1, 28, 28) and model.encode(x).shape == (5, 100)


def test_layers_follow_burda_et_al():
    """784-(200-200)-100-(100-100)-50 in the guide and its mirror in the model."""
    model = HierarchicalVAE((784,))
    linear = lambda m: [(l.in_features, l.out_features) for l in m.modules() if isinstance(l, torch.nn.Linear)]
    assert linear(model.encoder) == [(784, 200), (200, 200), (200, 100), (200, 100)]
    assert linear(model.top_encoder) == [(100, 100), (100, 100), (100, 50), (100, 50)]
    assert linear(model.top_decoder) == [(50, 100), (100, 100), (100, 100), (100, 100)]
    assert linear(model.decoder) == [(100, 200), (200, 200), (200, 784)]


def test_iwae_bound_on_two_layers_is_per_point_and_grows_with_k():
    """IWAE(1) is the ELBO on the same seed (rel. 1e-5); 40 copies of 4 digits average L_1 < L_20."""
    model = HierarchicalVAE((1, 28, 28))
    x = load_dataset("binarized-mnist", "test").x[:4]
    pyro.set_rng_seed(1)
    a = IWAE(1, max_plate_nesting=1).loss(model.model, model.guide, x)
    pyro.set_rng_seed(1)
    b = Trace_ELBO().loss(model.model, model.guide, x)
    assert a == pytest.approx(b, rel=1e-5)
    assert log_weights(model.model, model.guide, x, num_particles=7).shape == (7, 4)
    reps = x.repeat(40, 1, 1, 1)
    l1, l20 = (-IWAE(k).loss(model.model, model.guide, reps) for k in (1, 20))
    assert l1 < l20


@pytest.mark.parametrize("kw, needle", [({"top_dim": 0}, "top_dim"), ({"net": "conv"}, "net"),
                                        ({"top_hidden": ()}, "top_hidden"), ({"beta": 2.0}, "hierarchical-vae")])
def test_bad_arguments_are_one_line_errors(kw, needle):
    with pytest.raises(PyprogenError, match=needle) as info:
        build("hierarchical-vae", (784,), **kw)
    assert "\n" not in str(info.value)


@pytest.fixture(scope="module")
def mnist_npz(tmp_path_factory):
    """300 training and 100 test digits of the shipped binarized MNIST, as a data file for the CLI."""
    path = tmp_path_factory.mktemp("data") / "mnist300.npz"
    train, test = load_dataset("binarized-mnist", "train").x[:300], load_dataset("binarized-mnist", "test").x[:100]
    np.savez(path, train=train.numpy().astype(np.uint8), test=test.numpy().astype(np.uint8))
    return str(path)


@pytest.mark.parametrize("loss", [None, "iwae"])
def test_trains_end_to_end_through_the_cli(tmp_path, mnist_npz, loss):
    """3 epochs on 300 digits: the training loss falls every epoch and the test NLL is a finite bound above
    the ELBO's (IWAE with 5 particles when asked)."""
    out = str(tmp_path / "run")
    argv = ["train", "hierarchical-vae", "--data", mnist_npz, "--epochs", "3", "--batch-size", "50",
            "--num-particles", "50", "--out", out, "--no-progress"] + (["--loss", loss] if loss else [])
    assert main(argv) == 0
    metrics = json.load(open(os.path.join(out, "metrics.json")))
    train = [m["loss"] for m in metrics if m.get("split") != "test"]
    assert len(train) == 3 and train[0] > train[1] > train[2]
    final = metrics[-1]
    assert np.isfinite(final["nll_nats"]) and final["nll_nats"] < 550 and final["elbo_nats"] <= -final["nll_nats"] + 0.5
