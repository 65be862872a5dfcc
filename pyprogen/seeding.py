"""The one place that seeds and snapshots random number generators.

Imports only the standard library, NumPy, torch and :mod:`pyprogen.errors` (Pyro only inside
:func:`set_seed`), so every layer, ``nn/`` included, may use it.
"""
import contextlib
import operator
import random

import numpy as np
import torch

from .errors import PyprogenError


def set_seed(seed: int):
    """Seed Python, NumPy, torch (CPU and CUDA) and Pyro from one integer."""
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    import pyro  # here, so that importing this module (from nn/, data/) does not load Pyro

    pyro.set_rng_seed(seed)  # also seeds torch (and CUDA)


@contextlib.contextmanager
def seeded(seed):
    """Run a block on torch's global RNG seeded with ``seed``; the previous state is restored on exit.

    Forks the CPU generator (``torch.random.fork_rng``) and, when CUDA is available, the current CUDA
    device's generator, then seeds both with ``seed``. Draws inside the block are the draws that follow
    ``torch.manual_seed(seed)``; draws after it are those that would have come without the block.
    Only torch's generators are touched (NumPy's and Python's are not). The CUDA generator of other
    devices is neither forked nor seeded (``fork_rng`` on every device would initialise them all).
    """
    try:
        value = None if isinstance(seed, bool) else operator.index(seed)  # ints, NumPy/torch integer scalars
    except TypeError:
        value = None
    if value is None or value < 0:
        raise PyprogenError(f"seed: expected a non-negative integer, got {seed!r}")
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.default_generator.manual_seed(value)
        if devices:
            torch.cuda.manual_seed(value)  # the current device's generator
        yield


def get_rng_state() -> dict:
    """Every RNG state as tensors/lists, so it survives ``torch.load(weights_only=True)``."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    py = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "python": {"version": py[0], "state": list(py[1]), "gauss": py[2]},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict):
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
