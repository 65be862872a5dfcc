"""Elastic multi-process restarts: SIGKILL one of two gloo workers; torchrun (``--max-restarts``)
restarts the group, the new workers resume from the last checkpoint by themselves, and the result
equals the uninterrupted 2-process run with the same global batch and seed (``torch.equal``).

Slow: each torchrun launch starts an agent and two fresh interpreters per attempt.
"""
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch

from pyprogen.train import load
from pyprogen.train.launch import spawn

pytestmark = pytest.mark.slow

FAMILIES = ("vae", "gan", "pixelcnn")
SETUP = """
import importlib, os, signal, sys
import torch
torch.set_num_threads(1)
from pyprogen.models import build
from pyprogen.seeding import set_seed
from pyprogen.train import fit

_g = torch.Generator().manual_seed(0)
DATA = {"vae": (torch.rand(120, 12, generator=_g) < torch.linspace(0.1, 0.9, 12)).float(),
        "gan": torch.randn(120, 2, generator=_g) * 0.3 + 1.0,
        "pixelcnn": (torch.rand(120, 1, 6, 6, generator=_g) < 0.4).float()}
KW = {"vae": dict(latent_dim=2, hidden=(16,)), "gan": dict(latent_dim=2, hidden=(16, 16)),
      "pixelcnn": dict(channels=8, depth=2)}
LOSS = {"vae": None, "gan": "gan-dp", "pixelcnn": None}
FAMILIES = ("vae", "gan", "pixelcnn")
#: on attempt r, rank 1 kills itself inside this optimiser step of family r (after a checkpoint at step 4)
KILL_AT = {"vae": 11, "gan": 15, "pixelcnn": 9}


def train_all(tmp, kill=False):
    attempt = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
    rank = torch.distributed.get_rank()
    for r, family in enumerate(FAMILIES):
        count = [0]

        def fire(*args):
            count[0] += 1
            if kill and rank == 1 and attempt == r and count[0] == KILL_AT[family]:
                os.kill(os.getpid(), signal.SIGKILL)

        handle = importlib.import_module("torch.optim.optimizer").register_optimizer_step_pre_hook(fire)
        set_seed(1)
        model = build(family, tuple(DATA[family].shape[1:]), **KW[family])
        fit(model, DATA[family], loss=LOSS[family], epochs=3, batch_size=20, seed=4, progress=False,
            checkpoint_every=4, out=os.path.join(tmp, family))
        handle.remove()
        if rank == 0:
            torch.save(model.state_dict(), os.path.join(tmp, family + ".pt"))
"""
WORKER = SETUP + """
from pyprogen.train.distributed import process_group
with process_group():
    if torch.distributed.get_rank() == 0:
        with open(os.path.join(sys.argv[1], "attempts"), "a") as f:
            f.write(os.environ["TORCHELASTIC_RESTART_COUNT"] + "\\n")
    train_all(sys.argv[1], kill=True)
"""


def _uninterrupted(tmp):
    scope = {}
    exec(SETUP, scope)
    scope["train_all"](tmp)


#: what pyprogen's own relaunch sets for restarts (launch.torchrun_env); the spelled-out command needs it too
ENV = dict(os.environ, OMP_NUM_THREADS="1", TORCH_DISABLE_SHARE_RDZV_TCP_STORE="1")


def torchrun(*args, max_restarts):
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
            f"--max-restarts={max_restarts}", "--monitor-interval=0.5", *args]


def test_killed_worker_restarts_and_resumes_exactly_for_each_family(tmp_path, record):
    ref, run = tmp_path / "ref", tmp_path / "run"
    ref.mkdir()
    run.mkdir()
    spawn(f"{__file__}:_uninterrupted", 2, str(ref), threads=1)
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    proc = subprocess.run(torchrun(str(script), str(run), max_restarts=3), capture_output=True, text=True,
                          env=ENV, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (run / "attempts").read_text().split() == ["0", "1", "2", "3"]  # one kill per family, 3 restarts
    for family in FAMILIES:
        a = torch.load(ref / f"{family}.pt", weights_only=True)
        b = torch.load(run / f"{family}.pt", weights_only=True)
        for k, v in a.items():
            assert torch.equal(v, b[k]), (family, k)
        record("SIGKILL of one of two gloo workers (torchrun --max-restarts)", family, "recovered exactly")


def test_cli_max_restarts_with_the_spelled_out_torchrun_command(tmp_path, record):
    """``torchrun ... -m pyprogen train ...`` with a worker killed equals ``pyprogen train --nproc 2 --max-restarts 1``."""
    data = tmp_path / "d.npy"
    np.save(data, (torch.randn(120, 2, generator=torch.Generator().manual_seed(0)) * 0.3 + 1).numpy())
    args = ["train", "gan", "--data", str(data), "--loss", "gan-dp", "--epochs", "2", "--batch-size", "20",
            "--checkpoint-every", "4", "--num-particles", "2", "--seed", "3", "--no-progress"]
    env = dict(os.environ, OMP_NUM_THREADS="1")  # pyprogen's relaunch sets the store variable itself
    proc = subprocess.run([sys.executable, "-m", "pyprogen", *args, "--out", str(tmp_path / "ref"), "--nproc", "2",
                           "--max-restarts", "1"], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    script = tmp_path / "cli_worker.py"  # the CLI itself, with rank 1 killing itself in its 15th optimiser step
    script.write_text(
        "import importlib, os, signal, sys\n"
        "n = [0]\n"
        "def fire(*a):\n"
        "    n[0] += 1\n"
        "    if n[0] == 15 and os.environ['RANK'] == '1' and os.environ['TORCHELASTIC_RESTART_COUNT'] == '0':\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "importlib.import_module('torch.optim.optimizer').register_optimizer_step_pre_hook(fire)\n"
        "from pyprogen.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n")
    proc = subprocess.run(torchrun(str(script), *args, "--out", str(tmp_path / "run"), max_restarts=1),
                          capture_output=True, text=True, env=ENV, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = load(str(tmp_path / "ref")), load(str(tmp_path / "run"))
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k
    record("SIGKILL of one of two gloo workers, pyprogen train under torchrun --max-restarts 1", "gan",
           "recovered exactly")


def test_sigterm_to_pyprogen_reaches_the_workers_and_resume_is_exact(tmp_path, record):
    """SIGTERM to ``pyprogen train --nproc 2``: passed to torchrun, whose agent stops the workers with
    SIGTERM; they checkpoint at one step and exit 143; ``--resume`` ends at the uninterrupted result."""
    data = tmp_path / "d.npy"
    np.save(data, (torch.randn(4000, 2, generator=torch.Generator().manual_seed(0)) * 0.3 + 1).numpy())
    args = [sys.executable, "-m", "pyprogen", "train", "gan", "--data", str(data), "--loss", "gan-dp", "--epochs",
            "3", "--batch-size", "20", "--num-particles", "2", "--seed", "3", "--no-progress", "--nproc", "2"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    run = tmp_path / "run"
    proc = subprocess.Popen([*args, "--out", str(run)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    try:
        import time

        t0 = time.monotonic()
        while not (run / "checkpoint.pt").exists():  # one epoch done: the workers are mid-training
            assert proc.poll() is None, proc.stderr.read()[-3000:]
            assert time.monotonic() - t0 < 300
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0 and "pyprogen: preempted by SIGTERM" in err, err[-3000:]
    assert subprocess.run([*args, "--out", str(run), "--resume"], env=env, capture_output=True).returncode == 0
    assert subprocess.run([*args, "--out", str(tmp_path / "ref")], env=env, capture_output=True).returncode == 0
    a, b = load(str(tmp_path / "ref")), load(str(run))
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k
    record("SIGTERM to pyprogen train --nproc 2 (forwarded to torchrun's workers)", "gan", "recovered exactly")
