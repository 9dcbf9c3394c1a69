"""Image-folder zips: one folder per class (at the root or inside one top folder), PNG/JPEG.

Every member's declared size, the total and the compression ratio are checked before anything is
decompressed; traversal, absolute paths and symlinks are refused. Members are read into memory,
never extracted to disk."""

import io
import stat
import zipfile
from collections import Counter
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from dl.data import ArrayData, DatasetInfo, encode_classes
from dl.errors import DataError

MAX_MEMBER_BYTES = 64 * 1024 * 1024
MAX_TOTAL_BYTES = 4 * 1024 * 1024 * 1024
MAX_RATIO = 200  # PNG/JPEG barely compress further; a higher ratio is a bomb
MAX_PIXELS = 64 * 1024 * 1024
IMAGE_FORMATS = ("PNG", "JPEG")


def _skipped(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return name.endswith("/") or parts[0] == "__MACOSX" or parts[-1].startswith(".")


def _check_member(info: zipfile.ZipInfo) -> None:
    name = info.filename
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise DataError(f"zip member {name!r} has an absolute path")
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        raise DataError(f"zip member {name!r} points outside the archive ('..')")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise DataError(f"zip member {name!r} is a symbolic link")
    if info.file_size > MAX_MEMBER_BYTES:
        raise DataError(f"zip member {name!r} declares {info.file_size} bytes, "
                        f"over the {MAX_MEMBER_BYTES} limit")
    if info.file_size > MAX_RATIO * max(info.compress_size, 1) and info.file_size > 1024 * 1024:
        raise DataError(f"zip member {name!r} expands {info.file_size // max(info.compress_size, 1)}x; "
                        "refused as a zip bomb")


def _members(zf: zipfile.ZipFile) -> list[tuple[zipfile.ZipInfo, str]]:
    """(member, class name) for every image, after checking every member and the total size."""
    infos = zf.infolist()
    for info in infos:
        _check_member(info)
    total = sum(i.file_size for i in infos)
    if total > MAX_TOTAL_BYTES:
        raise DataError(f"the zip expands to {total} bytes, over the {MAX_TOTAL_BYTES} limit")
    files = [i for i in infos if not _skipped(i.filename)]
    if not files:
        raise DataError("the zip holds no images")
    parts = [PurePosixPath(i.filename).parts for i in files]
    if all(len(p) == 2 for p in parts):
        return [(i, p[0]) for i, p in zip(files, parts, strict=True)]
    if all(len(p) == 3 for p in parts) and len({p[0] for p in parts}) == 1:
        return [(i, p[1]) for i, p in zip(files, parts, strict=True)]
    odd = next(i.filename for i, p in zip(files, parts, strict=True) if len(p) not in (2, 3))
    raise DataError(f"images must sit in one folder per class (class/image.png); {odd!r} does not")


def _open_image(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Image.Image:
    with zf.open(info) as fh:
        raw = fh.read(info.file_size + 1)  # never trust the declared size beyond one extra byte
    if len(raw) > info.file_size:
        raise DataError(f"zip member {info.filename!r} is larger than it declares")
    try:
        img = Image.open(io.BytesIO(raw))
        if img.format not in IMAGE_FORMATS:
            raise DataError(f"zip member {info.filename!r} is {img.format}, not PNG or JPEG")
        if img.width * img.height > MAX_PIXELS:
            raise DataError(f"zip member {info.filename!r} is {img.width}x{img.height}, too many pixels")
        img.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as err:
        raise DataError(f"zip member {info.filename!r} is not a readable PNG or JPEG image") from err
    return img


def _to_array(img: Image.Image, mode: str, size: tuple[int, int]) -> np.ndarray:
    img = img.convert(mode)
    if img.size != size:
        img = img.resize(size, Image.Resampling.BILINEAR)
    arr = np.asarray(img, dtype=np.float32) / 255.0
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def load_image_zip(path: Path) -> ArrayData:
    try:
        with zipfile.ZipFile(path) as zf:
            members = _members(zf)
            images = [_open_image(zf, info) for info, _ in members]
    except zipfile.BadZipFile as err:
        raise DataError(f"not a valid zip file: {err}") from err
    colour = any(img.mode not in ("1", "L", "LA", "I", "I;16", "F") for img in images)
    mode = "RGB" if colour else "L"
    size = Counter(img.size for img in images).most_common(1)[0][0]
    x = np.stack([_to_array(img, mode, size) for img in images])
    y, target = encode_classes(np.array([cls for _, cls in members]), "the zip")
    info = DatasetInfo(num_samples=len(images), input_shape=list(x.shape[1:]), target=target)
    return ArrayData(x=torch.from_numpy(x), y=y, info=info)
