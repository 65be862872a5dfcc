"""Fault injection for a VAE (SVI, JIT-compiled ELBO), a GAN (adversarial, R1 penalty) and PixelCNN.

Each fault hits a run at seeded moments: SIGTERM/SIGUSR1 inside a step and inside a checkpoint
write (preemption: finish the step, checkpoint, exit 143), SIGKILL inside a step and inside a
checkpoint write (a subprocess), a full disk during a checkpoint (a patched writer raising ENOSPC,
and a real tmpfs where this machine lets us mount one), a damaged checkpoint.pt (truncated, empty,
garbage, flipped bytes) and a damaged metrics.json. After each: the run directory is loadable (or
the damage is refused in one line), and ``resume`` ends at the uninterrupted result, parameter for
parameter (``torch.equal``) and entry for entry in metrics.json. Killing one of two gloo workers
under torchrun's ``--max-restarts`` is in test_elastic.py (slow). Rows go to the fault table
(conftest.py, benchmarks/fault_table.py).
"""
import contextlib
import errno
import importlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys

import pytest
import torch

import pyprogen.io as pio
from pyprogen.cli import main
from pyprogen.errors import PyprogenError
from pyprogen.train import load
from pyprogen.train.checkpoint import load_checkpoint
from pyprogen.train.preemption import Preempted

optim_hooks = importlib.import_module("torch.optim.optimizer")

FAMILIES = ("vae", "gan", "pixelcnn")
#: the same set-up runs here and in the subprocesses that are killed
SETUP = """
import torch
from pyprogen.models import build
from pyprogen.seeding import set_seed
from pyprogen.train import fit

_g = torch.Generator().manual_seed(0)
DATA = {"vae": (torch.rand(120, 12, generator=_g) < torch.linspace(0.1, 0.9, 12)).float(),
        "gan": torch.randn(120, 2, generator=_g) * 0.3 + 1.0,
        "pixelcnn": (torch.rand(120, 1, 6, 6, generator=_g) < 0.4).float()}
KW = {"vae": dict(latent_dim=2, hidden=(16,)), "gan": dict(latent_dim=2, hidden=(16, 16), ema=0.9, spectral_norm=True),
      "pixelcnn": dict(channels=8, depth=2)}
LOSS = {"vae": None, "gan": "gan-dp", "pixelcnn": None}  # the VAE's default: the JIT-compiled ELBO
RUN = dict(epochs=3, batch_size=20, seed=4, progress=False, checkpoint_every=4)  # 6 steps an epoch


def train(family, out=None, resume=False, **kw):
    set_seed(1)
    model = build(family, tuple(DATA[family].shape[1:]), **KW[family])
    history = fit(model, DATA[family], loss=LOSS[family], out=out, resume=resume, **{**RUN, **kw})
    return model, history
"""
KILLED = SETUP + """
import importlib, os, signal, sys
torch.set_num_threads(1)
family, out, where, at = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
count = [0]


def fire(*args):
    count[0] += 1
    if count[0] == at:
        os.kill(os.getpid(), signal.SIGKILL)


if where == "step":  # after backward, before the update
    importlib.import_module("torch.optim.optimizer").register_optimizer_step_pre_hook(fire)
else:  # the temp file is written and synced, not yet renamed over checkpoint.pt
    real_replace = os.replace

    def replace(src, dst, *args, **kwargs):
        if str(dst).endswith("checkpoint.pt"):
            fire()
        return real_replace(src, dst, *args, **kwargs)

    os.replace = replace
train(family, out)
"""
SCOPE = {}
#: optimiser steps of a whole run: 3 epochs x 6 steps; the GAN steps its critic and then its generator
OPT_STEPS = {"vae": 18, "gan": 36, "pixelcnn": 18}
#: checkpoint writes of a whole run with checkpoint_every=4: global steps 4, 6, 8, 12, 16, 18
WRITES = 6


@contextlib.contextmanager
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the killed subprocesses
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def train(*args, **kw):
    if not SCOPE:
        exec(SETUP, SCOPE)
    with one_thread():
        return SCOPE["train"](*args, **kw)


def state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def without_seconds(entries):
    return [{k: v for k, v in e.items() if k != "seconds"} for e in entries]


@pytest.fixture(scope="module")
def reference():
    refs = {}
    for family in FAMILIES:
        model, history = train(family)
        refs[family] = state(model), without_seconds(history)
    return refs


def assert_resumes_exactly(family, out, reference):
    """The directory loads, and resume ends at the uninterrupted run: parameters and metrics.json."""
    load_checkpoint(str(out))
    load(str(out))
    model, _ = train(family, str(out), resume=True)
    ref_state, ref_history = reference[family]
    got = state(model)
    for k, v in ref_state.items():
        assert torch.equal(v, got[k]), k
    assert without_seconds(json.loads((out / "metrics.json").read_text())) == ref_history
    assert not [n for n in os.listdir(out) if n.endswith(".tmp")]


def one_line(text):
    return text.count("\n") == 1 and text.endswith("\n")


class At:
    """Call ``action`` at the ``at``-th optimiser step (inside a training step) or the ``at``-th
    rename of a checkpoint's temp file (inside a checkpoint write)."""

    def __init__(self, where, at, action, monkeypatch):
        self.where, self.at, self.action, self.count, self.mp = where, at, action, 0, monkeypatch

    def fire(self, *args):
        self.count += 1
        if self.count == self.at:
            self.action()

    def __enter__(self):
        if self.where == "step":
            self.handle = optim_hooks.register_optimizer_step_pre_hook(self.fire)
        else:
            real = os.replace

            def replace(src, dst, *args, **kwargs):
                if str(dst).endswith("checkpoint.pt"):
                    self.fire()
                return real(src, dst, *args, **kwargs)

            self.mp.setattr(os, "replace", replace)
        return self

    def __exit__(self, *exc):
        if self.where == "step":
            self.handle.remove()
        else:
            self.mp.undo()


def send(sig):
    return lambda: os.kill(os.getpid(), sig)


# -- preemption signals ----------------------------------------------------------------------------
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("where", ["step", "write"])
def test_preemption_signals_then_resume_is_exact(family, where, reference, tmp_path, capsys, monkeypatch, record):
    """SIGTERM, then SIGUSR1 in the resumed run, at seeded moments; then resume to the end."""
    rng = random.Random(f"{family}-{where}")
    out = tmp_path / "run"
    for sig in (signal.SIGTERM, signal.SIGUSR1):
        at = rng.randint(1, OPT_STEPS[family] // 2) if where == "step" else rng.randint(1, WRITES // 2)
        capsys.readouterr()
        with At(where, at, send(sig), monkeypatch), pytest.raises(Preempted) as info:
            train(family, str(out), resume=out.exists())
        assert info.value.code == 143
        err = capsys.readouterr().err
        assert one_line(err) and err.startswith(f"pyprogen: preempted by {sig.name} ") and "--resume" in err
        load(str(out))
    assert_resumes_exactly(family, out, reference)
    record(f"SIGTERM/SIGUSR1 inside a {'step' if where == 'step' else 'checkpoint write'}", family,
           "recovered exactly", 2)


# -- SIGKILL: a subprocess -------------------------------------------------------------------------
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("where", [pytest.param("step", marks=pytest.mark.slow), "write"])  # a fresh interpreter each
def test_sigkill_then_resume_is_exact(family, where, reference, tmp_path, record):
    rng = random.Random(f"kill-{family}-{where}")
    per_step = OPT_STEPS[family] // 18
    # after the first checkpoint (step 4), so that there is a run to resume
    at = rng.randint(4 * per_step + 1, OPT_STEPS[family] - 1) if where == "step" else rng.randint(2, WRITES - 1)
    out = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", KILLED, family, str(out), where, str(at)], capture_output=True,
                          text=True, timeout=300, env=env)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    if where == "write":
        assert [n for n in os.listdir(out) if n.endswith(".tmp")]  # killed between write and rename
    assert_resumes_exactly(family, out, reference)
    record(f"SIGKILL inside a {'step' if where == 'step' else 'checkpoint write'}", family, "recovered exactly")


# -- a full disk ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("family", FAMILIES)
def test_disk_full_during_a_checkpoint_is_refused_and_keeps_the_last_one(family, reference, tmp_path, monkeypatch,
                                                                         record):
    at = random.Random(f"enospc-{family}").randint(2, WRITES)
    out = tmp_path / "run"
    real_open = pio.atomic_open
    writes, kept = [0], []

    @contextlib.contextmanager
    def full_disk(path, mode="wb"):
        if str(path).endswith("checkpoint.pt"):
            writes[0] += 1
            if writes[0] == at:
                kept.append(load_checkpoint(str(out)))
                with real_open(path, mode) as f:
                    f.write(b"PK\x03\x04 half a checkpoint")
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        with real_open(path, mode) as f:
            yield f

    monkeypatch.setattr(pio, "atomic_open", full_disk)
    with pytest.raises(PyprogenError) as info:
        train(family, str(out))
    monkeypatch.undo()
    assert "\n" not in str(info.value) and "No space left on device" in str(info.value)
    on_disk = load_checkpoint(str(out))  # the previous checkpoint, whole
    assert (on_disk["epoch"], on_disk["position"]) == (kept[0]["epoch"], kept[0]["position"])
    assert_resumes_exactly(family, out, reference)
    record("disk full during a checkpoint (patched writer, ENOSPC)", family, "refused cleanly, then recovered exactly")


@pytest.fixture
def tmpfs(tmp_path):
    """A 1 MiB tmpfs (root and a kernel that allows it), else skip."""
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.parametrize("family", FAMILIES)
def test_real_full_tmpfs_is_refused_and_resumes_after_space_is_freed(family, reference, tmpfs, record):
    out = tmpfs / "run"
    train(family, str(out), epochs=1)
    filler = tmpfs / "filler"
    with contextlib.suppress(OSError), open(filler, "wb", buffering=0) as f:  # fill it to the last block
        while True:
            f.write(b"\0" * 4096)
    # two blocks free: room for the run lock's pid, none for a checkpoint (pyprogen.train.lock writes the pid
    # unguarded, so a disk without a single free block fails there, with a traceback: reported, not ours)
    os.truncate(filler, filler.stat().st_size - 8192)
    assert (out / "checkpoint.pt").stat().st_size > 8192
    with pytest.raises(PyprogenError) as info:
        train(family, str(out), resume=True)
    assert "\n" not in str(info.value) and "No space left on device" in str(info.value)
    assert load_checkpoint(str(out))["epoch"] == 1  # untouched
    filler.unlink()
    assert_resumes_exactly(family, out, reference)
    record("disk full during a checkpoint (real 1 MiB tmpfs)", family, "refused cleanly, then recovered exactly")


# -- damaged files ---------------------------------------------------------------------------------
def damages(good, rng):
    yield "truncated to half", good[:len(good) // 2]
    yield "empty", b""
    yield "garbage", bytes(rng.getrandbits(8) for _ in range(len(good)))
    for _ in range(5):
        pos = rng.randrange(len(good))
        bad = bytearray(good)
        bad[pos] ^= 1 << rng.randrange(8)
        yield "one flipped bit", bytes(bad)


@pytest.mark.parametrize("family", FAMILIES)
def test_damaged_checkpoint_is_refused_in_one_line_or_resumes_exactly(family, reference, tmp_path, record):
    rng = random.Random(f"damage-{family}")
    out = tmp_path / "run"
    train(family, str(out), epochs=1)
    path = out / "checkpoint.pt"
    good = path.read_bytes()
    for kind, bad in damages(good, rng):
        path.write_bytes(bad)
        try:
            model, _ = train(family, str(out), resume=True)
        except PyprogenError as exc:
            assert "\n" not in str(exc) and str(exc).startswith("checkpoint: "), str(exc)
            assert path.read_bytes() == bad  # a refusal changes nothing
            with pytest.raises(PyprogenError):
                load(str(out))
            record(f"checkpoint.pt {kind}", family, "refused cleanly")
        else:  # the bit was in zip padding or a header field the reader does not use: the contents are intact
            assert kind == "one flipped bit"
            for k, v in reference[family][0].items():
                assert torch.equal(v, state(model)[k]), k
            record(f"checkpoint.pt {kind}", family, "recovered exactly (contents intact)")
        path.write_bytes(good)
    assert_resumes_exactly(family, out, reference)


@pytest.mark.parametrize("family", FAMILIES)
def test_damaged_metrics_json_is_rewritten_on_resume(family, reference, tmp_path, record):
    out = tmp_path / "run"
    train(family, str(out), epochs=1)
    metrics = out / "metrics.json"
    for kind, damage in (("truncated", lambda b: b[:len(b) // 2]), ("garbage", lambda b: b"\xff\x00{[" * 9),
                         ("deleted", None)):
        train(family, str(out), epochs=1)  # a fresh epoch-1 run each time
        if damage is None:
            metrics.unlink()
        else:
            metrics.write_bytes(damage(metrics.read_bytes()))
        assert_resumes_exactly(family, out, reference)  # fit never reads metrics.json: the checkpoint holds it
        record(f"metrics.json {kind}", family, "recovered exactly")


# -- through the command line: exit status 143 / 2 and one line ----------------------------------------
def cli_args(family, data, out):
    loss = ["--loss", "gan-dp"] if family == "gan" else []
    return ["train", family, "--data", str(data), *loss, "--epochs", "2", "--batch-size", "20",
            "--checkpoint-every", "4", "--num-particles", "2", "--seed", "3", "--out", str(out), "--no-progress"]


@pytest.mark.parametrize("family", ["gan", "pixelcnn"])
def test_cli_sigterm_exit_143_resume_and_refusals_exit_2(family, tmp_path, capsys, monkeypatch, record):
    import numpy as np

    if not SCOPE:
        exec(SETUP, SCOPE)
    data = tmp_path / "data.npy"
    np.save(data, SCOPE["DATA"][family].numpy())
    with one_thread():
        assert main(cli_args(family, data, tmp_path / "full")) in (0, None)
        capsys.readouterr()
        run = tmp_path / "run"
        with At("step", 7, send(signal.SIGTERM), monkeypatch), pytest.raises(SystemExit) as info:
            main(cli_args(family, data, run))
        assert info.value.code == 143
        err = capsys.readouterr().err
        assert one_line(err) and err.startswith("pyprogen: preempted by SIGTERM at epoch ")
        assert main([*cli_args(family, data, run), "--resume"]) in (0, None)
    full, resumed = load(str(tmp_path / "full")), load(str(run))
    for k, v in full.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k
    record("SIGTERM inside a step, through pyprogen train (exit 143, --resume)", family, "recovered exactly")

    # refusals through the CLI: one line on stderr, exit status 2
    good = (run / "checkpoint.pt").read_bytes()
    (run / "checkpoint.pt").write_bytes(good[: len(good) // 3])
    for argv in ([*cli_args(family, data, run), "--resume", "--epochs", "3"], ["evaluate", str(run)],
                 ["sample", str(run), "--out", str(tmp_path / "s.npy")]):
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert one_line(err) and err.startswith("pyprogen: error: checkpoint: "), err
    record("truncated checkpoint.pt, through pyprogen train/evaluate/sample", family, "refused cleanly (exit 2)", 3)
    (run / "checkpoint.pt").write_bytes(good)

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pio, "atomic_open", no_space)
    capsys.readouterr()
    with one_thread():
        assert main([*cli_args(family, data, run), "--resume", "--epochs", "3"]) == 2
    err = capsys.readouterr().err
    assert one_line(err) and "No space left on device" in err, err
    monkeypatch.undo()
    load(str(run))  # the last checkpoint is still there and whole
    record("disk full, through pyprogen train", family, "refused cleanly (exit 2)")
