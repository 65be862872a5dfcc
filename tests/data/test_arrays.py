import numpy as np
import pytest
import torch

from pyprogen.data import as_tensor, load_array_file, load_dataset
from pyprogen.errors import PyprogenError


def test_uint8_is_scaled_to_unit_interval():
    x = as_tensor(np.array([[0, 255], [51, 102]], dtype=np.uint8))
    assert torch.allclose(x, torch.tensor([[0.0, 1.0], [0.2, 0.4]]), atol=1e-6)


@pytest.mark.parametrize("bad, match", [
    (np.array([[1.0, np.nan]]), "NaN"),
    (np.array([[1.0, np.inf]]), "NaN or inf"),
    (np.zeros((0, 3)), "N >= 1"),
    (np.array(["a", "b"]), "array of numbers"),
    (np.array([{"a": 1}], dtype=object), "array of numbers"),
])
def test_bad_arrays_raise_one_line_errors(bad, match):
    with pytest.raises(PyprogenError, match=match) as info:
        as_tensor(bad)
    assert "\n" not in str(info.value)


def test_npz_with_pickled_object_is_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(PyprogenError, match="objects"):
        load_array_file(str(path))


def test_user_npy_roundtrip(tmp_path):
    arr = np.random.RandomState(0).rand(7, 3).astype(np.float32)
    np.save(tmp_path / "mine.npy", arr)
    ds = load_dataset(str(tmp_path / "mine.npy"))
    assert ds.data_shape == (3,) and np.allclose(ds.x.numpy(), arr)


def test_unknown_name_and_split():
    with pytest.raises(PyprogenError, match="unknown data set"):
        load_dataset("imagenet")
    with pytest.raises(PyprogenError, match="split"):
        load_dataset("mnist", split="dev")
