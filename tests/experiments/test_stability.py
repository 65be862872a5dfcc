"""The stability study: batched == separate runs, a hand-written PyTorch reference run, the end-to-end quick study."""
import json
import math
import time

import pytest
import torch

from pyprogen.data.targets import parse_target
from pyprogen.errors import PyprogenError
from pyprogen.experiments.stability import (ACTIVATION, EVAL_OFFSET, RunStack, run_study, stability_table,
                                            study_config, training_data)
from pyprogen.experiments.stability_report import drift
from pyprogen.infer import adversarial_loss
from pyprogen.nn import mlp


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)  # tiny networks: one thread is faster than two on a shared 2-core machine


@pytest.fixture(scope="module")
def setup():
    cfg = study_config(quick=True)
    dists = {t: parse_target(t) for t in cfg["targets"]}
    return cfg, dists


def test_batched_seeds_equal_separate_runs(setup):
    """S runs (2 losses x 2 lrs x 2 seeds) in one stack == each run trained alone."""
    cfg, dists = setup
    losses = {m: adversarial_loss(m) for m in ("gan", "gan-dp")}
    runs = [dict(target="Beta(2, 5)", method=m, lr=lr, seed=s) for m in losses for lr in (1e-4, 1e-3) for s in range(2)]
    stack = RunStack(runs, losses, dists, cfg)
    stack.train(2)
    for i, run in enumerate(runs):
        alone = RunStack([run], {run["method"]: losses[run["method"]]}, dists, cfg)
        alone.train(2)
        for key in ("mean", "std"):
            batched = torch.stack(stack.trajectory[key])[:, i]
            single = torch.stack(alone.trajectory[key])[:, 0]
            assert torch.allclose(batched, single, rtol=1e-5, atol=1e-5), (run, key)


def test_one_run_equals_a_hand_written_pytorch_loop(setup):
    """The stack's per-network lr (an lr = 1 optimiser step scaled by lr) equals plain Adam at that lr."""
    cfg, dists = setup
    run = dict(target=cfg["targets"][1], method="gan-dp", lr=1e-3, seed=3)
    loss = adversarial_loss("gan-dp")
    stack = RunStack([run], {"gan-dp": loss}, dists, cfg)
    stack.train(1)

    torch.manual_seed(3)
    G = mlp([cfg["latent_dim"], *cfg["hidden"], 1], ACTIVATION)
    Dn = mlp([1, *cfg["hidden"], 1], ACTIVATION)
    g_opt = loss.make_generator_optimizer(G.parameters(), 1e-3)
    d_opt = loss.make_critic_optimizer(Dn.parameters(), 1e-3)
    data = training_data(dists[run["target"]], 3, cfg["train_size"])
    rng = torch.Generator().manual_seed(3)
    b, k = cfg["batch_size"], cfg["latent_dim"]
    for _ in range(cfg["steps_per_epoch"]):
        real = data[torch.randint(len(data), (b,), generator=rng)].unsqueeze(-1)
        fake = G(torch.randn(b, k, generator=rng)).detach()
        d_opt.zero_grad()
        loss.critic_loss(Dn, real, fake)[0].backward()
        d_opt.step()
        g_opt.zero_grad()
        loss.generator_loss(Dn, G(torch.randn(b, k, generator=rng))).backward()
        g_opt.step()
    with torch.no_grad():
        z = torch.randn(cfg["trajectory_samples"], k, generator=torch.Generator().manual_seed(3 + EVAL_OFFSET))
        x = G(z)[:, 0]
    assert float(stack.trajectory["mean"][-1][0]) == pytest.approx(float(x.mean()), abs=1e-4)
    assert float(stack.trajectory["std"][-1][0]) == pytest.approx(float(x.std()), abs=1e-4)
    assert float(stack.G.layers[0].weight[0, 0, 0].detach()) == pytest.approx(float(G[0].weight[0, 0].detach()),
                                                                               abs=1e-5)


def test_drift_rule():
    mu, sigma = 4.0, 1.25
    # gets within e = 0.04 at epoch 1, ends at e = (1 + 0.5)/1.25 = 1.2: drifted
    assert drift([0.0, 4.05, 5.0], [0.1, 1.25, 0.75], mu, sigma, 0.1, 0.2) == (True, pytest.approx(0.04),
                                                                               pytest.approx(1.2))
    assert drift([0.0, 4.05, 4.1], [0.1, 1.25, 1.3], mu, sigma, 0.1, 0.2)[0] is False  # stays close
    assert drift([0.0, 2.0, 3.0], [0.1, 1.0, 1.0], mu, sigma, 0.1, 0.2)[0] is False  # never got close
    assert drift([0.0], [1.0], math.nan, math.nan, 0.1, 0.2) == (None, None, None)


def test_quick_study_end_to_end(tmp_path):
    t0, c0 = time.perf_counter(), time.process_time()
    result = run_study(quick=True, out=str(tmp_path), progress=False)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    cfg = result["config"]
    assert cfg["targets"] == ["Normal(4, 1.25)", "Beta(2, 5)"] and cfg["methods"] == ["gan", "wgan-gp", "gan-dp"]
    assert len(result["results"]) == 2 * 3 * 3 * cfg["seeds"]
    saved = json.loads((tmp_path / "stability.json").read_text())
    assert set(saved["noise_floor"]) == set(cfg["targets"])
    for floor in saved["noise_floor"].values():
        assert {"hist_kl", "kde_kl", "w1"} <= set(floor)
        assert 0 < floor["hist_kl"] < 0.3 and 0 < floor["w1"] < 0.2  # 2,000-draws: floor ≈ 0.08-0.1 and ≈ 0.05
    keys = {"target", "method", "lr", "seed", "hist_kl", "hist_kl_sd", "kde_kl", "w1", "final_mean", "final_std",
            "true_mean", "true_std", "drifted", "trajectory"}
    for entry in saved["results"]:
        assert keys <= set(entry)
        assert entry["trajectory"]["epoch"] == list(range(cfg["epochs"] + 1))
        assert len(entry["trajectory"]["mean"]) == cfg["epochs"] + 1
    beta = [e for e in saved["results"] if e["target"] == "Beta(2, 5)"][0]
    assert beta["true_mean"] == pytest.approx(2 / 7) and beta["true_std"] == pytest.approx(math.sqrt(10 / 392))
    assert len(saved["long_run"]) == 2 * cfg["seeds"]
    assert saved["long_run"][0]["trajectory"]["epoch"][-1] == cfg["long_epochs"]
    table = (tmp_path / "stability.md").read_text()
    assert table == stability_table(result)
    assert table.count("| gan-dp |") == 2 * 3 + 0 and table.count("| wgan-gp |") == 2 * 3 + 2
    for name in saved["figures"]:
        png = (tmp_path / name).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert len(saved["figures"]) == 3 + 2
    print(f"quick study: {seconds:.1f} s wall, {cpu:.1f} s CPU")


@pytest.mark.parametrize("kwargs, words", [
    (dict(targets=["Foo(1)"]), "unknown distribution"),
    (dict(methods=["nope"]), "unknown adversarial loss"),
    (dict(lrs=[-1.0]), "lr"),
    (dict(seeds=0), "seeds"),
    (dict(epochs=0), "epochs"),
])
def test_bad_arguments_raise(kwargs, words):
    with pytest.raises(PyprogenError, match=words):
        study_config(**kwargs)
