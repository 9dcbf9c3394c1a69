"""Submit -> first `train_loss` point visible over the API, with a warm worker (Postgres + Redis).

Run from the repository root: `python -m bench.latency [--jobs 20]`. Prints p50/p95 and saves
bench/results/latency.json. Starts its own API and worker processes on a database of its own.
"""

import argparse
import json
import os
import platform
import statistics
import time
import uuid
from pathlib import Path
from tempfile import TemporaryDirectory

from tests.conftest import REDIS_URL, _create_pg_database, _drop_pg_database
from tests.stack import Stack, wait_until

RESULTS = Path(__file__).resolve().parent / "results" / "latency.json"
SPEC = {"layers": [{"type": "Linear", "out_features": 32}, {"type": "ReLU"},
                   {"type": "Linear", "out_features": 3}]}
CONFIG = {"epochs": 1, "batch_size": 16}


def first_point_latency(stack: Stack, model_id: int, dataset_id: int) -> float:
    start = time.perf_counter()
    job_id = stack.submit(model_id, dataset_id, CONFIG, name="latency")

    def visible() -> bool:
        response = stack.client.get(f"/jobs/{job_id}/metrics/train_loss")
        return response.status_code == 200 and response.json()["total_points"] > 0

    wait_until(visible, 60, f"job {job_id}'s first train_loss point", every_s=0.01)
    elapsed = time.perf_counter() - start
    stack.wait_job(job_id, {"succeeded"})
    return elapsed


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=20)
    args = parser.parse_args()
    name, url = _create_pg_database()
    with TemporaryDirectory() as tmp:
        stack = Stack(database_url=url, broker_url=f"{REDIS_URL}/15", data_dir=Path(tmp) / "data",
                      queue=f"torchyard-bench-{uuid.uuid4().hex[:8]}", log_dir=Path(tmp) / "logs")
        try:
            stack.start()
            dataset_id = int(stack.post("/datasets/builtin", json={"name": "iris"})["id"])
            model_id = int(stack.post("/models", json={"name": "bench", "spec": SPEC})["id"])
            first_point_latency(stack, model_id, dataset_id)  # warm-up: imports, caches, connections
            latencies = [first_point_latency(stack, model_id, dataset_id) for _ in range(args.jobs)]
        finally:
            stack.stop()
            _drop_pg_database(name)
    result = {
        "benchmark": "submit -> first train_loss point visible over the API (warm worker)",
        "jobs": args.jobs, "p50_s": round(statistics.median(latencies), 3),
        "p95_s": round(percentile(latencies, 95), 3), "max_s": round(max(latencies), 3),
        "samples_s": [round(v, 3) for v in latencies], "broker": "redis", "database": "postgres",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"submit -> first point: p50 {result['p50_s']} s, p95 {result['p95_s']} s over {args.jobs} jobs "
          f"(saved to {RESULTS})")


if __name__ == "__main__":
    main()
