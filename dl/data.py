"""Datasets -> tensors: uploaded files (CSV, NPZ, image zip), scikit-learn's bundled sets, the split,
and standardisation with the training split's statistics."""

import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from dl.errors import DataError, TargetError

BUILTINS = ("digits", "iris", "wine", "breast_cancer", "diabetes")
FORMATS = ("csv", "npz", "zip")


@dataclass
class DatasetInfo:
    num_samples: int
    input_shape: list[int]
    target: dict[str, Any]  # contract: {"kind": "classes"|"values"|"none", ...}


@dataclass
class ArrayData:
    x: Tensor
    y: Tensor | None
    info: DatasetInfo


def encode_classes(labels: np.ndarray, where: str) -> tuple[Tensor, dict[str, Any]]:
    """Integer/string/bool labels -> class indices into the sorted class list."""
    classes, index = np.unique(labels, return_inverse=True)
    if len(classes) < 2:
        raise DataError(f"{where} holds a single class ({classes[0] if len(classes) else 'none'}); "
                        "classification needs at least two")
    names = [c.item() if isinstance(c, np.generic) else c for c in classes.tolist()]
    target = {"kind": "classes", "num_classes": len(names), "classes": names}
    return torch.from_numpy(index.reshape(-1).astype(np.int64)), target


def _features(x: np.ndarray, where: str) -> Tensor:
    if x.dtype.kind in "iu":
        return torch.from_numpy(x.astype(np.int64))  # token ids stay integer for Embedding/LSTM
    if x.dtype.kind == "b":
        return torch.from_numpy(x.astype(np.float32))
    if x.dtype.kind != "f":
        raise DataError(f"{where} must be numeric, got dtype {x.dtype}")
    if not np.isfinite(x).all():
        bad = np.argwhere(~np.isfinite(x))[0].tolist()
        raise DataError(f"{where} holds a missing or infinite value at index {bad}")
    return torch.from_numpy(x.astype(np.float32))


def from_arrays(x: np.ndarray, y: np.ndarray | None, where: str = "x") -> ArrayData:
    """ArrayData from numpy arrays: integer/string y -> classes, float y -> values, no y -> none."""
    if x.ndim < 2 or x.shape[0] == 0:
        raise DataError(f"{where} must have shape [samples, features...] with at least one sample, "
                        f"got {list(x.shape)}")
    xt = _features(x, where)
    target: dict[str, Any] = {"kind": "none"}
    yt: Tensor | None = None
    if y is not None:
        if y.shape[0] != x.shape[0]:
            raise DataError(f"y has {y.shape[0]} samples but x has {x.shape[0]}")
        if y.dtype.kind in "iubUS":
            if y.ndim != 1:
                raise DataError(f"class labels y must be one-dimensional, got shape {list(y.shape)}")
            yt, target = encode_classes(y, "y")
        elif y.dtype.kind == "f":
            values = y.reshape(len(y), -1) if y.ndim == 1 else y
            yt = _features(values, "y")
            target = {"kind": "values", "shape": list(values.shape[1:])}
        else:
            raise DataError(f"y must hold integers, strings or floats, got dtype {y.dtype}")
    info = DatasetInfo(num_samples=int(x.shape[0]), input_shape=list(x.shape[1:]), target=target)
    return ArrayData(x=xt, y=yt, info=info)


def _load_npz(path: Path) -> ArrayData:
    try:
        with np.load(path, allow_pickle=False) as npz:
            if "x" not in npz.files:
                raise DataError(f"the .npz file has no array 'x' (it has {', '.join(npz.files) or 'none'})")
            x = npz["x"]
            y = npz["y"] if "y" in npz.files else None
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as err:
        raise DataError(f"cannot read the .npz file (pickled objects are refused): {err}") from err
    return from_arrays(x, y)


def load_file(path: Path, fmt: str, target: str | None = None) -> ArrayData:
    """Tensors of an uploaded dataset file; DataError names the row, column or member at fault."""
    if fmt == "csv":
        from dl.csvdata import load_csv
        return load_csv(Path(path), target)
    if target is not None:
        raise TargetError(f"a target column applies to CSV files only, not {fmt}")
    if fmt == "npz":
        return _load_npz(Path(path))
    if fmt == "zip":
        from dl.imagezip import load_image_zip
        return load_image_zip(Path(path))
    raise DataError(f"unknown dataset format {fmt!r}; use one of {', '.join(FORMATS)}")


def inspect_file(path: Path, fmt: str, target: str | None = None) -> DatasetInfo:
    return load_file(path, fmt, target).info


def load_builtin(name: str) -> ArrayData:
    """scikit-learn's bundled sets as their flat `data` arrays (digits is [64])."""
    if name not in BUILTINS:
        raise DataError(f"unknown builtin dataset {name!r}; choose one of {', '.join(BUILTINS)}")
    from sklearn import datasets
    loaders = {"digits": datasets.load_digits, "iris": datasets.load_iris, "wine": datasets.load_wine,
               "breast_cancer": datasets.load_breast_cancer, "diabetes": datasets.load_diabetes}
    bunch = loaders[name]()
    x = np.asarray(bunch.data, dtype=np.float32)
    y = np.asarray(bunch.target)
    return from_arrays(x, y.astype(np.float32) if name == "diabetes" else y.astype(np.int64))


def val_size(n: int, val_fraction: float) -> int:
    """How many of n samples split_indices holds out for validation."""
    n_val = math.floor(n * val_fraction + 0.5) if val_fraction > 0 else 0
    if val_fraction > 0 and n >= 2:
        n_val = min(max(n_val, 1), n - 1)  # at least one sample on each side
    return n_val


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """(train, val) index tensors: a seeded permutation, the same for the same arguments."""
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(n, generator=gen)
    n_val = val_size(n, val_fraction)
    return perm[n_val:].sort().values, perm[:n_val].sort().values


def normalization_shape(input_shape: list[int]) -> list[int]:
    """Shape that mean/std take to broadcast over one sample: per feature for [F] and [T, F] (last
    axis), per channel for [C, H, W]-like inputs (first axis)."""
    if len(input_shape) <= 2:
        return [1] * (len(input_shape) - 1) + [input_shape[-1]]
    return [input_shape[0]] + [1] * (len(input_shape) - 1)


def fit_normalization(x: Tensor, input_shape: list[int]) -> dict[str, list[float]] | None:
    """Mean/std of float features over the given (training) samples; None for integer inputs."""
    if x.is_floating_point() is False or len(x) == 0:
        return None
    shape = normalization_shape(input_shape)
    axis = len(input_shape) - 1 if len(input_shape) <= 2 else 0
    per = x.double().movedim(axis + 1, 0).reshape(shape[axis], -1)
    std = per.std(dim=1, unbiased=False)
    std = torch.where(std > 1e-12, std, torch.ones_like(std))  # constant features pass through unscaled
    return {"mean": per.mean(dim=1).tolist(), "std": std.tolist()}


def apply_normalization(x: Tensor, norm: dict[str, list[float]], input_shape: list[int]) -> Tensor:
    shape = [1, *normalization_shape(input_shape)]
    mean = torch.tensor(norm["mean"], dtype=x.dtype, device=x.device).reshape(shape)
    std = torch.tensor(norm["std"], dtype=x.dtype, device=x.device).reshape(shape)
    return (x - mean) / std
