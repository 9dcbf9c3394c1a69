"""Content-addressed blob store inside the database (sha256 -> ordered chunks).

Uploads, checkpoints and TensorBoard archives live here so API and worker hosts share no filesystem.
"""

import hashlib
import os
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from server.store.models import Blob, BlobChunk


class UploadTooLarge(Exception):
    """The streamed content went past the allowed size."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        super().__init__(f"upload is larger than the limit of {max_bytes} bytes")


class BlobNotFound(Exception):
    """No blob with that sha256 is stored."""


def _insert_ignore(session: Session, sha256: str, size: int) -> bool:
    """Insert the blob row unless it exists; True when this call created it (race-safe)."""
    dialect = session.get_bind().dialect.name
    ins = postgresql.insert(Blob) if dialect == "postgresql" else sqlite.insert(Blob)
    stmt = (ins.values(sha256=sha256, size_bytes=size).on_conflict_do_nothing(index_elements=["sha256"])
            .returning(Blob.sha256))
    # rowcount is not reliable for INSERT .. ON CONFLICT under psycopg 3 (it reads -1); RETURNING is.
    return session.execute(stmt).scalar_one_or_none() is not None


def put_blob(session: Session, chunks: Iterable[bytes], *, max_bytes: int | None = None) -> tuple[str, int]:
    """Stream chunks into blob_chunks under a temporary key, then rename to the content's sha256.

    Never holds more than one chunk in memory. Dedups: content already stored keeps its one copy.
    Raises UploadTooLarge past max_bytes (the caller's transaction should then be rolled back).
    """
    tmp_key = f"tmp-{uuid.uuid4().hex}"
    session.execute(insert(Blob).values(sha256=tmp_key, size_bytes=0))
    digest, size, idx = hashlib.sha256(), 0, 0
    for chunk in chunks:
        if not chunk:
            continue
        size += len(chunk)
        if max_bytes is not None and size > max_bytes:
            raise UploadTooLarge(max_bytes)
        digest.update(chunk)
        session.execute(insert(BlobChunk).values(sha256=tmp_key, idx=idx, data=bytes(chunk)))
        idx += 1
    sha = digest.hexdigest()
    if _insert_ignore(session, sha, size):
        session.execute(update(BlobChunk).where(BlobChunk.sha256 == tmp_key).values(sha256=sha))
    else:
        session.execute(delete(BlobChunk).where(BlobChunk.sha256 == tmp_key))
    session.execute(delete(Blob).where(Blob.sha256 == tmp_key))
    return sha, size


def put_bytes(session: Session, data: bytes, *, chunk_bytes: int = 4 * 1024 * 1024) -> tuple[str, int]:
    view = memoryview(data)
    return put_blob(session, (bytes(view[i:i + chunk_bytes]) for i in range(0, len(data), chunk_bytes)))


def blob_exists(session: Session, sha256: str) -> bool:
    return session.get(Blob, sha256) is not None


def iter_blob(session: Session, sha256: str) -> Iterator[bytes]:
    """Yield the blob's chunks in order, fetching one chunk per query to bound memory."""
    if not blob_exists(session, sha256):
        raise BlobNotFound(sha256)
    indexes = session.scalars(
        select(BlobChunk.idx).where(BlobChunk.sha256 == sha256).order_by(BlobChunk.idx)
    ).all()
    for idx in indexes:
        yield session.scalars(
            select(BlobChunk.data).where(BlobChunk.sha256 == sha256, BlobChunk.idx == idx)
        ).one()


def get_bytes(session: Session, sha256: str) -> bytes:
    return b"".join(iter_blob(session, sha256))


def blob_to_file(session: Session, sha256: str, path: Path) -> Path:
    """Materialise a blob at path once (a cache keyed by sha); an atomic rename avoids torn files."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    chunks = iter_blob(session, sha256)
    first = next(chunks, b"")  # raises BlobNotFound before any file is made
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
    try:
        with tmp.open("wb") as f:
            f.write(first)
            for chunk in chunks:
                f.write(chunk)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
