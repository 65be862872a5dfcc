"""Image data sets: MNIST (idx gz), Fashion-MNIST (idx gz), binarized MNIST (npz), dSprites (npz).

The repository ships what the default command and the tests need (``files/``): binarized MNIST
(Larochelle split, whole), an MNIST subset (10,000 train / 2,000 test) and a 20,000-image dSprites
subset. Full sets are read from a user-given directory (``--data-dir`` or ``$PYPROGEN_DATA``).
"""
import gzip
import math
import os

import numpy as np
import torch

from ..errors import PyprogenError
from .arrays import ArrayDataset
from .catalog import DATASETS

FILES = os.path.join(os.path.dirname(__file__), "files")
IDX_NAMES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
             "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
FASHION_SYSTEM_DIR = "/usr/share/datasets/fashion-mnist"


def read_idx(path, expected_magic):
    """Read one gzip'd IDX file, checking its magic number and size."""
    try:
        raw = gzip.open(path).read()
    except (OSError, EOFError) as exc:
        raise PyprogenError(f"data: {path} is not a gzip'd IDX file ({exc.__class__.__name__})") from None
    if len(raw) < 8:
        raise PyprogenError(f"data: {path} is too short to be an IDX file")
    magic = int.from_bytes(raw[:4], "big")
    if magic != expected_magic:
        raise PyprogenError(f"data: {path} has IDX magic {magic}, expected {expected_magic}")
    ndim = magic & 0xFF
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    if len(raw) - offset != int(np.prod(dims)):
        raise PyprogenError(f"data: {path} holds {len(raw) - offset} bytes, header says {dims}")
    return np.frombuffer(raw, np.uint8, offset=offset).reshape(dims)


def _idx_split(directory, split):
    images, labels = IDX_NAMES["test" if split == "test" else "train"]
    x = read_idx(os.path.join(directory, images), 2051)
    y = read_idx(os.path.join(directory, labels), 2049)
    return x, y


def _has_idx(directory):
    return directory is not None and all(os.path.isfile(os.path.join(directory, f)) for f in IDX_NAMES["train"])


def _images(x, y, name):
    x = torch.from_numpy(np.array(x, dtype=np.float32)).div_(255.0).unsqueeze(1)
    return ArrayDataset(x, None if y is None else torch.from_numpy(np.asarray(y, dtype=np.int64)), name=name)


@DATASETS.register("mnist", help='MNIST 28x28 grey (shipped 10k/2k subset; full set from --data-dir).')
def mnist(split, data_dir=None):
    if _has_idx(data_dir):
        x, y = _idx_split(data_dir, split)
        return _images(x, y, "mnist")
    key = "test" if split == "test" else "train"
    with np.load(os.path.join(FILES, "mnist_subset.npz"), allow_pickle=False) as d:
        return _images(d[f"{key}_images"], d[f"{key}_labels"], "mnist (shipped subset)")


@DATASETS.register("fashion-mnist", help="Fashion-MNIST 28x28 (from --data-dir or Debian's dataset-fashion-mnist).")
def fashion_mnist(split, data_dir=None):
    for directory in (data_dir, FASHION_SYSTEM_DIR):
        if _has_idx(directory):
            x, y = _idx_split(directory, split)
            return _images(x, y, "fashion-mnist")
    raise PyprogenError("data: fashion-mnist needs its idx .gz files in --data-dir/$PYPROGEN_DATA "
                        f"(or the Debian package dataset-fashion-mnist in {FASHION_SYSTEM_DIR})")


@DATASETS.register("binarized-mnist", help='Binarized MNIST, Larochelle split 50k/10k/10k (shipped whole).')
def binarized_mnist(split, data_dir=None):
    path = os.path.join(data_dir, "binarized_mnist.npz") if data_dir else None
    if not (path and os.path.isfile(path)):
        path = os.path.join(FILES, "binarized_mnist.npz")
    key = {"train": "train", "valid": "valid", "test": "test"}.get(split)
    if key is None:
        raise PyprogenError(f"split: expected train, valid or test, got {split!r}")
    (arr,) = _read_npz(path, [key], "binarized-mnist")
    x = _binary_images(arr, (1, 28, 28), path)
    return ArrayDataset(x, None, name="binarized-mnist", binary=True)


def _read_npz(path, keys, what):
    """Arrays ``keys`` of an .npz (shipped, or a user's in ``data_dir``); PyprogenError if unreadable."""
    try:
        with np.load(path, allow_pickle=False) as d:
            return [np.asarray(d[k]) for k in keys]
    except Exception as exc:  # not a zip, truncated, pickled objects, missing key
        raise PyprogenError(f"data: {path} is not a readable {what} .npz with arrays {', '.join(keys)} "
                            f"({exc.__class__.__name__})") from None


def _binary_images(arr, shape, path):
    """0/1 images as a float tensor ``(N, *shape)``, checked (NaN, 0.5, strings all fail the 0/1 test)."""
    if (arr.dtype.kind not in "biuf" or arr.size == 0 or arr.size % math.prod(shape)
            or not bool(((arr == 0) | (arr == 1)).all())):
        raise PyprogenError(f"data: {path} must hold 0/1 images of shape {shape}, got {arr.dtype} {arr.shape}")
    return torch.from_numpy(arr.astype(np.float32)).reshape(-1, *shape)


DSPRITES_TEST = 2000  # a fixed random 2,000 images of the shipped subset form the test split


@DATASETS.register("dsprites")
def dsprites(split, data_dir=None):
    """dSprites (Matthey et al. 2017) 64x64 binary images with their 5 factor classes as ``y``."""
    path = os.path.join(data_dir, "dsprites_subset.npz") if data_dir else None
    if not (path and os.path.isfile(path)):
        path = os.path.join(FILES, "dsprites_subset.npz")
    imgs, classes = _read_npz(path, ["imgs", "latents_classes"], "dsprites")
    if (imgs.ndim != 3 or classes.ndim != 2 or classes.dtype.kind not in "iu" or len(imgs) != len(classes)
            or len(imgs) <= DSPRITES_TEST):
        raise PyprogenError(f"data: {path} must hold imgs (N, 64, 64) and integer latents_classes (N, k) with "
                            f"N > {DSPRITES_TEST}, got {imgs.shape} and {classes.dtype} {classes.shape}")
    # the file is sorted by factor (rows follow the original dSprites order): split a fixed shuffle
    order = np.random.RandomState(0).permutation(len(imgs))
    cut = len(imgs) - DSPRITES_TEST
    rows = order[cut:] if split == "test" else order[:cut]
    x = _binary_images(imgs[rows], (1, 64, 64), path)
    return ArrayDataset(x, torch.from_numpy(classes[rows]), name="dsprites", binary=True)
