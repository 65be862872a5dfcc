"""Soak: train, checkpoint, reload, evaluate and sample over and over in one process (a few minutes,
marked slow). Resident memory must level off and the Pyro param store must not carry anything from
one run into the next.

Found by this soak: every ``fit`` with the VAE's default ``JitTraceMeanField_ELBO`` adds one traced
function to torch.jit's global compilation unit, which is never freed (~10 MB per fit for a small
MLP VAE). The main soak therefore trains the VAE with the same estimator uncompiled
(``TraceMeanField_ELBO``); the JIT growth is pinned by a strict xfail below, which flips once fixed.
"""
import gc
import json
import os
import time

import pyro
import pytest
import torch

from pyprogen.data import load_dataset, toy_modes
from pyprogen.metrics.evaluate import evaluate_model
from pyprogen.models import build
from pyprogen.seeding import set_seed
from pyprogen.train import fit, load

CYCLES, WARMUP, TIME_CAP_S = 60, 10, 240
RSS_GROWTH_BOUND_MB = 20.0  # after warm-up, over 50 cycles (a leak of 0.5 MB per cycle would exceed it)


def rss_mb():
    with open("/proc/self/status") as f:
        kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return kb / 1024


def one_cycle(i, train, test, out):
    """One VAE or GAN run end to end; returns the param-store size right after it."""
    set_seed(i)
    if i % 2 == 0:
        model = build("vae", (2,), latent_dim=2, hidden=(32,), likelihood="gaussian")
        fit(model, train, loss=pyro.infer.TraceMeanField_ELBO(), epochs=2, batch_size=250, lr=1e-3, seed=i, out=out,
            progress=False)
    else:
        model = build("gan", (2,), latent_dim=2, hidden=(32,))
        fit(model, train, loss="ns-gan", epochs=2, batch_size=250, lr=1e-3, seed=i, out=out, progress=False)
    again = load(out)
    evaluate_model(again, test, num_particles=20, modes=toy_modes("ring8"), num_samples=500)
    again.sample(500)
    return len(pyro.get_param_store())


def train_b(train):
    set_seed(7)
    model = build("vae", (2,), latent_dim=2, hidden=(32,), likelihood="gaussian")
    fit(model, train, epochs=1, batch_size=250, seed=7, progress=False)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.slow
def test_memory_levels_off_and_param_store_does_not_leak(tmp_path):
    torch.set_num_threads(1)
    train = load_dataset("ring8").x[:2000]
    test = load_dataset("ring8", "test").x[:300]

    # the param store carries nothing between runs: B after A equals B alone
    alone = train_b(train)
    set_seed(3)
    fit(build("vae", (2,), latent_dim=2, hidden=(32,), likelihood="gaussian"), train, epochs=1, batch_size=250,
        progress=False)
    after = train_b(train)
    assert all(torch.equal(alone[k], after[k]) for k in alone)

    curve, store_sizes, t0 = [], [], time.monotonic()
    for i in range(CYCLES):
        store_sizes.append(one_cycle(i, train, test, str(tmp_path / "run")))
        gc.collect()
        curve.append(round(rss_mb(), 1))
        if time.monotonic() - t0 > TIME_CAP_S:
            break
    report = {"cycles": len(curve), "seconds": round(time.monotonic() - t0, 1), "rss_mb": curve,
              "param_store_sizes": store_sizes}
    print(json.dumps(report))
    if os.environ.get("PYPROGEN_SOAK_REPORT"):
        with open(os.environ["PYPROGEN_SOAK_REPORT"], "w") as f:
            json.dump(report, f)
    assert len(curve) > WARMUP + 10, "too few cycles within the time cap to judge"
    growth = max(curve[WARMUP:]) - curve[WARMUP]
    assert growth < RSS_GROWTH_BOUND_MB, (growth, curve)
    # the store holds one model's parameters at a time: it never grows beyond the largest single run
    assert max(store_sizes[WARMUP:]) <= max(store_sizes[:WARMUP])


def rss_after_fits(n, loss, train):
    curve = []
    for i in range(n):
        set_seed(i)
        model = build("vae", (2,), latent_dim=2, hidden=(32,), likelihood="gaussian")
        fit(model, train, loss=loss, epochs=1, batch_size=250, seed=i, progress=False)
        del model
        gc.collect()
        curve.append(round(rss_mb(), 1))
    return curve


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="torch.jit.trace keeps each traced function in its global compilation "
                                       "unit: JitTraceMeanField_ELBO leaks ~10 MB per fit")
def test_default_jit_elbo_fits_do_not_accumulate_memory():
    torch.set_num_threads(1)
    train = load_dataset("ring8").x[:2000]
    curve = rss_after_fits(10, None, train)  # None: the model's default loss (the JIT ELBO)
    print(json.dumps({"jit_rss_mb": curve}))
    assert curve[-1] - curve[1] < 10.0, curve
