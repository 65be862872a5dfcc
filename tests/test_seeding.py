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


def test_seeded_draws_follow_manual_seed_and_restore_the_state():
    import pytest

    from pyprogen.errors import PyprogenError
    from pyprogen.seeding import seeded

    torch.manual_seed(11)
    expected_after = torch.rand(4)
    torch.manual_seed(11)
    before = torch.get_rng_state()
    with seeded(5):
        inside = torch.rand(4)
    assert torch.equal(torch.get_rng_state(), before)  # the outer state, bit for bit
    assert torch.equal(torch.rand(4), expected_after)  # the outer stream goes on as if there were no block
    torch.manual_seed(5)
    assert torch.equal(inside, torch.rand(4))  # the draws that follow torch.manual_seed(5)
    with seeded(np.int64(5)):
        again = torch.rand(4)
    assert torch.equal(again, inside)  # same seed, same draws
    with seeded(6):
        assert not torch.equal(torch.rand(4), inside)
    for bad in (-1, 1.5, True, "3"):
        with pytest.raises(PyprogenError, match="seed"):
            with seeded(bad):
                pass


def test_seeded_restores_the_state_after_an_exception():
    import pytest

    from pyprogen.seeding import seeded

    torch.manual_seed(2)
    expected = torch.rand(3)
    torch.manual_seed(2)
    with pytest.raises(RuntimeError):
        with seeded(9):
            torch.rand(100)
            raise RuntimeError("inside")
    assert torch.equal(torch.rand(3), expected)
