"""``load_dataset(name_or_path, split=...)``: one entry point for every data source, by registry."""
import os

import torch

from ..errors import PyprogenError
from ..seeding import seeded
from . import cifar10, image_folder, images, toy  # noqa: F401  (their loaders register themselves in DATASETS)
from .arrays import ArrayDataset, load_array_file
from .catalog import DATASETS

SPLITS = ("train", "valid", "test")


def _target(text, split):
    from .targets import parse_target  # the 1-D target grammar

    n, seed = toy.TOY_SIZES[split]
    with seeded(seed):
        x = parse_target(text).sample((n,)).float().reshape(n, 1)
    if not torch.isfinite(x).all():  # e.g. Exponential(1e-46): valid parameters, samples overflow float32
        raise PyprogenError(f"data: the target {text!r} draws NaN/inf samples in float32; "
                            "expected parameters whose samples are finite")
    return ArrayDataset(x, None, name=text)


def load_dataset(name, split="train", data_dir=None):
    """A checked :class:`ArrayDataset` for a registered name, a 1-D target such as
    ``Normal(4, 1.25)``, or a path to a user's ``.npy``/``.npz``.

    ``data_dir`` (or ``$PYPROGEN_DATA``) points at full data sets; without it the shipped copies
    (or subsets) are used.
    """
    if split not in SPLITS:
        raise PyprogenError(f"split: expected one of {', '.join(SPLITS)}, got {split!r}")
    if not isinstance(name, str) or not name:
        raise PyprogenError(f"data: expected a data set name or a file path, got {name!r}")
    data_dir = data_dir or os.environ.get("PYPROGEN_DATA") or None
    if data_dir is not None and not os.path.isdir(data_dir):
        raise PyprogenError(f"data_dir: no such directory {data_dir!r}")
    if name in DATASETS:
        return DATASETS[name](split, data_dir)
    if name.endswith((".npy", ".npz")):
        return load_array_file(name, split)
    if os.path.isdir(name):  # a folder of PNG/JPEG images
        return image_folder.load_image_folder(name, split)
    if "(" in name:
        return _target(name, split)
    raise PyprogenError(f"data: unknown data set {name!r}; expected one of {', '.join(sorted(DATASETS))}, "
                        "a 1-D target like 'Normal(4, 1.25)', or a .npy/.npz path")
