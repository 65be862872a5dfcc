"""The one place that seeds and snapshots random number generators."""
import random

import numpy as np
import pyro
import torch


def set_seed(seed: int):
    """Seed Python, NumPy, torch (CPU and CUDA) and Pyro from one integer."""
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    pyro.set_rng_seed(seed)  # also seeds torch (and CUDA)


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
