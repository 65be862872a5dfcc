"""Crash safety: SIGKILL a training process at random moments; the run directory always holds a
loadable checkpoint, and ``resume`` finishes with exactly the parameters of an uninterrupted run."""
import json
import os
import random
import signal
import subprocess
import sys
import time

import torch

from pyprogen.train import fit, load
from pyprogen.train.checkpoint import load_checkpoint

EPOCHS, KILLS = 12, 3
SETUP = """
import torch
torch.set_num_threads(1)
from pyprogen.models import build
from pyprogen.seeding import set_seed
from pyprogen.train import fit
torch.manual_seed(0)
data = (torch.rand(3000, 12) < torch.linspace(0.1, 0.9, 12)).float()  # 60 steps/epoch: ~0.1 s idle
set_seed(1)
model = build("vae", (12,), latent_dim=2, hidden=(16,))
"""
TRAIN = SETUP + """
import sys
print("start", flush=True)
fit(model, data, epochs=int(sys.argv[2]), batch_size=50, seed=4, out=sys.argv[1], resume=True, progress=False)
"""


def reference():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        scope = {}
        exec(SETUP, scope)  # the very same set-up as the subprocess
        fit(scope["model"], scope["data"], epochs=EPOCHS, batch_size=50, seed=4, progress=False)
        return scope["model"]
    finally:
        torch.set_num_threads(threads)


def mtime(path):
    try:
        return os.stat(path).st_mtime_ns
    except FileNotFoundError:
        return None


def test_sigkill_at_random_moments_then_resume_equals_uninterrupted(tmp_path):
    out = tmp_path / "run"
    ckpt = out / "checkpoint.pt"
    rng = random.Random(0)
    epochs_at_kill = []
    for _ in range(KILLS):
        before = mtime(ckpt)
        proc = subprocess.Popen([sys.executable, "-c", TRAIN, str(out), str(EPOCHS)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline().strip() == "start"
            t0 = time.monotonic()
            while mtime(ckpt) == before:  # at least one new epoch written by this process
                assert proc.poll() is None, proc.stderr.read()
                assert time.monotonic() - t0 < 60
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.08))  # somewhere in a step or in a checkpoint write (< 1 epoch)
            assert proc.poll() is None, "training finished before it could be killed"
            proc.send_signal(signal.SIGKILL)
            assert proc.wait() == -signal.SIGKILL
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        state = load_checkpoint(str(out))  # raises PyprogenError on a torn file
        load(str(out))
        assert all(torch.isfinite(v).all() for v in state["model"].values())
        assert 1 <= state["epoch"] < EPOCHS
        assert not epochs_at_kill or state["epoch"] > epochs_at_kill[-1]
        assert [e["epoch"] for e in state["history"]] == list(range(1, state["epoch"] + 1))
        epochs_at_kill.append(state["epoch"])

    proc = subprocess.run([sys.executable, "-c", TRAIN, str(out), str(EPOCHS)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    resumed = load(str(out)).state_dict()
    full = reference().state_dict()
    for k, v in full.items():
        assert torch.equal(v, resumed[k]), k
    entries = json.loads((out / "metrics.json").read_text())
    assert [e["epoch"] for e in entries] == list(range(1, EPOCHS + 1))
    assert not [n for n in os.listdir(out) if n.endswith(".tmp")]  # torn temp files were cleaned up
    print(f"killed {KILLS} times at checkpointed epochs {epochs_at_kill}")
