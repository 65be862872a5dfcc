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


def test_as_tensor_column_and_device_options():
    # float64 and int arrays become float32; a 1-D array is N one-dimensional points unless column=False
    x = as_tensor(np.array([1.5, -2.0, 3.0]))
    assert x.dtype == torch.float32 and x.shape == (3, 1)
    flat = as_tensor(np.array([1, 2, 3], dtype=np.int64), "x", column=False)
    assert flat.shape == (3,) and torch.equal(flat, torch.tensor([1.0, 2.0, 3.0]))
    t = torch.arange(6.0, dtype=torch.float64).reshape(3, 2)
    kept = as_tensor(t, "x", device=None)
    assert kept.dtype == torch.float32 and kept.device == t.device and torch.equal(kept, t.float())
    with pytest.raises(PyprogenError, match="^x: ") as info:
        as_tensor(torch.tensor([[float("nan")]]), "x", device=None)
    assert "\n" not in str(info.value)
