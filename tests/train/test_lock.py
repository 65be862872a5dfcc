"""One training per run directory (pyprogen.train.lock): flock on out/.lock, pid named, stale locks ignored."""
import fcntl
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from pyprogen.cli import main
from pyprogen.errors import PyprogenError
from pyprogen.models import build
from pyprogen.seeding import set_seed
from pyprogen.train import fit, load
from pyprogen.train.lock import LOCK_NAME, RunLock

# another process holding the lock the way RunLock does (flock + pid), without torch's import time
HOLD = "import fcntl, os, sys, time; f = open(os.path.join(sys.argv[1], '.lock'), 'a+'); " \
       "fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB); f.truncate(0); f.write(f'{os.getpid()}\\n'); f.flush(); " \
       "print('locked', flush=True); time.sleep(120)"
TRAIN = """
import sys, torch
torch.set_num_threads(1)
from pyprogen.models import build
from pyprogen.seeding import set_seed
from pyprogen.train import fit
torch.manual_seed(0)
data = (torch.rand(300, 12) < torch.linspace(0.1, 0.9, 12)).float()
set_seed(1)
model = build("vae", (12,), latent_dim=2, hidden=(16,))
fit(model, data, epochs=int(sys.argv[2]), batch_size=10, seed=4, out=sys.argv[1], progress=False)
print("done", flush=True)
"""


def spawn(code, *args):
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for(cond, timeout=60.0):
    t0 = time.monotonic()
    while not cond():
        assert time.monotonic() - t0 < timeout, "timed out"
        time.sleep(0.02)


def test_second_training_fails_at_once_naming_dir_and_pid_then_stale_lock_is_free(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    out.mkdir()
    holder = spawn(HOLD, out)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert (out / LOCK_NAME).read_text().strip() == str(holder.pid)
        with pytest.raises(PyprogenError, match=rf"out: {out} is in use by another training \(pid {holder.pid}\)"):
            RunLock(out).acquire()
        set_seed(0)
        model = build("vae", (12,), latent_dim=2, hidden=(16,))
        with pytest.raises(PyprogenError, match=rf"pid {holder.pid}"):
            fit(model, torch.zeros(20, 12), epochs=1, batch_size=10, out=str(out), progress=False)
        import pyprogen.experiments.runs as runs

        loaded = []
        monkeypatch.setattr(runs, "load_dataset", lambda *a, **k: loaded.append(a))
        capsys.readouterr()
        code = main(["train", "vae", "--data", "ring8", "--epochs", "1", "--out", str(out), "--no-progress"])
        err = capsys.readouterr().err
        assert code == 2 and err.count("\n") == 1 and f"pid {holder.pid}" in err and str(out) in err
        assert loaded == []  # "at once": refused before any data is loaded or any step is taken
        assert not (out / "checkpoint.pt").exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # the holder died by SIGKILL without releasing: the kernel dropped its flock, the dir is free
    with RunLock(out):
        assert (out / LOCK_NAME).read_text().strip() == str(os.getpid())
    assert (out / LOCK_NAME).read_text() == ""  # released


def test_running_training_is_unharmed_by_a_second_one(tmp_path):
    out = tmp_path / "run"
    first = spawn(TRAIN, out, 6)
    try:
        wait_for(lambda: (out / LOCK_NAME).exists() and (out / LOCK_NAME).read_text().strip() == str(first.pid))
        set_seed(0)
        with pytest.raises(PyprogenError, match=rf"pid {first.pid}"):
            fit(build("vae", (12,), latent_dim=2, hidden=(16,)), torch.zeros(20, 12), epochs=1, out=str(out),
                progress=False)
        stdout, stderr = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, stderr
    assert stdout.strip() == "done"
    # the first run's result equals the same training run here, uninterrupted
    torch.manual_seed(0)
    data = (torch.rand(300, 12) < torch.linspace(0.1, 0.9, 12)).float()
    set_seed(1)
    ref = build("vae", (12,), latent_dim=2, hidden=(16,))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        fit(ref, data, epochs=6, batch_size=10, seed=4, progress=False)
    finally:
        torch.set_num_threads(threads)
    got = load(str(out)).state_dict()
    for k, v in ref.state_dict().items():
        assert torch.allclose(v, got[k], rtol=0, atol=1e-6), k


def held_elsewhere(directory):
    """Would another open file description (another process) be refused the lock?"""
    with open(os.path.join(directory, LOCK_NAME), "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
        return False


def test_reentrant_in_one_process_and_released(tmp_path):
    lock = RunLock(tmp_path).acquire()
    with RunLock(tmp_path):  # the same process may nest (train_run holds it around fit)
        assert held_elsewhere(tmp_path)
    assert held_elsewhere(tmp_path)  # still held after the inner release
    lock.release()
    assert not held_elsewhere(tmp_path)
    with pytest.raises(PyprogenError, match="is in use"):  # a second description is refused, even here
        with open(tmp_path / LOCK_NAME, "a+") as f:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            RunLock(tmp_path).acquire()


def test_stale_temp_files_of_a_killed_writer_are_removed(tmp_path):
    (tmp_path / ".checkpoint.pt.abc123.tmp").write_bytes(b"torn")
    (tmp_path / ".metrics.json.x.tmp").write_text("{")
    (tmp_path / ".other.tmp").write_text("not ours")
    with RunLock(tmp_path):
        names = sorted(os.listdir(tmp_path))
    assert names == [".lock", ".other.tmp"]


def test_a_directory_the_lock_created_goes_away_if_nothing_was_written(tmp_path, capsys):
    with RunLock(tmp_path / "new"):
        assert (tmp_path / "new" / LOCK_NAME).exists()
    assert not (tmp_path / "new").exists()  # e.g. `pyprogen train nonsense` leaves no runs/latest behind
    with RunLock(tmp_path / "kept"):
        (tmp_path / "kept" / "checkpoint.pt").write_bytes(b"x")
    assert sorted(os.listdir(tmp_path / "kept")) == [".lock", "checkpoint.pt"]
    assert main(["train", "nonsense", "--data", "ring8", "--out", str(tmp_path / "bad" / "runs" / "latest")]) == 2
    assert sorted(os.listdir(tmp_path)) == ["kept"]  # every directory it made is gone


def test_a_full_disk_under_the_lock_is_one_line(tmp_path, monkeypatch):
    import errno

    import pyprogen.train.lock as lock_module

    real_open = open

    class FullDisk:
        def __init__(self, f):
            self.f = f

        def write(self, text):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.f, name)

    monkeypatch.setattr(lock_module, "open", lambda *a, **k: FullDisk(real_open(*a, **k)), raising=False)
    with pytest.raises(PyprogenError, match=r"^out: cannot write the lock file in .*No space left on device\)$"):
        RunLock(str(tmp_path / "run")).acquire()
