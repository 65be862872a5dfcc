"""Soak: train, checkpoint, reload, evaluate and sample over and over in one process (a few minutes,
marked slow). Resident memory must level off and the Pyro param store must not carry anything from
one run into the next.

Each soak runs in a fresh subprocess (``python tests/test_soak.py MODE``): in the pytest process
the heap already holds whatever earlier tests freed, which would hide a leak.

The VAE trains with its default loss, the compiled mean-field ELBO (infer/compiled.py). Its
torch.jit.trace predecessor kept every traced function in torch.jit's global compilation unit
(~10 MB per fit of a small MLP VAE, never freed); the record that replaced it is kept per model in
a weak dictionary and freed with the model, which ``test_default_jit_elbo_fits_do_not_accumulate_memory``
checks over 20 fits of fresh models.
"""
import gc
import json
import os
import subprocess
import sys
import time

import pytest

CYCLES, WARMUP, TIME_CAP_S = 400, 10, 150  # a few minutes at most
RSS_GROWTH_BOUND_MB = 20.0  # after warm-up (0.1 MB per cycle over 200 cycles would exceed it)
JIT_FITS, JIT_GROWTH_BOUND_MB = 20, 20.0  # RSS after fit 20 minus after fit 1


def rss_mb():
    with open("/proc/self/status") as f:
        kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return kb / 1024


def soak():
    """The child: returns {"rss_mb": [...], "param_store_sizes": [...], "b_after_a_equal": bool, ...}."""
    import pyro
    import torch

    from pyprogen.data import load_dataset, toy_modes
    from pyprogen.metrics.evaluate import evaluate_model
    from pyprogen.models import build
    from pyprogen.seeding import set_seed
    from pyprogen.train import fit, load

    torch.set_num_threads(1)
    train = load_dataset("ring8").x[:2000]
    test = load_dataset("ring8", "test").x[:300]
    out = sys.argv[2]

    def train_b():
        set_seed(7)
        model = build("vae", (2,), latent_dim=2, hidden=(32,), likelihood="gaussian")
        fit(model, train, epochs=1, batch_size=250, seed=7, progress=False)
        return {k: v.detach().clone() for k, v in model.state_dict().items()}

    # the param store carries nothing between runs: B after A equals B alone
    alone = train_b()
    set_seed(3)
    fit(build("vae", (2,), latent_dim=2, hidden=(32,), likelihood="gaussian"), train, epochs=1, batch_size=250,
        progress=False)
    after = train_b()
    same = all(torch.equal(alone[k], after[k]) for k in alone)

    curve, store_sizes, t0 = [], [], time.monotonic()
    for i in range(CYCLES):
        set_seed(i)
        if i % 2 == 0:
            model = build("vae", (2,), latent_dim=2, hidden=(32,), likelihood="gaussian")
            fit(model, train, epochs=2, batch_size=250, seed=i, out=out, progress=False)  # default: compiled ELBO
        else:
            model = build("gan", (2,), latent_dim=2, hidden=(32,))
            fit(model, train, loss="ns-gan", epochs=2, batch_size=250, seed=i, out=out, progress=False)
        again = load(out)
        evaluate_model(again, test, num_particles=20, modes=toy_modes("ring8"), num_samples=500)
        again.sample(500)
        store_sizes.append(len(pyro.get_param_store()))
        del model, again
        gc.collect()
        curve.append(round(rss_mb(), 1))
        if time.monotonic() - t0 > TIME_CAP_S:
            break
    return {"cycles": len(curve), "seconds": round(time.monotonic() - t0, 1), "rss_mb": curve,
            "param_store_sizes": store_sizes, "b_after_a_equal": same}


def jit_fits():
    """The child: RSS after each of JIT_FITS fits of fresh VAEs with the default (compiled) loss, and the
    number of compiled losses still alive afterwards."""
    import torch

    from pyprogen.data import load_dataset
    from pyprogen.infer.compiled import _CACHE
    from pyprogen.models import build
    from pyprogen.seeding import set_seed
    from pyprogen.train import fit

    torch.set_num_threads(1)
    train = load_dataset("ring8").x[:2000]
    curve = []
    for i in range(JIT_FITS):
        set_seed(i)
        model = build("vae", (2,), latent_dim=2, hidden=(32,), likelihood="gaussian")
        fit(model, train, epochs=1, batch_size=250, seed=i, progress=False)  # default loss: the JIT ELBO
        del model
        gc.collect()
        curve.append(round(rss_mb(), 1))
    return {"jit_rss_mb": curve, "compiled_losses_alive": len(_CACHE)}


def run_child(mode, tmp_path):
    proc = subprocess.run([sys.executable, __file__, mode, str(tmp_path / "run")], capture_output=True, text=True,
                          timeout=900, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    print(json.dumps(report))
    return report


@pytest.mark.slow
def test_memory_levels_off_and_param_store_does_not_leak(tmp_path):
    report = run_child("soak", tmp_path)
    if os.environ.get("PYPROGEN_SOAK_REPORT"):
        with open(os.environ["PYPROGEN_SOAK_REPORT"], "w") as f:
            json.dump(report, f)
    assert report["b_after_a_equal"]
    curve, store_sizes = report["rss_mb"], report["param_store_sizes"]
    assert len(curve) > WARMUP + 10, "too few cycles within the time cap to judge"
    growth = max(curve[WARMUP:]) - curve[WARMUP]
    assert growth < RSS_GROWTH_BOUND_MB, (growth, curve)
    # the store holds one model's parameters at a time: it never grows beyond the largest single run
    assert max(store_sizes[WARMUP:]) <= max(store_sizes[:WARMUP])


@pytest.mark.slow
def test_default_jit_elbo_fits_do_not_accumulate_memory(tmp_path):
    report = run_child("jit", tmp_path)
    curve = report["jit_rss_mb"]
    assert len(curve) == JIT_FITS
    assert curve[-1] - curve[0] <= JIT_GROWTH_BOUND_MB, curve  # torch.jit.trace: ~10 MB per fit
    assert report["compiled_losses_alive"] == 0  # each model's record went with the model


if __name__ == "__main__":
    print(json.dumps({"soak": soak, "jit": jit_fits}[sys.argv[1]]()))
