"""Checkpoints: one file per run directory, written atomically, loaded with ``weights_only=True``.

Contents: model ``state_dict``, step object state (optimisers), every RNG state, the epoch reached,
the model's ``config`` (to rebuild it by name), the fit arguments and the history.
"""
import os

from ..errors import PyprogenError
from ..io import load_torch, save_torch, write_json
from ..models import build

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.json"


def checkpoint_path(out):
    return os.path.join(out, CHECKPOINT)


def _plain(value):
    """True for what ``torch.load(weights_only=True)`` can read back: numbers, strings, lists, dicts."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, (bool, int, float, str))


def save_checkpoint(out, state):
    """Write ``state``; a config holding custom modules (``build("gan", ..., critic=net)``) is stored
    as None, so the file stays loadable with ``weights_only=True`` (``load`` then explains)."""
    if not _plain(state.get("config")):
        state = {**state, "config": None}
    save_torch(state, checkpoint_path(out))


def load_checkpoint(out):
    return load_torch(checkpoint_path(out))


def write_metrics(out, entries):
    write_json(os.path.join(out, METRICS), list(entries))


def load(out, map_location="cpu"):
    """Rebuild a trained model from its run directory (see :func:`pyprogen.train.fit`)."""
    if not os.path.isdir(out):
        raise PyprogenError(f"run directory: no such directory {out!r}")
    state = load_torch(checkpoint_path(out), map_location)
    config = state.get("config")
    if not config:
        raise PyprogenError(f"run directory {out!r}: the model was not built by name (custom modules); rebuild it "
                            "yourself and call model.load_state_dict(checkpoint['model'])")
    model = build(config["name"], config["data_shape"], **config["kwargs"])
    model.config = dict(config)
    model.load_state_dict(state["model"])
    model.eval()
    return model
