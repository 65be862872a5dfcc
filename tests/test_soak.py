"""Soak: train, checkpoint, reload, evaluate and sample over and over in one process (a few minutes,
marked slow). Resident memory must level off and the Pyro param store must not carry anything from
one run into the next.

Each soak runs in a fresh subprocess (``python tests/test_soak.py MODE``): in the pytest process
the heap already holds whatever earlier tests freed, which would hide a leak.

Found by this soak: every ``fit`` with the VAE's default ``JitTraceMeanField_ELBO`` adds one traced
function to torch.jit's global compilation unit, which is never freed (~10 MB RSS per fit for a
small MLP VAE; ``torch.jit._state._python_cu.drop_all_functions()`` plus ``malloc_trim`` gives it
back). The main soak therefore trains the VAE with the same estimator uncompiled
(``TraceMeanField_ELBO``); the JIT growth is pinned by a strict xfail below, which flips once fixed.
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
JIT_FITS, JIT_GROWTH_BOUND_MB = 10, 10.0


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
        fit(model, train, loss=pyro.infer.TraceMeanField_ELBO(), epochs=1, batch_size=250, seed=7, progress=False)
        return {k: v.detach().clone() for k, v in model.state_dict().items()}

    # the param store carries nothing between runs: B after A equals B alone
    alone = train_b()
    set_seed(3)
    fit(build("vae", (2,), latent_dim=2, hidden=(32,), likelihood="gaussian"), train,
        loss=pyro.infer.TraceMeanField_ELBO(), epochs=1, batch_size=250, progress=False)
    after = train_b()
    same = all(torch.equal(alone[k], after[k]) for k in alone)

    curve, store_sizes, t0 = [], [], time.monotonic()
    for i in range(CYCLES):
        set_seed(i)
        if i % 2 == 0:
            model = build("vae", (2,), latent_dim=2, hidden=(32,), likelihood="gaussian")
            fit(model, train, loss=pyro.infer.TraceMeanField_ELBO(), epochs=2, batch_size=250, seed=i, out=out,
                progress=False)
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
    """The child: RSS after each of JIT_FITS fits with the VAE's default (JIT) loss."""
    import torch

    from pyprogen.data import load_dataset
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
    return {"jit_rss_mb": curve}


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
@pytest.mark.xfail(strict=True, reason="torch.jit.trace keeps each traced function in its global compilation "
                                       "unit: JitTraceMeanField_ELBO leaks ~10 MB per fit")
def test_default_jit_elbo_fits_do_not_accumulate_memory(tmp_path):
    curve = run_child("jit", tmp_path)["jit_rss_mb"]
    assert curve[-1] - curve[1] < JIT_GROWTH_BOUND_MB, curve


if __name__ == "__main__":
    print(json.dumps({"soak": soak, "jit": jit_fits}[sys.argv[1]]()))
