"""CIFAR-10 from tiny files in the binary format (1 label byte + 3,072 pixel bytes per record)."""
import numpy as np
import pytest
import torch

from pyprogen.data.catalog import DATASETS
from pyprogen.data.cifar10 import RECORD, cifar10
from pyprogen.errors import PyprogenError


def records(labels, seed):
    rng = np.random.RandomState(seed)
    pixels = rng.randint(0, 256, size=(len(labels), 3, 32, 32)).astype(np.uint8)
    raw = np.concatenate([np.asarray(labels, np.uint8)[:, None], pixels.reshape(len(labels), -1)], axis=1)
    return raw.tobytes(), pixels


@pytest.fixture
def cifar_dir(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"  # what cifar-10-binary.tar.gz unpacks to
    folder.mkdir()
    pixels = {}
    for i in range(1, 6):
        raw, pixels[f"data_batch_{i}"] = records([i, (i + 3) % 10], seed=i)
        (folder / f"data_batch_{i}.bin").write_bytes(raw)
    raw, pixels["test_batch"] = records([9, 0, 4], seed=99)
    (folder / "test_batch.bin").write_bytes(raw)
    return tmp_path, pixels


def test_reads_train_and_test_records_in_order(cifar_dir):
    root, pixels = cifar_dir
    assert "cifar10" in DATASETS
    train, test = cifar10("train", str(root)), cifar10("test", str(root / "cifar-10-batches-bin"))
    assert train.x.shape == (10, 3, 32, 32) and test.x.shape == (3, 3, 32, 32)
    assert train.y.tolist() == [1, 4, 2, 5, 3, 6, 4, 7, 5, 8] and test.y.tolist() == [9, 0, 4]
    expected = torch.from_numpy(pixels["data_batch_3"][1]).float() / 255  # channel-major R, G, B planes
    assert torch.equal(train.x[5], expected)
    assert torch.equal(test.x[2, 1, 0, :4], torch.from_numpy(pixels["test_batch"][2, 1, 0, :4]).float() / 255)
    assert 0.0 <= float(train.x.min()) and float(train.x.max()) <= 1.0 and train.data_shape == (3, 32, 32)


def one_line_error(fn, *args):
    with pytest.raises(PyprogenError) as info:
        fn(*args)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_truncated_record(cifar_dir):
    root, _ = cifar_dir
    path = root / "cifar-10-batches-bin" / "data_batch_2.bin"
    path.write_bytes(path.read_bytes()[:-1])
    message = one_line_error(cifar10, "train", str(root))
    assert f"data_batch_2.bin holds {2 * RECORD - 1} bytes, not a whole number of 3073-byte" in message


def test_missing_file_and_missing_dir(cifar_dir):
    root, _ = cifar_dir
    (root / "cifar-10-batches-bin" / "data_batch_4.bin").unlink()
    assert "data_batch_4.bin is missing" in one_line_error(cifar10, "train", str(root))
    assert cifar10("test", str(root)).x.shape[0] == 3  # the test split does not need it
    assert "--data-dir" in one_line_error(cifar10, "train", None)
    empty = root / "empty"
    empty.mkdir()
    assert "data_batch_1.bin is missing" in one_line_error(cifar10, "train", str(empty))


def test_label_out_of_range_and_empty_file(cifar_dir):
    root, _ = cifar_dir
    raw, _ = records([3, 200], seed=0)
    (root / "cifar-10-batches-bin" / "test_batch.bin").write_bytes(raw)
    assert "record 1 has label 200; expected 0..9" in one_line_error(cifar10, "test", str(root))
    (root / "cifar-10-batches-bin" / "test_batch.bin").write_bytes(b"")
    assert "holds 0 bytes" in one_line_error(cifar10, "test", str(root))


def test_python_pickle_version_is_never_read(tmp_path):
    (tmp_path / "cifar-10-batches-py").mkdir()
    (tmp_path / "cifar-10-batches-py" / "data_batch_1").write_bytes(b"\x80\x04not read")
    assert "python (pickled) version" in one_line_error(cifar10, "train", str(tmp_path))


def test_no_valid_split(cifar_dir):
    root, _ = cifar_dir
    assert one_line_error(cifar10, "valid", str(root)).startswith("split: cifar10 has train")
