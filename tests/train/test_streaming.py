"""fit streams a torch Dataset/DataLoader batch by batch: never materialised, same result as the tensor."""
import importlib
import os
import signal

import pytest
import torch

from pyprogen.errors import PyprogenError
from pyprogen.models import build
from pyprogen.seeding import set_seed
from pyprogen.train import fit
from pyprogen.train.preemption import Preempted

optim_hooks = importlib.import_module("torch.optim.optimizer")

_g = torch.Generator().manual_seed(0)
DATA = (torch.rand(130, 12, generator=_g) < torch.linspace(0.1, 0.9, 12)).float()  # 6 batches of 20, tail dropped
RUN = dict(epochs=2, batch_size=20, seed=4, loss="elbo", progress=False)


class Counting(torch.utils.data.Dataset):
    """Rows of DATA as float64 numpy-free tensors, counting every ``__getitem__``; ``label``: items
    are ``(x, y)`` pairs as torchvision's data sets return them."""

    def __init__(self, label=False):
        self.calls, self.label = 0, label

    def __len__(self):
        return len(DATA)

    def __getitem__(self, i):
        self.calls += 1
        row = DATA[i].double()
        return (row, 0) if self.label else row


class Counter:
    """Calls seen at every optimiser step (the most any single step may have read)."""

    def __init__(self, ds):
        self.ds, self.at_step = ds, []

    def __enter__(self):
        self.handle = optim_hooks.register_optimizer_step_pre_hook(lambda *a: self.at_step.append(self.ds.calls))
        return self

    def __exit__(self, *exc):
        self.handle.remove()


def vae():
    set_seed(1)
    return build("vae", (12,), latent_dim=2, hidden=(16,))


def state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def tensor_run():
    model = vae()
    history = fit(model, DATA, **RUN)
    return state(model), history.losses


@pytest.mark.parametrize("label", [False, True])
def test_dataset_is_streamed_and_equals_the_stacked_tensor(tensor_run, label):
    ds = Counting(label)
    model = vae()
    with Counter(ds) as counter:
        history = fit(model, ds, **RUN)
    # one batch read for set-up (capturing the parameters), then exactly one batch per step
    assert counter.at_step == [20 * (k + 2) for k in range(12)]
    assert ds.calls == 20 * 13  # 12 steps + set-up; the 10 tail rows of each epoch are never read
    ref_state, ref_losses = tensor_run
    for k, v in ref_state.items():
        assert torch.equal(v, state(model)[k]), k
    assert history.losses == ref_losses


def test_dataloader_with_a_worker_process_equals_the_tensor(tensor_run):
    loader = torch.utils.data.DataLoader(Counting(), batch_size=7, shuffle=True, num_workers=1)  # fit's batches win
    model = vae()
    history = fit(model, loader, **RUN)
    for k, v in tensor_run[0].items():
        assert torch.equal(v, state(model)[k]), k
    assert history.losses == tensor_run[1]


def test_streamed_run_resumes_exactly_from_inside_an_epoch(tensor_run, tmp_path):
    count = [0]

    def stop_at_8(*args):
        count[0] += 1
        if count[0] == 8:
            os.kill(os.getpid(), signal.SIGTERM)

    handle = optim_hooks.register_optimizer_step_pre_hook(stop_at_8)
    try:
        with pytest.raises(Preempted):
            fit(vae(), Counting(), out=str(tmp_path), **RUN)
    finally:
        handle.remove()
    ds = Counting()
    model = vae()
    fit(model, ds, out=str(tmp_path), resume=True, **RUN)
    assert ds.calls == 20 * (1 + 4)  # set-up, then the 4 steps left: nothing re-read
    for k, v in tensor_run[0].items():
        assert torch.equal(v, state(model)[k]), k


def test_bad_rows_in_a_stream_are_refused_in_one_line():
    class Bad(Counting):
        def __getitem__(self, i):
            return torch.full((12,), 0.5) if i == 3 else super().__getitem__(i)

    with pytest.raises(PyprogenError, match="binary|0/1|bernoulli") as info:
        fit(vae(), Bad(), **{**RUN, "epochs": 3})
    assert "\n" not in str(info.value)

    class Empty(torch.utils.data.Dataset):
        def __len__(self):
            return 0

    with pytest.raises(PyprogenError, match="empty Dataset"):
        fit(vae(), Empty(), **RUN)
