"""Fuzzing the data loaders with hypothesis: every file or array a user can hand over either loads into a
finite float tensor ``(N, *data_shape)`` with N >= 1, or raises ``PyprogenError`` with one line. Nothing
is unpickled: a hostile pickle inside a ``.npy``/``.npz`` never runs."""
import io
import os
import pickle

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from pyprogen.data import as_tensor, load_dataset
from pyprogen.errors import PyprogenError
from pyprogen.models import build
from pyprogen.train.fit import as_training_tensor

FUZZ = settings(max_examples=200, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def checked(fn, *args):
    """Run a loader: returns its dataset/tensor or None when it raised PyprogenError (one line)."""
    try:
        out = fn(*args)
    except PyprogenError as exc:
        assert str(exc) and "\n" not in str(exc), str(exc)
        event("refused")
        return None
    event("loaded")
    x = out.x if hasattr(out, "x") else out
    assert isinstance(x, torch.Tensor) and x.dtype == torch.float32
    assert x.dim() >= 2 and x.shape[0] >= 1 and x[0].numel() >= 1, tuple(x.shape)
    assert torch.isfinite(x).all()
    return out


def write(tmp_path, name, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


dtypes = st.one_of(hnp.boolean_dtypes(), hnp.integer_dtypes(), hnp.unsigned_integer_dtypes(),
                   hnp.floating_dtypes(), hnp.complex_number_dtypes(), hnp.datetime64_dtypes(),
                   hnp.unicode_string_dtypes(max_len=3), hnp.byte_string_dtypes(max_len=3))
arrays = hnp.arrays(dtypes, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4))


@FUZZ
@given(data=st.binary(max_size=2000), suffix=st.sampled_from([".npy", ".npz"]),
       prefix=st.sampled_from([b"", b"\x93NUMPY\x01\x00", b"PK\x03\x04"]))
def test_random_bytes_files(tmp_path, data, suffix, prefix):
    checked(load_dataset, write(tmp_path, "f" + suffix, prefix + data))


@FUZZ
@given(arr=arrays, cut=st.one_of(st.none(), st.integers(min_value=0, max_value=400)))
def test_npy_of_any_dtype_and_shape_even_truncated(tmp_path, arr, cut):
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    raw = buf.getvalue() if cut is None else buf.getvalue()[:cut]
    ds = checked(load_dataset, write(tmp_path, "a.npy", raw))
    if ds is not None and cut is None:  # loaded: the values are the user's, as float32 (uint8 scaled)
        expected = torch.from_numpy(arr.astype(np.float32)).reshape(ds.x.shape)
        if arr.dtype == np.uint8 and arr.max() > 1:
            expected = expected / 255.0
        assert torch.equal(ds.x, expected)


@FUZZ
@given(arrs=st.dictionaries(st.sampled_from(["train", "test", "x", "images", "imgs", "other", "y"]), arrays,
                            max_size=3),
       split=st.sampled_from(["train", "valid", "test"]))
def test_npz_with_any_keys(tmp_path, arrs, split):
    buf = io.BytesIO()
    np.savez(buf, **arrs)
    checked(load_dataset, write(tmp_path, "a.npz", buf.getvalue()), split)


class Hostile:
    """Unpickling this would create a marker file (stands for running any code)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("container", ["npy", "npz"])
def test_pickles_are_refused_and_never_run(tmp_path, container):
    marker = tmp_path / "pwned"
    arr = np.array([Hostile(str(marker)), 1.0], dtype=object)
    buf = io.BytesIO()
    if container == "npy":
        np.save(buf, arr, allow_pickle=True)
    else:
        np.savez(buf, x=arr)
    path = write(tmp_path, "evil." + container, buf.getvalue())
    with pytest.raises(PyprogenError, match="pickle|Python objects"):
        load_dataset(path)
    assert not marker.exists()
    # a bare pickle renamed to .npy is refused as well
    path = write(tmp_path, "bare.npy", pickle.dumps(Hostile(str(marker))))
    with pytest.raises(PyprogenError):
        load_dataset(path)
    assert not marker.exists()


in_memory = st.one_of(
    arrays,
    st.recursive(st.one_of(st.none(), st.booleans(), st.floats(), st.integers(), st.text(max_size=3)),
                 lambda c: st.lists(c, max_size=4), max_leaves=12),
    hnp.arrays(hnp.floating_dtypes(endianness="="), hnp.array_shapes(min_dims=1, max_dims=3)).map(torch.from_numpy),
    st.sampled_from([torch.zeros(0, 3), torch.tensor(1.0), torch.ones(2, 2, dtype=torch.complex64),
                     torch.ones(3, 2, dtype=torch.bool), torch.ones(2, 3, dtype=torch.bfloat16),
                     torch.full((2, 3), 200, dtype=torch.uint8), torch.tensor([[float("nan")]]), {"a": 1}, "abc"]),
)


@FUZZ
@given(data=in_memory)
@example(data=np.zeros((5, 0)))
@example(data=np.array([1e300]))
def test_in_memory_arrays(data):
    checked(as_tensor, data)


values = st.floats(allow_nan=True, allow_infinity=True, width=32)


@FUZZ
@given(likelihood=st.sampled_from(["bernoulli", "gaussian", "categorical"]),
       x=hnp.arrays(np.float32, st.tuples(st.integers(1, 6), st.just(4)),
                    elements=st.one_of(st.sampled_from([0.0, 1.0]), values)))
def test_values_out_of_range_for_the_likelihood(likelihood, x):
    torch.manual_seed(0)
    model = build("vae", (4,), latent_dim=2, hidden=(4,), likelihood=likelihood)
    got = checked(as_training_tensor, model, x)
    finite = np.isfinite(x).all()
    ok = {"bernoulli": finite and np.isin(x, [0.0, 1.0]).all(), "gaussian": finite,
          "categorical": finite and ((x >= 0) & (x <= 1)).all()}[likelihood]
    assert (got is not None) == bool(ok), (likelihood, x)


def test_wrong_shape_for_the_model_is_named():
    model = build("vae", (4,), latent_dim=2, hidden=(4,), likelihood="gaussian")
    with pytest.raises(PyprogenError, match=r"expected shape \(N, 4\), got \(3, 5\)"):
        as_training_tensor(model, np.zeros((3, 5)))
    assert as_training_tensor(model, np.zeros((3, 2, 2))).shape == (3, 4)  # same size per point: reshaped


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(PyprogenError, match="no such file"):
        load_dataset(str(tmp_path / "nope.npy"))
    os.mkdir(tmp_path / "dir.npy")
    with pytest.raises(PyprogenError, match="no such file"):
        load_dataset(str(tmp_path / "dir.npy"))


def npz_bytes(**arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


@FUZZ
@given(name=st.sampled_from(["binarized-mnist", "dsprites", "mnist", "fashion-mnist"]),
       payload=st.one_of(st.binary(max_size=600), arrays.map(lambda a: npz_bytes(train=a, valid=a, test=a, imgs=a,
                                                                                  latents_classes=a))),
       split=st.sampled_from(["train", "test"]))
@example(name="binarized-mnist", payload=npz_bytes(train=np.full((2, 784), 0.5), valid=np.zeros((1, 784)),
                                                   test=np.zeros((1, 784))), split="train")
@example(name="dsprites", payload=npz_bytes(imgs=np.zeros((3, 64, 64)), latents_classes=np.zeros((3, 5))),
         split="train")
def test_data_dir_files_of_any_content(tmp_path_factory, name, payload, split):
    """Found by fuzzing: a user's data_dir file went straight to np.load/reshape (KeyError, BadZipFile, a
    RuntimeError from reshape, 0.5 values taken as binary)."""
    d = tmp_path_factory.mktemp("data_dir")
    files = {"binarized-mnist": ["binarized_mnist.npz"], "dsprites": ["dsprites_subset.npz"],
             "mnist": ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                       "t10k-labels-idx1-ubyte.gz"]}
    for f in files.get(name, files["mnist"]):
        (d / f).write_bytes(payload)
    ds = checked(load_dataset, name, split, str(d))
    if ds is not None and ds.binary:
        assert bool(((ds.x == 0) | (ds.x == 1)).all())
