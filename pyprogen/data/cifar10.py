"""CIFAR-10 (Krizhevsky 2009) from its BINARY version, ``cifar-10-binary.tar.gz``.

Each of ``data_batch_1.bin`` .. ``data_batch_5.bin`` (train, 50,000 images) and ``test_batch.bin``
(test, 10,000) is a run of 3,073-byte records: one label byte (0..9), then 1,024 red, 1,024 green
and 1,024 blue pixel bytes of a 32x32 image, row by row. The files are read from ``--data-dir``
(or ``$PYPROGEN_DATA``) or its ``cifar-10-batches-bin/`` folder (what the tarball unpacks to).
The pickled "python version" is never read: unpickling a downloaded file can run code.

CIFAR-10 has no validation split of its own: ``train`` is the standard 50,000 images (so
likelihoods compare with the literature) and ``valid`` is refused rather than carved out of it.
"""
import os

import numpy as np
import torch

from ..errors import PyprogenError
from .arrays import ArrayDataset, check_images
from .catalog import DATASETS

RECORD = 1 + 3 * 32 * 32
FILES = {"train": [f"data_batch_{i}.bin" for i in range(1, 6)], "test": ["test_batch.bin"]}
SUBDIR = "cifar-10-batches-bin"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def cifar10_dir(data_dir):
    """The folder holding the ``.bin`` files: ``data_dir`` itself or its ``cifar-10-batches-bin``."""
    if data_dir is None:
        raise PyprogenError("data: cifar10 needs its binary files (data_batch_1.bin .. data_batch_5.bin, "
                            "test_batch.bin from cifar-10-binary.tar.gz) in --data-dir DIR or $PYPROGEN_DATA")
    for directory in (data_dir, os.path.join(data_dir, SUBDIR)):
        if any(os.path.isfile(os.path.join(directory, f)) for f in FILES["train"] + FILES["test"]):
            return directory
    if os.path.isdir(os.path.join(data_dir, "cifar-10-batches-py")) or os.path.isfile(
            os.path.join(data_dir, "data_batch_1")):
        raise PyprogenError(f"data: {data_dir} holds the python (pickled) version of CIFAR-10, which is never "
                            "read; expected the binary version (cifar-10-binary.tar.gz: data_batch_1.bin ...)")
    return data_dir  # the first missing file is named by read_cifar10_file


def read_cifar10_file(path):
    """``(images uint8 (N, 3, 32, 32), labels int64 (N,))`` of one binary batch file, checked."""
    if not os.path.isfile(path):
        raise PyprogenError(f"data: cifar10 file {path} is missing (expected data_batch_1.bin .. "
                            "data_batch_5.bin and test_batch.bin of the binary version)")
    with open(path, "rb") as f:
        raw = f.read()
    if not raw or len(raw) % RECORD:
        raise PyprogenError(f"data: {path} holds {len(raw)} bytes, not a whole number of {RECORD}-byte "
                            "CIFAR-10 records (a truncated or foreign file)")
    records = np.frombuffer(raw, np.uint8).reshape(-1, RECORD)
    labels = records[:, 0]
    bad = np.flatnonzero(labels > 9)
    if bad.size:
        raise PyprogenError(f"data: {path} record {int(bad[0])} has label {int(labels[bad[0]])}; expected 0..9 "
                            "(is this CIFAR-10's binary format?)")
    return records[:, 1:].reshape(-1, 3, 32, 32), labels.astype(np.int64)


@DATASETS.register("cifar10")
def cifar10(split, data_dir=None):
    """CIFAR-10 32x32 colour images (binary version, from --data-dir), labels 0..9."""
    if split not in FILES:
        raise PyprogenError(f"split: cifar10 has train (data_batch_1..5.bin) and test (test_batch.bin), "
                            f"got {split!r}")
    directory = cifar10_dir(data_dir)
    parts = [read_cifar10_file(os.path.join(directory, name)) for name in FILES[split]]
    x = torch.from_numpy(np.concatenate([p[0] for p in parts])).float().div_(255.0)
    y = torch.from_numpy(np.concatenate([p[1] for p in parts]))
    return ArrayDataset(check_images(x, "data (cifar10)"), y, name="cifar10")
