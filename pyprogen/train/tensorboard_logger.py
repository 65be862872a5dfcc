"""TensorBoard logger (``pip install "pyprogen[tensorboard]"``): event files via ``torch.utils.tensorboard``.

Tags: ``train/<term>`` (every step's loss terms), ``lr/<optimiser>``, ``grad_norm/<optimiser>`` per
step; ``epoch/<key>`` per epoch for every number in that epoch's metrics.json entry (loss terms,
``test_loss``, ``seconds``) and ``samples``, an image grid, for image models. One x axis for all:
the global step (an epoch's values at the step that ended it). A resumed run opens the writer with ``purge_step`` at the step it resumes after, so the
events an interrupted run logged past its last checkpoint are dropped and the curves stay single.
"""
from ..errors import PyprogenError
from .logger import Logger, epoch_scalars, sample_grid

INSTALL = 'tensorboard: the TensorBoard logger needs the tensorboard package; pip install "pyprogen[tensorboard]"'


def summary_writer_class():
    """``torch.utils.tensorboard.SummaryWriter``, or one line saying how to install it."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # torch.utils.tensorboard imports tensorboard and raises ImportError without it
        raise PyprogenError(INSTALL) from None
    return SummaryWriter


class TensorBoardLogger(Logger):
    """``fit(..., logger=TensorBoardLogger("runs/x/tensorboard"))``; ``images``: samples per grid
    (0: none); ``every``: log step scalars every this many steps."""

    def __init__(self, log_dir, *, images=16, every=1):
        self.writer_class = summary_writer_class()  # fails here, before any training
        self.log_dir, self.images, self.every = str(log_dir), int(images), max(1, int(every))
        self.writer = None

    def start(self, model, global_step):
        self.close()
        self.writer = self.writer_class(self.log_dir, purge_step=global_step + 1 if global_step else None)

    def log_step(self, global_step, scalars):
        if global_step % self.every:
            return
        for key, value in scalars.items():
            tag = key if "/" in key else f"train/{key}"
            self.writer.add_scalar(tag, value, global_step)

    def log_epoch(self, epoch, entry, model, global_step):
        for key, value in epoch_scalars(entry).items():
            self.writer.add_scalar(f"epoch/{key}", value, global_step)
        grid = sample_grid(model, self.images) if self.images else None
        if grid is not None:
            self.writer.add_image("samples", grid, global_step)
        self.writer.flush()

    def close(self):
        if self.writer is not None:
            self.writer.close()
            self.writer = None
