"""A folder of PNG/JPEG images as a data set: ``--data DIR``, or ``--data image-folder --data-dir DIR``.

Every file under the folder (sub-folders included; names starting with ``.`` are skipped) must be
a PNG or JPEG image; anything else stops with one line naming the file. Each image is converted
to RGB, scaled so its shorter side is ``size`` and centre-cropped to ``size x size`` (``size`` 32
or 64), giving floats in [0, 1] of shape ``(N, 3, size, size)``. When every image sits in a
first-level sub-folder, the sub-folder names (sorted) are the class labels ``y``.

Splits come from one fixed shuffle of the sorted file names: ``test`` and ``valid`` are each a
tenth of the images (``test`` at least one), ``train`` the rest, so the same folder always splits
the same way.
"""
import os
import warnings

import numpy as np
import torch

from ..errors import PyprogenError
from .arrays import ArrayDataset, check_images
from .catalog import DATASETS

SIZES = (32, 64)
DEFAULT_SIZE = 32
EXTENSIONS = (".png", ".jpg", ".jpeg")
FORMATS = ("PNG", "JPEG")


def image_files(directory):
    """Sorted relative paths of the images under ``directory``; refuses any other file."""
    if not os.path.isdir(directory):
        raise PyprogenError(f"data: no such directory {directory!r}")
    found = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            rel = os.path.relpath(os.path.join(root, name), directory)
            if not name.lower().endswith(EXTENSIONS):
                raise PyprogenError(f"data: {os.path.join(directory, rel)} is not a PNG/JPEG image; expected a "
                                    "folder holding only .png/.jpg/.jpeg files")
            found.append(rel)
    if not found:
        raise PyprogenError(f"data: {directory} holds no PNG/JPEG images")
    return sorted(found)


def read_image(path, size):
    """One image as uint8 ``(3, size, size)``: RGB, shorter side scaled to ``size``, centre crop."""
    from PIL import Image, ImageOps

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if img.format not in FORMATS:
                    raise PyprogenError(f"data: {path} is not a PNG/JPEG image (Pillow reads it as {img.format})")
                img.load()
                rgb = ImageOps.fit(img.convert("RGB"), (size, size), method=Image.BICUBIC, centering=(0.5, 0.5))
    except PyprogenError:
        raise
    except Exception as exc:  # not an image, truncated, a decompression bomb, unreadable
        raise PyprogenError(f"data: {path} is not a readable PNG/JPEG image ({exc.__class__.__name__})") from None
    arr = np.asarray(rgb, dtype=np.uint8)
    if arr.shape != (size, size, 3):
        raise PyprogenError(f"data: {path} gave an image of shape {arr.shape}, expected ({size}, {size}, 3)")
    return arr.transpose(2, 0, 1)


def split_rows(n, split):
    """Row indices of ``split`` among ``n`` images (a fixed shuffle; a tenth each for test and valid)."""
    order = np.random.RandomState(0).permutation(n)
    n_test, n_valid = max(1, n // 10), n // 10
    rows = {"test": order[:n_test], "valid": order[n_test:n_test + n_valid], "train": order[n_test + n_valid:]}
    if split not in rows:
        raise PyprogenError(f"split: expected train, valid or test, got {split!r}")
    if len(rows[split]) == 0:
        need = {"train": 2, "valid": 10}[split]
        raise PyprogenError(f"data: an image folder of {n} image{'s' if n != 1 else ''} has no {split} split; "
                            f"expected at least {need} images")
    return np.sort(rows[split])


def load_image_folder(directory, split="train", size=DEFAULT_SIZE):
    """The ``split`` of a folder of PNG/JPEG images as an :class:`ArrayDataset` ``(N, 3, size, size)``."""
    if size not in SIZES:
        raise PyprogenError(f"image-size: expected one of {', '.join(map(str, SIZES))}, got {size!r}")
    files = image_files(directory)
    rows = split_rows(len(files), split)
    x = np.stack([read_image(os.path.join(directory, files[i]), size) for i in rows])
    x = check_images(torch.from_numpy(x).float().div_(255.0), f"data ({directory})")
    y = None
    tops = [f.split(os.sep)[0] for f in files]
    if all(os.sep in f for f in files):
        classes = sorted(set(tops))
        y = torch.tensor([classes.index(tops[i]) for i in rows], dtype=torch.int64)
    return ArrayDataset(x, y, name=os.path.basename(os.path.normpath(directory)))


@DATASETS.register("image-folder")
def image_folder(split, data_dir=None):
    """A folder of PNG/JPEG images in --data-dir, 32x32 RGB (or pass the folder itself as --data DIR)."""
    if data_dir is None:
        raise PyprogenError("data: image-folder needs --data-dir DIR (or $PYPROGEN_DATA) holding PNG/JPEG images; "
                            "or pass the folder itself as --data DIR")
    return load_image_folder(data_dir, split, DEFAULT_SIZE)
