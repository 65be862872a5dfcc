import json
import os

import pytest
import torch

from pyprogen.errors import PyprogenError
from pyprogen.io import atomic_open, load_torch, read_json, save_torch, write_json


def test_atomic_write_leaves_old_file_on_crash(tmp_path):
    path = tmp_path / "a.json"
    write_json(path, {"x": 1})
    with pytest.raises(RuntimeError):
        with atomic_open(path, "wb") as f:
            f.write(b"{broken")
            raise RuntimeError("crash mid-write")
    assert read_json(path) == {"x": 1}
    assert os.listdir(tmp_path) == ["a.json"]  # no temp file left behind


def test_write_json_refuses_nan(tmp_path):
    with pytest.raises(ValueError):
        write_json(tmp_path / "b.json", {"nll_nats": float("nan")})


def test_torch_roundtrip_and_weights_only(tmp_path):
    save_torch({"w": torch.arange(3.0), "cfg": {"name": "vae", "shape": [1, 2]}}, tmp_path / "c.pt")
    out = load_torch(tmp_path / "c.pt")
    assert torch.equal(out["w"], torch.arange(3.0)) and out["cfg"]["shape"] == [1, 2]


def test_load_refuses_pickled_objects(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    torch.save({"x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(PyprogenError, match="could not load"):
        load_torch(tmp_path / "evil.pt")


def test_json_roundtrip_of_tensors(tmp_path):
    write_json(tmp_path / "d.json", {"t": torch.tensor([1.5, 2.0])})
    assert json.loads((tmp_path / "d.json").read_text()) == {"t": [1.5, 2.0]}
