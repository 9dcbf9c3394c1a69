"""CSV datasets: a header row, one target column (default the last), numeric features."""

import csv
from pathlib import Path

import numpy as np
import torch

from dl.data import ArrayData, DatasetInfo, encode_classes
from dl.errors import DataError, TargetError


def _read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = [row for row in csv.reader(fh) if row]
    except (UnicodeDecodeError, csv.Error) as err:
        raise DataError(f"cannot read the CSV file: {err}") from err
    if not rows:
        raise DataError("the CSV file is empty; it needs a header row and at least one data row")
    header, data = [h.strip() for h in rows[0]], rows[1:]
    if not data:
        raise DataError("the CSV file has a header row but no data rows")
    if len(header) < 2:
        raise DataError("the CSV file needs at least one feature column besides the target")
    for i, row in enumerate(data):
        if len(row) != len(header):
            raise DataError(f"row {i + 1} (line {i + 2}) has {len(row)} values "
                            f"but the header has {len(header)}")
    return header, data


def _numbers(values: list[str], column: str) -> np.ndarray:
    """Floats of one column; the first bad cell is reported with its row."""
    try:
        out = np.array(values, dtype=np.float64)
        if np.isfinite(out).all():
            return out
    except ValueError:
        pass
    for i, v in enumerate(values):
        try:
            ok = np.isfinite(float(v))
        except ValueError:
            ok = False
        if not ok:
            what = "is missing" if not v.strip() else f"value {v!r} is not a finite number"
            raise DataError(f"row {i + 1} (line {i + 2}), column {column!r}: {what}")
    raise DataError(f"column {column!r} holds a value that is not a number")


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def _target(values: list[str], column: str) -> tuple[torch.Tensor, dict[str, object]]:
    for i, v in enumerate(values):
        if not v.strip():
            raise DataError(f"row {i + 1} (line {i + 2}), column {column!r}: the target is missing")
    stripped = [v.strip() for v in values]
    if all(_is_int(v) for v in stripped):
        ints = np.array([int(v) for v in stripped], dtype=np.int64)
        return encode_classes(ints, f"target column {column!r}")
    try:
        floats = np.array(stripped, dtype=np.float64)
    except ValueError:
        return encode_classes(np.array(stripped), f"target column {column!r}")
    if not np.isfinite(floats).all():
        raise DataError(f"target column {column!r} holds a non-finite value")
    return torch.from_numpy(floats.astype(np.float32).reshape(-1, 1)), {"kind": "values", "shape": [1]}


def load_csv(path: Path, target: str | None) -> ArrayData:
    header, rows = _read_rows(path)
    if target is None:
        t_idx = len(header) - 1
    elif target in header:
        t_idx = header.index(target)
    else:
        raise TargetError(f"target column {target!r} is not in the header ({', '.join(header)[:1000]})")
    columns = list(zip(*rows, strict=True))
    feats = [_numbers(list(columns[j]), header[j]) for j in range(len(header)) if j != t_idx]
    x = torch.from_numpy(np.stack(feats, axis=1).astype(np.float32))
    y, tgt = _target(list(columns[t_idx]), header[t_idx])
    info = DatasetInfo(num_samples=len(rows), input_shape=[len(feats)], target=dict(tgt))
    return ArrayData(x=x, y=y, info=info)
