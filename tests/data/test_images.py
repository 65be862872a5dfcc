import gzip

import numpy as np
import pytest
import torch

from pyprogen.data import load_dataset
from pyprogen.data.images import read_idx
from pyprogen.errors import PyprogenError


@pytest.mark.parametrize("name, n_train, n_test, shape", [
    ("binarized-mnist", 50000, 10000, (1, 28, 28)),
    ("mnist", 10000, 2000, (1, 28, 28)),
    ("dsprites", 18000, 2000, (1, 64, 64)),
])
def test_shipped_sets(name, n_train, n_test, shape):
    train, test = load_dataset(name, "train"), load_dataset(name, "test")
    assert (len(train), len(test), train.data_shape) == (n_train, n_test, shape)
    assert 0.0 <= float(train.x.min()) and float(train.x.max()) <= 1.0


def test_binarized_mnist_is_binary_with_sensible_ink():
    x = load_dataset("binarized-mnist", "test").x
    assert bool(((x == 0) | (x == 1)).all())
    assert 0.10 < float(x.mean()) < 0.16  # ~13 % of binarised MNIST pixels are on


def test_mnist_labels_cover_ten_classes():
    y = load_dataset("mnist", "test").y
    assert set(y.tolist()) == set(range(10))


def test_idx_reader_checks_magic_and_size(tmp_path):
    good = tmp_path / "good.gz"
    header = (2051).to_bytes(4, "big") + (2).to_bytes(4, "big") + (2).to_bytes(4, "big") + (2).to_bytes(4, "big")
    good.write_bytes(gzip.compress(header + bytes(range(8))))
    arr = read_idx(str(good), 2051)
    assert arr.shape == (2, 2, 2) and arr[1, 1, 1] == 7
    with pytest.raises(PyprogenError, match="magic"):
        read_idx(str(good), 2049)
    bad = tmp_path / "short.gz"
    bad.write_bytes(gzip.compress(header + bytes(3)))
    with pytest.raises(PyprogenError, match="header says"):
        read_idx(str(bad), 2051)


def test_mnist_from_data_dir(tmp_path):
    images = np.arange(3 * 28 * 28, dtype=np.uint8).reshape(3, 28, 28)
    def idx(magic, arr):
        head = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
        return gzip.compress(head + arr.tobytes())
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(idx(2051, images))
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(idx(2049, np.array([1, 2, 3], np.uint8)))
    ds = load_dataset("mnist", "train", data_dir=str(tmp_path))
    assert len(ds) == 3 and torch.allclose(ds.x[0, 0, 0, 1], torch.tensor(1 / 255))
    assert ds.y.tolist() == [1, 2, 3]


def test_fashion_mnist_reads_idx_dir_or_says_where_to_put_it(tmp_path):
    import os

    from pyprogen.data.images import FASHION_SYSTEM_DIR

    if not os.path.isdir(FASHION_SYSTEM_DIR):
        with pytest.raises(PyprogenError, match="fashion-mnist needs its idx"):
            load_dataset("fashion-mnist", data_dir=str(tmp_path))
    images = np.full((2, 28, 28), 255, dtype=np.uint8)

    def idx(magic, arr):
        head = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
        return gzip.compress(head + arr.tobytes())
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(idx(2051, images))
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(idx(2049, np.array([4, 9], np.uint8)))
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(idx(2051, images))
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(idx(2049, np.array([4, 9], np.uint8)))
    ds = load_dataset("fashion-mnist", "test", data_dir=str(tmp_path))
    assert float(ds.x.mean()) == 1.0 and ds.y.tolist() == [4, 9]


def test_dsprites_test_split_covers_every_factor_and_is_disjoint():
    train, test = load_dataset("dsprites", "train"), load_dataset("dsprites", "test")
    # the shipped file is sorted by factor; a contiguous tail would hold one shape at one scale only
    assert set(test.y[:, 0].tolist()) == {0, 1, 2} and len(set(test.y[:, 1].tolist())) == 6
    key = lambda ds: {tuple(r) for r in ds.y.tolist()}
    assert not key(train) & key(test)  # every shipped image has its own factor tuple: the splits are disjoint


def test_written_files_get_the_usual_permissions(tmp_path):
    import os
    import stat

    from pyprogen.io import write_text

    write_text(tmp_path / "f.txt", "x")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(os.stat(tmp_path / "f.txt").st_mode) == 0o666 & ~mask
