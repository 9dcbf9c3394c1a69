"""The content-addressed blob store on Postgres: chunked writes, dedup, size limit, file cache."""

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from server.store.blobs import BlobNotFound, UploadTooLarge, blob_to_file, get_bytes, put_blob
from server.store.models import Blob, BlobChunk
from tests.store.conftest import migrated_sessions


@pytest.fixture(scope="module")
def db(pg_url: str) -> Iterator[sessionmaker[Session]]:
    with migrated_sessions(pg_url) as sessions:
        yield sessions


def test_put_blob_chunks_and_dedups(db: sessionmaker[Session]) -> None:
    parts = [b"alpha-" * 1000, b"", b"beta-" * 1000]
    with db() as session:
        sha, size = put_blob(session, iter(parts))
        again = put_blob(session, iter([b"".join(parts)]))
        session.commit()
        chunks = session.scalar(select(func.count()).select_from(BlobChunk).where(BlobChunk.sha256 == sha))
        temps = session.scalar(select(func.count()).select_from(Blob).where(Blob.sha256.like("tmp-%")))
        assert (sha, size) == (hashlib.sha256(b"".join(parts)).hexdigest(), 11000) and again == (sha, size)
        assert chunks == 2 and temps == 0 and get_bytes(session, sha) == b"".join(parts)


def test_put_blob_past_max_bytes_raises(db: sessionmaker[Session]) -> None:
    with db() as session:
        with pytest.raises(UploadTooLarge, match="100 bytes"):
            put_blob(session, iter([b"x" * 60, b"y" * 60]), max_bytes=100)
        session.rollback()
        assert session.scalar(select(func.count()).select_from(Blob).where(Blob.sha256.like("tmp-%"))) == 0


def test_blob_to_file_writes_once_and_missing_blob_raises(db: sessionmaker[Session], tmp_path: Path) -> None:
    with db() as session:
        sha, _ = put_blob(session, iter([b"cached"]))
        session.commit()
        target = blob_to_file(session, sha, tmp_path / "cache" / sha)
        assert target.read_bytes() == b"cached" and list(target.parent.iterdir()) == [target]
        with pytest.raises(BlobNotFound):
            blob_to_file(session, "0" * 64, tmp_path / "cache" / "missing")
        assert list(target.parent.iterdir()) == [target]  # no partial file left behind
