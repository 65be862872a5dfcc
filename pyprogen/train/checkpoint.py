"""Checkpoints: one file per run directory, written atomically, loaded with ``weights_only=True``.

Contents: model ``state_dict``, step object state (optimisers), every RNG state, the epochs done
and (for a checkpoint written inside an epoch) the position in it, the model's ``config`` (to
rebuild it by name), the fit arguments, the history, the logger's state and torchrun's run id.

A ``digest`` (SHA-256 over every tensor's bytes, dtype and shape and every other value, in order)
is checked on load: ``torch.load`` verifies the file's structure but not the tensor bytes, so a
flipped bit in a weight would otherwise load silently. A damaged file is refused in one line.
"""
import hashlib
import os

import torch

from ..errors import PyprogenError
from ..io import load_torch, save_torch, write_json
from ..models import build

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.json"
DIGEST = "digest"


def checkpoint_path(out):
    return os.path.join(out, CHECKPOINT)


def _plain(value):
    """True for what ``torch.load(weights_only=True)`` can read back: numbers, strings, lists, dicts."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, (bool, int, float, str))


def _feed(h, value):
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy() if t.numel() else b"")
    elif isinstance(value, dict):
        h.update(f"D{len(value)}".encode())
        for k, v in value.items():
            _feed(h, k)
            _feed(h, v)
    elif isinstance(value, (list, tuple)):
        h.update(f"L{len(value)}".encode())
        for v in value:
            _feed(h, v)
    else:
        h.update(f"{type(value).__name__}:{value!r};".encode())


def digest(state):
    """SHA-256 of ``state`` without its ``digest`` entry (see the module docstring)."""
    h = hashlib.sha256()
    _feed(h, {k: v for k, v in state.items() if k != DIGEST})
    return h.hexdigest()


def save_checkpoint(out, state):
    """Write ``state``; a config holding custom modules (``build("gan", ..., critic=net)``) is stored
    as None, so the file stays loadable with ``weights_only=True`` (``load`` then explains)."""
    if not _plain(state.get("config")):
        state = {**state, "config": None}
    save_torch({**state, DIGEST: digest(state)}, checkpoint_path(out))


def load_checkpoint(out, map_location="cpu"):
    """The checkpoint of run directory ``out``; a damaged file (torn, truncated, flipped bytes) is
    refused in one line (a checkpoint written before digests existed loads unchecked)."""
    path = checkpoint_path(out)
    state = load_torch(path, map_location)
    if not isinstance(state, dict) or "model" not in state:
        raise PyprogenError(f"checkpoint: {path} is not a pyprogen checkpoint")
    if DIGEST in state and state[DIGEST] != digest(state):
        raise PyprogenError(f"checkpoint: {path} is damaged (its contents do not match their SHA-256 digest); "
                            "restore it from a copy or train again")
    return state


def write_metrics(out, entries):
    write_json(os.path.join(out, METRICS), list(entries))


def load(out, map_location="cpu"):
    """Rebuild a trained model from its run directory (see :func:`pyprogen.train.fit`)."""
    if not os.path.isdir(out):
        raise PyprogenError(f"run directory: no such directory {out!r}")
    state = load_checkpoint(out, map_location)
    config = state.get("config")
    if not config:
        raise PyprogenError(f"run directory {out!r}: the model was not built by name (custom modules); rebuild it "
                            "yourself and call model.load_state_dict(checkpoint['model'])")
    model = build(config["name"], config["data_shape"], **config["kwargs"])
    model.config = dict(config)
    model.load_state_dict(state["model"])
    model.eval()
    return model
