"""Checked arrays: the one gate every data set passes before a model sees it.

Images are floats in [0, 1] (uint8 0..255 is scaled); shape ``(N, *data_shape)`` with N >= 1;
no NaN/inf; user files are read with ``allow_pickle=False``.
"""
import os
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import PyprogenError


@dataclass
class ArrayDataset(torch.utils.data.Dataset):
    """``x``: float tensor ``(N, *data_shape)``; ``y``: labels/factors or None; ``name``: where it came from."""

    x: torch.Tensor
    y: torch.Tensor = None
    name: str = "array"
    binary: bool = False

    @property
    def data_shape(self):
        return tuple(self.x.shape[1:])

    def __len__(self):
        return self.x.shape[0]

    def __getitem__(self, i):
        return self.x[i]


def as_tensor(data, argument="data", scale_uint8=True, *, column=True, device="cpu"):
    """Validate an array-like and return a float32 tensor; raises PyprogenError on bad input.

    The one converter of user data (training sets, and the points that metrics and diagnostics
    score). Integer and bool arrays become float32; float64 becomes float32 (what Pyro models
    built here expect); uint8 with values above 1 is scaled by 1/255.

    :param argument: the name the error messages give the input.
    :param column: a 1-D array of N numbers becomes ``(N, 1)`` (N one-dimensional points);
        ``False`` keeps it ``(N,)`` (for a model whose data plate holds scalars).
    :param device: where the result lives; ``None`` leaves a tensor on its own device (arrays
        are built on the CPU).
    """
    if isinstance(data, ArrayDataset):
        return data.x if device is None else data.x.to(device)
    if isinstance(data, torch.Tensor):
        arr = data.detach() if device is None else data.detach().to(device)
        is_uint8 = arr.dtype == torch.uint8
        if arr.is_complex():
            raise PyprogenError(f"{argument}: expected real numbers, got complex dtype {arr.dtype}")
        if arr.dtype == torch.bool:
            arr = arr.to(torch.uint8)
        x = arr.float()
    else:
        try:
            arr = np.asarray(data)
        except Exception:
            raise PyprogenError(f"{argument}: expected an array of numbers") from None
        if arr.dtype == object or arr.dtype.kind not in "biuf":
            raise PyprogenError(f"{argument}: expected an array of numbers, got dtype {arr.dtype}")
        is_uint8 = arr.dtype == np.uint8
        with np.errstate(over="ignore", invalid="ignore"):  # overflow becomes inf, refused below
            x = torch.from_numpy(np.ascontiguousarray(arr).astype(np.float32))
    if x.dim() < 1 or x.shape[0] < 1:
        raise PyprogenError(f"{argument}: expected an array of shape (N, ...) with N >= 1, got shape {tuple(x.shape)}")
    if x.dim() == 1 and column:
        x = x.unsqueeze(-1)
    if device is not None and not isinstance(data, torch.Tensor):
        x = x.to(device)
    if x[0].numel() == 0:
        raise PyprogenError(f"{argument}: expected at least one value per data point, got shape {tuple(x.shape)}")
    if not _all_finite(x):
        raise PyprogenError(f"{argument}: contains NaN or inf values (or numbers beyond float32's range, ~3.4e38)")
    if scale_uint8 and is_uint8:
        x = x / 255.0 if x.max() > 1 else x
    return x


def _all_finite(x):
    """No NaN/inf: min and max are finite (NaN propagates through both). One fused pass, ~30× cheaper than
    ``torch.isfinite(x).all()`` on 39 M values (benchmarks/fit_overhead.py --breakdown)."""
    if not x.is_floating_point():
        return True
    lo, hi = torch.aminmax(x)
    return bool(torch.isfinite(lo) & torch.isfinite(hi))


def check_images(x, argument="data"):
    if x.min() < 0 or x.max() > 1:
        raise PyprogenError(f"{argument}: expected image values in [0, 1] (or uint8 0..255), "
                            f"got range [{x.min().item():.3g}, {x.max().item():.3g}]")
    return x


def load_array_file(path, split="train"):
    """A user's ``.npy`` or ``.npz`` (key ``split``, ``x`` or the only array); never unpickles."""
    if not os.path.isfile(path):
        raise PyprogenError(f"data: no such file {path!r}")
    try:
        obj = np.load(path, allow_pickle=False)
    except ValueError:  # numpy's own text suggests allow_pickle=True, which is not on offer here
        raise PyprogenError(f"data: {path} is not a plain numeric .npy/.npz (it holds pickled Python objects, "
                            "which are refused, or is no NumPy file at all)") from None
    except Exception as exc:
        raise PyprogenError(f"data: could not read {path} as .npy/.npz ({exc.__class__.__name__})") from None
    if isinstance(obj, np.lib.npyio.NpzFile):
        with obj:
            keys = list(obj.keys())
            key = next((k for k in (split, "x", "images", "imgs") if k in keys), keys[0] if len(keys) == 1 else None)
            if key is None:
                raise PyprogenError(f"data: {path} has arrays {keys}; expected one named {split!r} or 'x'")
            try:
                arr = obj[key]
            except ValueError:
                raise PyprogenError(f"data: {path}[{key}] holds pickled Python objects (refused)") from None
    else:
        arr = obj
    x = as_tensor(arr, argument=f"data ({os.path.basename(path)})")
    return ArrayDataset(x, None, name=os.path.basename(path), binary=bool(((x == 0) | (x == 1)).all()))
