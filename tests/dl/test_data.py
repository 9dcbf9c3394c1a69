"""Dataset files -> tensors and their errors; builtins; the seeded split; standardisation."""

import io
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dl import imagezip
from dl.data import (
    apply_normalization,
    fit_normalization,
    inspect_file,
    load_builtin,
    load_file,
    normalization_shape,
    split_indices,
)
from dl.errors import DataError


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "data.csv"
    path.write_text(text)
    return path


def test_load_csv_string_target_gives_sorted_classes(tmp_path: Path) -> None:
    data = load_file(_csv(tmp_path, "a,b,label\n1,2,dog\n3,4.5,cat\n5,6,dog\n"), "csv")
    assert data.info.input_shape == [2] and data.info.num_samples == 3
    assert data.info.target == {"kind": "classes", "num_classes": 2, "classes": ["cat", "dog"]}
    assert data.y is not None and data.y.tolist() == [1, 0, 1]
    assert torch.equal(data.x, torch.tensor([[1, 2], [3, 4.5], [5, 6]], dtype=torch.float32))


def test_load_csv_integer_target_and_named_column(tmp_path: Path) -> None:
    data = load_file(_csv(tmp_path, "y,a,b\n7,1,2\n3,3,4\n7,5,6\n"), "csv", target="y")
    assert data.info.target["classes"] == [3, 7]
    assert data.y is not None and data.y.tolist() == [1, 0, 1]
    assert data.x.tolist() == [[1, 2], [3, 4], [5, 6]]


def test_load_csv_float_target_is_values(tmp_path: Path) -> None:
    data = load_file(_csv(tmp_path, "a,price\n1,2.5\n2,3\n"), "csv")
    assert data.info.target == {"kind": "values", "shape": [1]}
    assert data.y is not None and data.y.tolist() == [[2.5], [3.0]]


@pytest.mark.parametrize(("text", "message"), [
    ("", "empty"),
    ("a,b\n", "no data rows"),
    ("a,b,y\n1,2,x\n3,,z\n", r"row 2 \(line 3\), column 'b': is missing"),
    ("a,b,y\n1,2,x\n3,abc,z\n", r"row 2 \(line 3\), column 'b': value 'abc' is not a finite number"),
    ("a,b,y\n1,2,x\n3,4\n", r"row 2 \(line 3\) has 2 values but the header has 3"),
    ("a,y\n1,same\n2,same\n", "single class"),
    ("a,y\n1,3\n2,\n", r"row 2 \(line 3\), column 'y': the target is missing"),
    ("y\n1\n2\n", "at least one feature"),
])
def test_load_csv_bad_file_names_the_problem(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        load_file(_csv(tmp_path, text), "csv")


def test_load_csv_unknown_target_column(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="'nope' is not in the header"):
        inspect_file(_csv(tmp_path, "a,b\n1,2\n3,4\n"), "csv", target="nope")


def _npz(tmp_path: Path, **arrays: np.ndarray) -> Path:
    path = tmp_path / "data.npz"
    np.savez(path, **arrays)  # type: ignore[arg-type]
    return path


def test_load_npz_kinds(tmp_path: Path) -> None:
    ints = load_file(_npz(tmp_path, x=np.arange(12).reshape(4, 3), y=np.array([0, 1, 0, 1])), "npz")
    assert ints.x.dtype == torch.int64  # token ids stay integers
    assert ints.info.target == {"kind": "classes", "num_classes": 2, "classes": [0, 1]}
    strings = load_file(_npz(tmp_path, x=np.ones((3, 2), np.float32), y=np.array(["b", "a", "b"])), "npz")
    assert strings.info.target["classes"] == ["a", "b"] and strings.x.dtype == torch.float32
    values = load_file(_npz(tmp_path, x=np.ones((3, 2, 5)), y=np.ones((3, 4))), "npz")
    assert values.info.input_shape == [2, 5] and values.info.target == {"kind": "values", "shape": [4]}
    bare = load_file(_npz(tmp_path, x=np.ones((3, 2))), "npz")
    assert bare.info.target == {"kind": "none"} and bare.y is None


@pytest.mark.parametrize(("arrays", "message"), [
    ({"z": np.ones((2, 2))}, "no array 'x'"),
    ({"x": np.ones((3, 2)), "y": np.ones(2, np.int64)}, "y has 2 samples but x has 3"),
    ({"x": np.array([[1.0, np.nan]])}, "missing or infinite value at index"),
    ({"x": np.ones(4)}, "must have shape"),
    ({"x": np.ones((2, 2)), "y": np.array([1, 1])}, "single class"),
])
def test_load_npz_bad_file(tmp_path: Path, arrays: dict[str, np.ndarray], message: str) -> None:
    with pytest.raises(DataError, match=message):
        load_file(_npz(tmp_path, **arrays), "npz")


def test_load_npz_refuses_pickled_objects(tmp_path: Path) -> None:
    path = tmp_path / "evil.npz"
    np.savez(path, x=np.array([{"a": 1}, {"b": 2}], dtype=object))
    with pytest.raises(DataError, match="pickled objects are refused"):
        load_file(path, "npz")


def _png(size: tuple[int, int], mode: str = "L", value: int = 128) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, value if mode == "L" else (value, 0, 0)).save(buf, format="PNG")
    return buf.getvalue()


def _zip(tmp_path: Path, members: dict[str, bytes]) -> Path:
    path = tmp_path / "images.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_load_zip_grayscale_in_top_folder(tmp_path: Path) -> None:
    path = _zip(tmp_path, {"set/cat/1.png": _png((4, 3), value=255), "set/dog/2.png": _png((4, 3), value=0),
                           "set/cat/3.png": _png((4, 3)), "__MACOSX/set/._1.png": b"junk"})
    data = load_file(path, "zip")
    assert data.info.input_shape == [1, 3, 4]  # [C, H, W]
    assert data.info.target["classes"] == ["cat", "dog"]
    assert data.y is not None and data.y.tolist() == [0, 1, 0]
    assert data.x[0].max().item() == 1.0 and data.x[1].max().item() == 0.0


def test_load_zip_colour_and_mixed_sizes_resized(tmp_path: Path) -> None:
    path = _zip(tmp_path, {"a/1.png": _png((8, 8), "RGB"), "a/2.png": _png((8, 8)), "b/3.png": _png((5, 6))})
    data = load_file(path, "zip")
    assert data.info.input_shape == [3, 8, 8]
    assert data.x.shape == (3, 3, 8, 8)


def _symlink_zip(tmp_path: Path) -> Path:
    path = tmp_path / "link.zip"
    with zipfile.ZipFile(path, "w") as zf:
        info = zipfile.ZipInfo("a/link.png")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
        zf.writestr("b/1.png", _png((2, 2)))
    return path


@pytest.mark.parametrize(("members", "message"), [
    ({"../evil/1.png": b"x", "b/1.png": b"x"}, "outside the archive"),
    ({"/abs/1.png": b"x"}, "absolute path"),
    ({"a/1.png": _png((2, 2)), "b/notes.txt": b"hello"}, "not a readable PNG or JPEG"),
    ({"a/1.png": _png((2, 2)), "2.png": _png((2, 2))}, "one folder per class"),
    ({"a/1.png": _png((2, 2)), "a/2.png": _png((2, 2))}, "single class"),
])
def test_load_zip_refuses_bad_members(tmp_path: Path, members: dict[str, bytes], message: str) -> None:
    with pytest.raises(DataError, match=message):
        load_file(_zip(tmp_path, members), "zip")


def test_load_zip_refuses_symlink(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="symbolic link"):
        load_file(_symlink_zip(tmp_path), "zip")


def test_load_zip_refuses_bomb_before_decompressing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a/big.png", b"\0" * (8 * 1024 * 1024))  # 8 MiB of zeros deflates ~1000x
        zf.writestr("b/1.png", _png((2, 2)))
    opened: list[str] = []
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda self, name, *a, **k: opened.append(str(name)))
    with pytest.raises(DataError, match="zip bomb"):
        load_file(path, "zip")
    assert opened == []


def test_load_zip_refuses_total_over_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imagezip, "MAX_TOTAL_BYTES", 100)
    path = _zip(tmp_path, {"a/1.png": _png((20, 20)), "b/2.png": _png((20, 20))})
    with pytest.raises(DataError, match="over the 100 limit"):
        load_file(path, "zip")


def test_load_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "x.zip"
    path.write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a valid zip"):
        load_file(path, "zip")


@pytest.mark.parametrize(("name", "shape", "kind", "n"), [
    ("digits", [64], "classes", 1797), ("iris", [4], "classes", 150), ("wine", [13], "classes", 178),
    ("breast_cancer", [30], "classes", 569), ("diabetes", [10], "values", 442),
])
def test_load_builtin_shapes(name: str, shape: list[int], kind: str, n: int) -> None:
    data = load_builtin(name)
    assert data.info.input_shape == shape and data.info.target["kind"] == kind and data.info.num_samples == n
    assert data.x.dtype == torch.float32 and len(data.x) == n


def test_load_builtin_unknown() -> None:
    with pytest.raises(DataError, match="unknown builtin dataset 'mnist'"):
        load_builtin("mnist")


def test_split_indices_deterministic_and_disjoint() -> None:
    a_train, a_val = split_indices(100, 0.2, seed=5)
    b_train, b_val = split_indices(100, 0.2, seed=5)
    c_train, _ = split_indices(100, 0.2, seed=6)
    assert torch.equal(a_train, b_train) and torch.equal(a_val, b_val)
    assert not torch.equal(a_train, c_train)
    assert len(a_val) == 20 and sorted(torch.cat([a_train, a_val]).tolist()) == list(range(100))


def test_split_indices_edges() -> None:
    assert [len(t) for t in split_indices(10, 0.0, 0)] == [10, 0]
    assert [len(t) for t in split_indices(3, 0.01, 0)] == [2, 1]  # at least one validation sample


def test_normalization_per_feature_uses_given_samples() -> None:
    x = torch.tensor([[1.0, 10.0], [3.0, 10.0]])
    norm = fit_normalization(x, [2])
    assert norm == {"mean": [2.0, 10.0], "std": [1.0, 1.0]}  # a constant feature keeps std 1
    assert apply_normalization(x, norm, [2]).tolist() == [[-1.0, 0.0], [1.0, 0.0]]


def test_normalization_per_channel_for_images() -> None:
    x = torch.stack([torch.zeros(2, 2, 2), torch.ones(2, 2, 2)])
    x[:, 1] += 4
    norm = fit_normalization(x, [2, 2, 2])
    assert norm is not None
    assert norm["mean"] == pytest.approx([0.5, 4.5]) and norm["std"] == pytest.approx([0.5, 0.5])
    assert normalization_shape([2, 2, 2]) == [2, 1, 1] and normalization_shape([5, 3]) == [1, 3]


def test_normalization_skips_integer_inputs() -> None:
    assert fit_normalization(torch.arange(6).reshape(3, 2), [2]) is None
