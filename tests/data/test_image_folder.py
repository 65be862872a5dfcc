"""A folder of PNG/JPEG images: resizing, centre crop, splits, labels, one-line errors."""
import numpy as np
import pytest
import torch
from PIL import Image

from pyprogen.data.catalog import DATASETS
from pyprogen.data.image_folder import image_folder, load_image_folder, split_rows
from pyprogen.errors import PyprogenError


def save(path, array, fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format=fmt)


def one_line_error(fn, *args, **kw):
    with pytest.raises(PyprogenError) as info:
        fn(*args, **kw)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_resize_and_centre_crop_to_32_and_64(tmp_path):
    wide = np.zeros((40, 80, 3), np.uint8)  # 80 wide: the centre 40x40 is red, the sides blue
    wide[:, 20:60] = (255, 0, 0)
    wide[:, :20] = wide[:, 60:] = (0, 0, 255)
    for i in range(10):
        save(tmp_path / f"img{i}.png", wide)
    for size in (32, 64):
        x = load_image_folder(str(tmp_path), "train", size).x
        assert x.shape == (8, 3, size, size) and x.dtype == torch.float32
        inner = x[..., 2:-2]  # the outermost columns mix a little blue in (bicubic at the crop's edge)
        assert torch.allclose(inner[:, 0], torch.ones_like(inner[:, 0]), atol=0.01)  # only the red centre is left
        assert float(inner[:, 2].max()) < 0.01 and float(x[:, 2].mean()) < 0.01


def test_grey_and_jpeg_become_rgb_values_in_unit_range(tmp_path):
    save(tmp_path / "a.png", np.full((32, 32), 128, np.uint8))  # greyscale PNG
    save(tmp_path / "b.jpg", np.full((50, 50, 3), 200, np.uint8), "JPEG")
    save(tmp_path / "c.jpeg", np.full((32, 32, 3), 10, np.uint8), "JPEG")
    xs = torch.cat([load_image_folder(str(tmp_path), s).x for s in ("train", "test")])
    assert xs.shape == (3, 3, 32, 32)
    means = sorted(round(float(v) * 255) for v in xs.mean((1, 2, 3)))
    assert means[0] in range(8, 13) and means[1] == 128 and means[2] in range(198, 203)


def test_splits_are_fixed_disjoint_and_cover_everything():
    rows = {s: split_rows(25, s) for s in ("train", "valid", "test")}
    assert [len(rows[s]) for s in ("train", "valid", "test")] == [21, 2, 2]
    assert sorted(np.concatenate(list(rows.values())).tolist()) == list(range(25))
    assert split_rows(25, "test").tolist() == rows["test"].tolist()
    assert "has no valid split; expected at least 10 images" in one_line_error(split_rows, 5, "valid")
    assert "has no train split; expected at least 2 images" in one_line_error(split_rows, 1, "train")


def test_class_subfolders_are_labels(tmp_path):
    for cls, value in (("cats", 0), ("dogs", 255)):
        for i in range(5):
            save(tmp_path / cls / f"{i}.png", np.full((8, 8, 3), value, np.uint8))
    data = load_image_folder(str(tmp_path), "train")
    assert len(data) == 8 and data.y is not None
    assert torch.equal(data.y, (data.x.mean((1, 2, 3)) > 0.5).long())  # dogs (white) are class 1


def test_registered_loader_reads_data_dir(tmp_path):
    for i in range(3):
        save(tmp_path / f"{i}.png", np.full((16, 16, 3), 50 * i, np.uint8))
    assert "image-folder" in DATASETS
    assert image_folder("train", str(tmp_path)).x.shape == (2, 3, 32, 32)
    assert "--data-dir" in one_line_error(image_folder, "train", None)


def test_bad_folders_are_one_line_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / ".DS_Store").write_bytes(b"hidden files are skipped")
    assert one_line_error(load_image_folder, str(empty)) == f"data: {empty} holds no PNG/JPEG images"
    assert "no such directory" in one_line_error(load_image_folder, str(tmp_path / "nope"))
    mixed = tmp_path / "mixed"
    save(mixed / "a.png", np.zeros((8, 8, 3), np.uint8))
    (mixed / "notes.txt").write_text("hi")
    assert one_line_error(load_image_folder, str(mixed)).startswith(f"data: {mixed / 'notes.txt'} is not a PNG/JPEG")
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "a.png").write_bytes(b"not an image at all")
    (fake / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    messages = [one_line_error(load_image_folder, str(fake), split) for split in ("train", "test")]  # one file each
    assert sorted(m.split(f"{fake}/")[1] for m in messages) == ["a.png is not a readable PNG/JPEG image (UnidentifiedImageError)",
                                                         "b.png is not a readable PNG/JPEG image (UnidentifiedImageError)"]
    gif = tmp_path / "gif"
    save(gif / "a.png", np.zeros((8, 8, 3), np.uint8), "GIF")
    save(gif / "b.png", np.zeros((8, 8, 3), np.uint8))
    gif_split = "train" if split_rows(2, "train").tolist() == [0] else "test"  # the split that holds a.png
    assert "a.png is not a PNG/JPEG image (Pillow reads it as GIF)" in one_line_error(load_image_folder, str(gif), gif_split)
    assert "image-size: expected one of 32, 64" in one_line_error(load_image_folder, str(gif), size=48)


def test_truncated_jpeg(tmp_path):
    save(tmp_path / "a.jpg", np.random.RandomState(0).randint(0, 256, (64, 64, 3)).astype(np.uint8), "JPEG")
    raw = (tmp_path / "a.jpg").read_bytes()
    (tmp_path / "a.jpg").write_bytes(raw[: len(raw) // 2])
    save(tmp_path / "b.png", np.zeros((8, 8, 3), np.uint8))
    split = "train" if split_rows(2, "train").tolist() == [0] else "test"  # the split that holds a.jpg
    message = one_line_error(load_image_folder, str(tmp_path), split)
    assert message.endswith("a.jpg is not a readable PNG/JPEG image (OSError)")
