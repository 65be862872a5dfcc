"""keep_labels keeps the same number per class and hides the rest; balanced_rows makes labelled rows half an epoch."""
import pytest
import torch

from pyprogen.data.semi_supervised import MISSING, balanced_rows, keep_labels
from pyprogen.errors import PyprogenError
from pyprogen.models.m2 import MISSING as M2_MISSING


def test_keep_labels_per_class_and_seeded():
    y = torch.arange(1000) % 10
    kept = keep_labels(y, 103, seed=4)
    assert MISSING == M2_MISSING == -1
    counts = torch.bincount(kept[kept != MISSING], minlength=10)
    assert counts.tolist() == [11, 11, 11, 10, 10, 10, 10, 10, 10, 10]  # 103 = 10·10 + 3 to the first classes
    assert torch.equal(kept[kept != MISSING], y[kept != MISSING])  # kept labels are the true ones
    assert torch.equal(kept, keep_labels(y, 103, seed=4)) and not torch.equal(kept, keep_labels(y, 103, seed=5))
    assert torch.equal(keep_labels(y, None), y) and torch.equal(keep_labels(y, 5000), y)


def test_balanced_rows_make_labelled_rows_about_half():
    y = torch.full((1000,), MISSING)
    y[:30] = torch.arange(30) % 10
    rows = balanced_rows(y)
    labelled = (y[rows] != MISSING).sum().item()
    assert labelled == 30 * 32 and len(rows) == 970 + 960  # round(970 / 30) = 32 repeats
    assert abs(labelled / len(rows) - 0.5) < 0.01
    assert torch.equal(balanced_rows(torch.arange(10)), torch.arange(10))


def test_bad_label_counts_are_one_line_errors():
    y = torch.arange(100) % 10
    with pytest.raises(PyprogenError, match="labels: expected at least one label per class"):
        keep_labels(y, 5)
    with pytest.raises(PyprogenError, match="labels: expected a positive number"):
        keep_labels(y, 0)
