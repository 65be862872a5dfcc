"""Where ``fit``'s minibatches come from: a tensor in memory, or a ``Dataset`` read batch by batch.

Either way the rows of a step are chosen by index (fit's epoch order, a pure function of
``(seed, epoch)``, sharded by rank), so a streamed run visits exactly the rows the in-memory run
would, in the same order, and resumes at any step. A ``torch.utils.data.Dataset`` is never
materialised: each step reads only its own rows (``dataset[i]``; an item that is a tuple, as
torchvision's ``(image, label)``, contributes its first element) and checks them the way
:func:`pyprogen.train.fit.as_training_tensor` checks a whole tensor (shape, finite values, the
likelihood's range). A ``DataLoader`` contributes its dataset, ``collate_fn`` and ``num_workers``
(worker processes read the rows ahead); the batches themselves are fit's (``batch_size``, order),
not the loader's. The loader is given its own generator, so it never consumes the global RNG.
"""
import inspect
import math

import torch

from ..data.arrays import ArrayDataset, as_tensor
from ..errors import PyprogenError


def is_streamed(data):
    """True for a ``Dataset``/``DataLoader`` that ``fit`` reads batch by batch."""
    if isinstance(data, torch.utils.data.DataLoader):
        return True
    return isinstance(data, torch.utils.data.Dataset) and not isinstance(data, ArrayDataset)


def check_rows(model, x, argument="data"):
    """``x`` (float, ``(N, ...)``) reshaped to the model's ``data_shape`` and range-checked."""
    shape = getattr(model, "data_shape", None)
    if shape is None:
        model.data_shape = shape = tuple(x.shape[1:])
    if tuple(x.shape[1:]) != tuple(shape):
        if x[0].numel() != math.prod(shape):
            raise PyprogenError(f"{argument}: expected shape (N, {', '.join(map(str, shape))}), got {tuple(x.shape)}")
        x = x.reshape(-1, *shape)
    likelihood = getattr(model, "likelihood", None)
    if likelihood is not None and hasattr(likelihood, "check"):
        likelihood.check(x, argument)
    return x


class TensorSource:
    """Rows of a tensor already in memory (on the training device); with ``y`` (labels, one per row)
    a step's rows are the pair ``(x[idx], y[idx])``, which the step passes on as ``model(x, y)``."""

    def __init__(self, x, y=None):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def rows(self, idx):
        return self.x[idx] if self.y is None else (self.x[idx], self.y[idx])

    def batches(self, index_batches):
        for idx in index_batches:
            yield self.rows(idx)


def _item(value):
    if isinstance(value, (tuple, list)) and value and not isinstance(value[0], (int, float)):
        value = value[0]
    return torch.as_tensor(value)


class DatasetSource:
    """Rows of a ``Dataset`` read per step (see the module docstring)."""

    def __init__(self, model, data, device, argument="data"):
        loader = data if isinstance(data, torch.utils.data.DataLoader) else None
        self.dataset = loader.dataset if loader is not None else data
        self.num_workers = loader.num_workers if loader is not None else 0
        self.collate_fn = loader.collate_fn if loader is not None else None
        self.model, self.device, self.argument = model, torch.device(device), argument
        try:
            self.n = len(self.dataset)
        except TypeError:
            raise PyprogenError(f"{argument}: expected a map-style Dataset with len(), got "
                                f"{type(self.dataset).__name__}") from None
        if self.n < 1:
            raise PyprogenError(f"{argument}: expected at least one data point, got an empty Dataset")

    def __len__(self):
        return self.n

    def _checked(self, batch):
        if isinstance(batch, (tuple, list)) and batch and isinstance(batch[0], torch.Tensor) and batch[0].dim() > 0:
            batch = batch[0]  # a collated (x, y)
        return check_rows(self.model, as_tensor(batch, self.argument), self.argument).to(self.device)

    def rows(self, idx):
        return self._checked(torch.stack([_item(self.dataset[int(i)]) for i in idx]))

    def batches(self, index_batches):
        index_batches = [idx.tolist() for idx in index_batches]
        if self.num_workers == 0 or not index_batches:
            for idx in index_batches:
                yield self.rows(idx)
            return
        loader = torch.utils.data.DataLoader(self.dataset, batch_sampler=index_batches, num_workers=self.num_workers,
                                             collate_fn=self.collate_fn, generator=torch.Generator().manual_seed(0))
        for batch in loader:
            yield self._checked(batch)


def step_arguments(rows):
    """The positional arguments of a step for one batch: ``(x,)``, or ``(x, y)`` for labelled rows."""
    return rows if isinstance(rows, tuple) else (rows,)


def takes_labels(model):
    """Whether ``model.model(x, y)`` takes labels (cvae, m2)."""
    return "y" in inspect.signature(model.model).parameters


def check_labels(model, labels, n):
    """``labels`` as a long tensor ``(n,)`` for a model whose ``model(x, y)`` takes them, or one line:
    labels for a model without ``y``, or none for one that ``requires_labels`` (the conditional VAE)."""
    name = type(model).__name__
    if labels is None:
        if getattr(model, "requires_labels", False):
            raise PyprogenError(f"labels: {name} needs a label for every data point; pass fit(..., labels=y) "
                                "(or use a semi-supervised model such as m2)")
        return None
    if not takes_labels(model):
        raise PyprogenError(f"labels: {name}'s model(x) takes no labels (a model(x, y) such as cvae or m2 does)")
    check = getattr(model, "labels", None)
    if callable(check):
        checked = check(labels, n, "labels")
        # all missing: M2 checks them to None; pass them on as given (-1s) so every batch is alike
        return torch.as_tensor(labels).long().reshape(-1) if checked is None else checked.cpu()
    y = torch.as_tensor(labels)
    if y.dim() != 1 or len(y) != n or y.dtype.is_floating_point:
        raise PyprogenError(f"labels: expected {n} integer labels (one per data point), got shape {tuple(y.shape)}")
    return y.long()


def make_source(model, data, device, as_training_tensor, labels=None):
    """A :class:`DatasetSource` for a Dataset/DataLoader, else a :class:`TensorSource` of
    ``as_training_tensor(model, data)`` (and ``labels``, checked) on ``device``."""
    if is_streamed(data):
        if labels is not None:
            raise PyprogenError("labels: pass the data as a tensor or array with labels= "
                                "(a streamed Dataset's own labels are not read)")
        check_labels(model, None, 0)
        return DatasetSource(model, data, device)
    x = as_training_tensor(model, data).to(device)
    y = check_labels(model, labels, len(x))
    return TensorSource(x, None if y is None else y.to(device))
