"""Streamed file transfers: uploads read in chunks with progress, downloads written chunk by chunk."""

import os
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import httpx

# Called with (bytes done, total bytes or None) as a transfer advances.
ProgressFn = Callable[[int, int | None], None]


class ProgressReader:
    """A binary file wrapper that reports its read position; httpx's multipart encoder reads it in
    64 KiB chunks, so the upload never holds the whole file in memory."""

    def __init__(self, path: Path, on_progress: ProgressFn | None) -> None:
        self._file: BinaryIO = path.open("rb")
        self.name = path.name
        self.total = path.stat().st_size
        self._on_progress = on_progress

    def read(self, size: int = -1) -> bytes:
        chunk = self._file.read(size)
        if self._on_progress is not None:
            self._on_progress(self._file.tell(), self.total)
        return chunk

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def fileno(self) -> int:
        return self._file.fileno()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "ProgressReader":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def save_response(response: httpx.Response, dest: Path, on_progress: ProgressFn | None) -> Path:
    """Write a streaming response to `dest` via a temporary file, so a broken download leaves no
    truncated file behind."""
    length = response.headers.get("content-length")
    total = int(length) if length and length.isdigit() else None
    tmp = dest.with_name(dest.name + ".part")
    done = 0
    try:
        with tmp.open("wb") as out:
            for chunk in response.iter_bytes():
                out.write(chunk)
                done += len(chunk)
                if on_progress is not None:
                    on_progress(done, total)
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest
