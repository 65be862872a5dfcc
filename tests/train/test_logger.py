"""The logger protocol fit calls (scalars per step, entries per epoch, sample grids) and the TensorBoard logger."""
import importlib
import json
import math
import os
import sys

import numpy as np
import pytest
import torch

from pyprogen.cli import main
from pyprogen.models import build
from pyprogen.seeding import set_seed
from pyprogen.train import fit
from pyprogen.train.logger import Logger, sample_grid

from pyprogen.train.tensorboard_logger import TensorBoardLogger

optim_hooks = importlib.import_module("torch.optim.optimizer")

_g = torch.Generator().manual_seed(0)
VAE_DATA = (torch.rand(120, 12, generator=_g) < torch.linspace(0.1, 0.9, 12)).float()
PIX_DATA = (torch.rand(60, 1, 6, 6, generator=_g) < 0.4).float()
RUN = dict(epochs=3, batch_size=20, seed=4, progress=False, loss="elbo")  # 6 steps per epoch


def vae():
    set_seed(1)
    return build("vae", (12,), latent_dim=2, hidden=(16,))


def pixelcnn():
    set_seed(1)
    return build("pixelcnn", (1, 6, 6), channels=8, depth=2)


def state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class Recording(Logger):
    def __init__(self):
        self.calls = []

    def start(self, model, global_step):
        self.calls.append(("start", global_step))

    def log_step(self, global_step, scalars):
        self.calls.append(("step", global_step, dict(scalars)))

    def log_epoch(self, epoch, entry, model, global_step):
        self.calls.append(("epoch", epoch, dict(entry), global_step))

    def close(self):
        self.calls.append(("close",))


def events(log_dir):
    """The event files of ``log_dir`` read back by TensorBoard itself (skips without the extra)."""
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


def test_fit_calls_the_logger_each_step_and_epoch_with_losses_lrs_and_grad_norms():
    logger = Recording()
    history = fit(vae(), VAE_DATA, logger=logger, grad_clip=1e-3, **RUN)
    kinds = [c[0] for c in logger.calls]
    assert kinds == ["start"] + (["step"] * 6 + ["epoch"]) * 3 + ["close"]
    steps = [c for c in logger.calls if c[0] == "step"]
    assert [c[1] for c in steps] == list(range(1, 19))
    for _, _, scalars in steps:
        assert set(scalars) == {"loss", "lr/model", "grad_norm/model"}
        assert scalars["lr/model"] == 1e-3
        assert math.isfinite(scalars["grad_norm/model"]) and scalars["grad_norm/model"] > 1e-3  # before clipping
    epochs = [c for c in logger.calls if c[0] == "epoch"]
    assert [c[2] for c in epochs] == list(history) and [c[3] for c in epochs] == [6, 12, 18]


def test_tensorboard_epoch_values_equal_metrics_json_and_logging_changes_nothing(tmp_path):
    pytest.importorskip("tensorboard")
    out = tmp_path / "run"
    model = pixelcnn()  # an image model: a sample grid per epoch (drawn with the RNG states restored)
    fit(model, PIX_DATA, out=str(out), logger=TensorBoardLogger(out / "tensorboard", images=4), **RUN)
    plain = pixelcnn()
    fit(plain, PIX_DATA, **RUN)
    for k, v in state(plain).items():
        assert torch.equal(v, state(model)[k]), k
    entries = json.loads((out / "metrics.json").read_text())
    acc = events(out / "tensorboard")
    for key in ("loss", "seconds"):
        logged = acc.Scalars(f"epoch/{key}")
        assert [e.step for e in logged] == [3, 6, 9]  # at the global step that ended each epoch
        assert [e.value for e in logged] == [np.float32(e[key]) for e in entries]  # float32 in event files
    assert [e.step for e in acc.Scalars("train/loss")] == list(range(1, 10))
    assert {"lr/model", "grad_norm/model"} <= set(acc.Tags()["scalars"])
    images = acc.Images("samples")
    assert len(images) == 3 and (images[0].width, images[0].height) == (16, 16)  # 2 x 2 grid of 6 px + borders


def test_resumed_run_logs_each_step_once(tmp_path):
    pytest.importorskip("tensorboard")
    out = tmp_path / "run"
    count = [0]

    def crash_at_10(*args):
        count[0] += 1
        if count[0] == 10:
            raise RuntimeError("power cut")

    handle = optim_hooks.register_optimizer_step_pre_hook(crash_at_10)
    try:
        with pytest.raises(RuntimeError, match="power cut"):
            fit(vae(), VAE_DATA, out=str(out), checkpoint_every=4, logger=TensorBoardLogger(out / "tb"), **RUN)
    finally:
        handle.remove()
    fit(vae(), VAE_DATA, out=str(out), resume=True, checkpoint_every=4, logger=TensorBoardLogger(out / "tb"), **RUN)
    acc = events(out / "tb")
    assert [e.step for e in acc.Scalars("train/loss")] == list(range(1, 19))  # step 9, logged twice, purged once
    entries = json.loads((out / "metrics.json").read_text())
    assert [e.value for e in acc.Scalars("epoch/loss")] == [np.float32(e["loss"]) for e in entries]


def test_sample_grid_restores_every_rng_and_skips_non_images():
    model = pixelcnn()
    before = torch.get_rng_state()
    grid = sample_grid(model, 5)
    assert torch.equal(torch.get_rng_state(), before) and grid.shape == (1, 2 * 8, 3 * 8)  # 3 columns, 2 rows
    assert sample_grid(vae()) is None


def gan_args(tmp_path):
    data = tmp_path / "d.npy"
    np.save(data, torch.randn(120, 2, generator=torch.Generator().manual_seed(1)).numpy())
    return ["train", "gan", "--data", str(data), "--loss", "gan-dp", "--epochs", "2", "--batch-size", "20",
            "--num-particles", "2", "--no-progress", "--tensorboard"]


def test_cli_tensorboard_flag_writes_out_tensorboard(tmp_path):
    pytest.importorskip("tensorboard")
    assert main([*gan_args(tmp_path), "--out", str(tmp_path / "run")]) in (0, None)
    acc = events(tmp_path / "run" / "tensorboard")
    assert {"train/gen_loss", "train/critic_loss", "lr/generator", "grad_norm/critic", "epoch/gen_loss"} \
        <= set(acc.Tags()["scalars"])


def test_cli_tensorboard_without_the_extra_is_one_line(tmp_path, capsys, monkeypatch):
    args = gan_args(tmp_path)
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if tensorboard were not installed
    capsys.readouterr()
    assert main([*args, "--out", str(tmp_path / "other")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'pip install "pyprogen[tensorboard]"' in err
    assert not os.path.exists(tmp_path / "other" / "checkpoint.pt")
