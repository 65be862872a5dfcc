"""Preemption (SIGTERM/SIGUSR1 → checkpoint at the step boundary, exit 143), mid-epoch checkpoints
(``checkpoint_every``), exact resume from inside an epoch, elastic auto-resume, checkpoint digests."""
import importlib
import json
import os
import signal
import threading

import pytest
import torch

from pyprogen.errors import PyprogenError
from pyprogen.models import build
from pyprogen.seeding import set_seed
from pyprogen.train import fit, load
from pyprogen.train.checkpoint import load_checkpoint
from pyprogen.train.launch import torchrun_command
from pyprogen.train.preemption import EXIT_STATUS, Preempted, PreemptionGuard, elastic_resume

optim_hooks = importlib.import_module("torch.optim.optimizer")

_g = torch.Generator().manual_seed(0)
VAE_DATA = (torch.rand(120, 12, generator=_g) < torch.linspace(0.1, 0.9, 12)).float()
GAN_DATA = torch.randn(120, 2, generator=_g) * 0.3 + 1.0
RUN = dict(epochs=3, batch_size=20, seed=4, progress=False)  # 6 steps per epoch


def vae():
    set_seed(1)
    return build("vae", (12,), latent_dim=2, hidden=(16,))


def gan():
    set_seed(1)
    return build("gan", (2,), latent_dim=2, hidden=(16, 16))


CASES = {"vae": (vae, VAE_DATA, {}), "gan": (gan, GAN_DATA, {"loss": "gan-dp"})}


def state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def without_seconds(entries):
    return [{k: v for k, v in e.items() if k != "seconds"} for e in entries]


class SignalAt:
    """Send ``sig`` to this process from inside the ``at``-th optimiser step (after backward, before
    the update: inside a training step)."""

    def __init__(self, at, sig=signal.SIGTERM):
        self.at, self.sig, self.count = at, sig, 0

    def __enter__(self):
        def hook(optimizer, args, kwargs):
            self.count += 1
            if self.count == self.at:
                os.kill(os.getpid(), self.sig)

        self.handle = optim_hooks.register_optimizer_step_pre_hook(hook)
        return self

    def __exit__(self, *exc):
        self.handle.remove()


@pytest.fixture(scope="module")
def reference():
    out = {}
    for name, (make, data, kw) in CASES.items():
        model = make()
        history = fit(model, data, **RUN, **kw)
        out[name] = state(model), without_seconds(history)
    return out


@pytest.mark.parametrize("name,sig,at", [("vae", signal.SIGTERM, 8), ("gan", signal.SIGUSR1, 15)])
def test_signal_checkpoints_mid_epoch_exits_143_and_resume_is_exact(name, sig, at, reference, tmp_path, capsys):
    make, data, kw = CASES[name]
    out = str(tmp_path / "run")
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGUSR1)
    with SignalAt(at, sig), pytest.raises(Preempted) as info:
        fit(make(), data, out=out, **RUN, **kw)
    assert info.value.code == EXIT_STATUS == 143
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGUSR1)) == before  # restored
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"pyprogen: preempted by {sig.name} at epoch 2, step ")
    ckpt = load_checkpoint(out)
    steps_per_opt = 2 if name == "gan" else 1  # the GAN steps its critic and its generator
    assert ckpt["epoch"] == 1 and ckpt["position"]["step"] == (at + steps_per_opt - 1) // steps_per_opt - 6
    assert set(ckpt["position"]["totals"]) == set(reference[name][1][0]) - {"epoch"}
    load(out)  # loadable
    resumed = make()
    history = fit(resumed, data, out=out, resume=True, **RUN, **kw)
    ref_state, ref_history = reference[name]
    for k, v in ref_state.items():
        assert torch.equal(v, state(resumed)[k]), k
    assert without_seconds(history) == ref_history  # the epoch's running totals resumed, too
    assert without_seconds(json.loads(open(os.path.join(out, "metrics.json")).read())) == ref_history


def test_checkpoint_every_writes_positions_and_resumes_exactly(reference, tmp_path):
    make, data, kw = CASES["vae"]
    out = str(tmp_path / "run")
    fit(make(), data, out=out, checkpoint_every=4, **{**RUN, "epochs": 2}, **kw)
    ckpt = load_checkpoint(out)
    assert ckpt["epoch"] == 2 and ckpt["position"] is None  # the epoch end's checkpoint is the last
    # stop after step 10 = epoch 2, step 4 (a checkpoint_every write): the mid-epoch state is on disk
    with SignalAt(10), pytest.raises(Preempted):
        fit(make(), data, out=str(tmp_path / "b"), checkpoint_every=4, **RUN, **kw)
    ckpt = load_checkpoint(str(tmp_path / "b"))
    assert (ckpt["epoch"], ckpt["position"]["step"]) == (1, 4)
    resumed = make()
    fit(resumed, data, out=str(tmp_path / "b"), resume=True, checkpoint_every=4, **RUN, **kw)
    for k, v in reference["vae"][0].items():
        assert torch.equal(v, state(resumed)[k]), k
    with pytest.raises(PyprogenError, match="checkpoint_every: expected a positive integer"):
        fit(make(), data, checkpoint_every=0, **RUN)


def test_guard_only_in_main_thread_and_only_with_out():
    seen = []

    def worker():
        with PreemptionGuard() as guard:
            seen.append(guard._previous)

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen == [{}]  # nothing installed outside the main thread
    before = signal.getsignal(signal.SIGTERM)
    with PreemptionGuard() as guard:
        assert signal.getsignal(signal.SIGTERM) == guard._handler
        os.kill(os.getpid(), signal.SIGUSR1)
        assert guard.requested == "SIGUSR1"
    assert signal.getsignal(signal.SIGTERM) == before


def test_elastic_resume_only_for_a_restarted_worker_of_the_same_run(monkeypatch):
    monkeypatch.delenv("TORCHELASTIC_RESTART_COUNT", raising=False)
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "abc")
    assert not elastic_resume({"elastic_run_id": "abc"})  # the first attempt starts afresh
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "1")
    assert elastic_resume({"elastic_run_id": "abc"})
    assert not elastic_resume({"elastic_run_id": "other"})  # an older run's checkpoint in the same dir
    assert not elastic_resume(None)


def test_damaged_checkpoint_is_refused_in_one_line(tmp_path):
    out = str(tmp_path)
    fit(vae(), VAE_DATA, out=out, **{**RUN, "epochs": 1})
    ckpt = load_checkpoint(out)
    ckpt["model"][next(iter(ckpt["model"]))].view(-1)[0] += 1.0  # a flipped weight the zip format would miss
    torch.save(ckpt, os.path.join(out, "checkpoint.pt"))
    for call in (lambda: load(out), lambda: fit(vae(), VAE_DATA, out=out, resume=True, **RUN)):
        with pytest.raises(PyprogenError, match="is damaged") as info:
            call()
        assert "\n" not in str(info.value)


def test_torchrun_command_with_max_restarts():
    cmd = torchrun_command(2, ["train", "vae", "--nproc", "2", "--max-restarts", "3", "--checkpoint-every", "5"],
                           max_restarts=3)
    assert cmd[1:] == ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "--max-restarts=3",
                       "-m", "pyprogen", "train", "vae", "--checkpoint-every", "5"]
