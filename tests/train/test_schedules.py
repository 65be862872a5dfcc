"""LR schedules: the learning rate each update uses is exactly the documented factor of the optimiser's
own update count, in fit and after a resume."""
import math

import pytest
import torch

from pyprogen.errors import PyprogenError
from pyprogen.models import build
from pyprogen.train import fit
from pyprogen.train.schedules import attach_schedule, make_schedule, steps_done


def test_named_schedules_at_given_steps():
    cos = make_schedule("cosine", total_steps=100, steps_per_epoch=10)
    assert cos(0) == 1.0 and cos(50) == pytest.approx(0.5) and cos(100) == pytest.approx(0.0)
    assert cos(25) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    assert make_schedule("cosine:0.1", total_steps=100, steps_per_epoch=10)(100) == pytest.approx(0.1)
    step = make_schedule("step", total_steps=100, steps_per_epoch=10)
    assert [step(t) for t in (0, 49, 50, 74, 75, 99)] == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])
    every = make_schedule("step:30:0.5", total_steps=100, steps_per_epoch=10)
    assert [every(t) for t in (0, 29, 30, 60, 90)] == [1, 1, 0.5, 0.25, 0.125]
    burda = make_schedule("burda", total_steps=10**6, steps_per_epoch=2)
    # 10^(-i/7) for 3^i epochs: epoch 0 -> i=0, epochs 1-3 -> i=1, epochs 4-12 -> i=2, ...
    assert [burda(t) for t in (0, 1, 2, 7, 8, 25, 26)] == pytest.approx(
        [1, 1, 10 ** (-1 / 7), 10 ** (-1 / 7), 10 ** (-2 / 7), 10 ** (-2 / 7), 10 ** (-3 / 7)])
    assert make_schedule(None, total_steps=5, steps_per_epoch=1)(3) == 1.0
    for bad in ("cosine:2", "step:0:0.5", "step:10", "linear", "cosine:x"):
        with pytest.raises(PyprogenError, match="lr_schedule"):
            make_schedule(bad, total_steps=10, steps_per_epoch=1)


def test_hook_sets_lr_from_the_optimiser_step_count():
    w = torch.nn.Parameter(torch.zeros(3))
    opt = torch.optim.Adam([w], lr=0.1)
    seen = []
    attach_schedule([opt], lambda t: 1.0 / (t + 1))
    for t in range(4):
        w.grad = torch.ones(3)
        opt.step()
        seen.append(opt.param_groups[0]["lr"])
        assert steps_done(opt) == t + 1
    assert seen == pytest.approx([0.1, 0.05, 0.1 / 3, 0.025])


def _lrs(tmp_path, epochs, resume=False, schedule="cosine"):
    """The learning rate of every update in a fit (read by a step hook added after fit's own)."""
    torch.manual_seed(0)
    vae = build("vae", (4,), latent_dim=2, likelihood="bernoulli", hidden=(8,))
    x = (torch.rand(64, 4) > 0.5).float()
    return fit(vae, x, epochs=epochs, batch_size=16, lr=0.01, lr_schedule=schedule, out=str(tmp_path),
               resume=resume, progress=False), vae


def test_fit_cosine_schedule_and_exact_resume(tmp_path, monkeypatch):
    seen = []
    original = torch.optim.Adam.step

    def record(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", record)
    _lrs(tmp_path / "full", 3)
    total = 3 * 4  # 64 points, batch 16
    assert seen == pytest.approx([0.01 * 0.5 * (1 + math.cos(math.pi * t / total)) for t in range(total)])
    seen.clear()
    full, vae_full = _lrs(tmp_path / "full2", 3)
    seen.clear()
    _lrs(tmp_path / "split", 1, schedule=make_schedule("cosine", total_steps=12, steps_per_epoch=4))
    resumed, vae_resumed = _lrs(tmp_path / "split", 3, resume=True,
                                schedule=make_schedule("cosine", total_steps=12, steps_per_epoch=4))
    assert seen[4:] == pytest.approx([0.01 * 0.5 * (1 + math.cos(math.pi * t / total)) for t in range(4, total)])
    assert [e["loss"] for e in resumed] == [e["loss"] for e in full]
    for a, b in zip(vae_full.parameters(), vae_resumed.parameters()):
        assert torch.equal(a, b)
