"""The one place that writes files: atomically (temp file in the same directory, fsync, rename).

A crash at any moment leaves either the old file or the new one, never a torn one.
"""
import contextlib
import io
import json
import os
import tempfile
import warnings

import torch

from .errors import PyprogenError


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path):
    """A temp file name beside ``path`` for a writer that wants a path (netCDF); on clean exit the file is
    fsynced and renamed over ``path``; on an exception it is removed."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb") as f:  # fsync reaches the data whichever descriptor wrote it
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the permissions open() would
        os.replace(tmp, path)
        with contextlib.suppress(OSError):  # make the rename itself durable
            dfd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_open(path, mode="wb"):
    """Open a temp file beside ``path``; on clean exit fsync it and rename it over ``path``."""
    with atomic_path(path) as tmp, open(tmp, mode) as f:
        yield f


def write_bytes(path, data: bytes):
    try:
        with atomic_open(path, "wb") as f:
            f.write(data)
    except (OSError, ValueError) as exc:  # a path that is a file/unwritable/has a NUL byte, a full disk
        reason = getattr(exc, "strerror", None) or str(exc)
        raise PyprogenError(f"out: could not write {os.fspath(path)!r} ({reason})") from exc


def write_text(path, text: str):
    write_bytes(path, text.encode("utf-8"))


def _json_default(obj):
    if isinstance(obj, torch.Tensor):
        return obj.tolist()
    if hasattr(obj, "tolist"):  # numpy arrays and scalars
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_json(path, obj):
    """Write ``obj`` as JSON; NaN/inf are refused (the contract says null, never NaN)."""
    write_text(path, json.dumps(obj, indent=2, default=_json_default, allow_nan=False) + "\n")


def read_json(path):
    with open(path) as f:
        return json.load(f)


def save_torch(obj, path):
    """``torch.save`` through the atomic writer."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    write_bytes(path, buf.getvalue())


def load_torch(path, map_location="cpu"):
    """``torch.load(..., weights_only=True)``: never unpickles arbitrary objects."""
    try:
        with warnings.catch_warnings():  # a foreign pickle makes torch warn on stderr; the error says enough
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise PyprogenError(f"checkpoint: expected a file at {path}, found none") from None
    except Exception as exc:  # corrupt, hostile or foreign file
        raise PyprogenError(f"checkpoint: could not load {path} safely ({exc.__class__.__name__})") from None


def save_figure(fig, path, dpi=110):
    """Save a matplotlib figure as PNG atomically and close it."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    write_bytes(path, buf.getvalue())
