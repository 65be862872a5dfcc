import random

import numpy as np
import torch

from pyprogen.seeding import get_rng_state, set_rng_state, set_seed


def test_rng_state_roundtrip_through_weights_only(tmp_path):
    from pyprogen.io import load_torch, save_torch

    set_seed(3)
    save_torch(get_rng_state(), tmp_path / "rng.pt")
    expected = (torch.rand(3), np.random.rand(3), random.random())
    set_seed(99)
    set_rng_state(load_torch(tmp_path / "rng.pt"))
    got = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(expected[0], got[0])
    assert np.array_equal(expected[1], got[1])
    assert expected[2] == got[2]
