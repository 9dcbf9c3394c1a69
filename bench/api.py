"""API figures on real Postgres: metric ingest through write_points, and the downsampled series route.

- ingest: --points points of one series (plus a second name) written by write_points in batches of
  --batch, one transaction per batch as a worker's reporter does; points per second (goal >= 100,000);
- read: GET /api/v1/jobs/{id}/metrics/train_loss?max_points=2000 on that 1,000,000-point series
  through the FastAPI app in process (TestClient), p50/p95 over --reads requests (goal p50 <= 150 ms).

Run from the repository root: `python -m bench.api`. Prints and saves bench/results/api.json.
"""

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from tests.conftest import _create_pg_database, _drop_pg_database
from tests.rows import make_job

RESULTS = Path(__file__).resolve().parent / "results" / "api.json"


def ingest(job_id: int, points: int, batch: int) -> dict[str, Any]:
    from server.core.db import get_sessionmaker
    from server.store.metrics import write_points

    elapsed, written = 0.0, 0
    for start in range(1, points + 1, batch):
        rows = [("train_loss", s, 1.0 / s + (s % 97) * 1e-3, 1.7e9 + s * 0.01)
                for s in range(start, min(points + 1, start + batch))]
        rows += [("lr", s, 1e-3, 1.7e9 + s * 0.01) for s in range(start, start + len(rows) // 10)]
        began = time.perf_counter()
        with get_sessionmaker()() as session:
            written += write_points(session, job_id, 1, rows)
            session.commit()
        elapsed += time.perf_counter() - began
    return {"points": written, "batch": batch, "seconds": round(elapsed, 3),
            "points_per_s": round(written / elapsed), "goal_points_per_s": 100_000}


def read(job_id: int, token: str, reads: int) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from server.main import create_app

    headers = {"Authorization": f"Bearer {token}"}
    url = f"/api/v1/jobs/{job_id}/metrics/train_loss?max_points=2000"
    timings: list[float] = []
    with TestClient(create_app()) as client:
        body = client.get(url, headers=headers).json()  # warm-up
        for _ in range(reads):
            began = time.perf_counter()
            response = client.get(url, headers=headers)
            timings.append((time.perf_counter() - began) * 1000)
            response.raise_for_status()
    timings.sort()
    return {"total_points": body["total_points"], "returned_points": len(body["steps"]),
            "reads": reads, "p50_ms": round(statistics.median(timings), 2),
            "p95_ms": round(timings[int(0.95 * (len(timings) - 1))], 2), "goal_p50_ms": 150}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--reads", type=int, default=50)
    args = parser.parse_args()
    name, url = _create_pg_database()
    try:
        with TemporaryDirectory() as data_dir:
            os.environ.update({"TORCHYARD_DATABASE_URL": url, "TORCHYARD_DATA_DIR": data_dir,
                               "TORCHYARD_BROKER_URL": "memory://"})
            results = run(url, args)
    finally:
        _drop_pg_database(name)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


def run(url: str, args: argparse.Namespace) -> dict[str, Any]:
    from server.core.db import get_engine, get_sessionmaker
    from server.core.security import hash_token, new_token
    from server.migrate import upgrade

    upgrade(url)
    token = new_token()
    with get_sessionmaker()() as session:
        job_id = make_job(session, token_hash=hash_token(token), status="running", attempts=1).id
    results = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                           "load_avg_1m_at_start": round(os.getloadavg()[0], 2)},
               "ingest": ingest(job_id, args.points, args.batch),
               "read_series": read(job_id, token, args.reads)}
    get_engine().dispose()
    return results


if __name__ == "__main__":
    main()
