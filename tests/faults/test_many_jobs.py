"""200 jobs submitted at once to 2 workers: every one runs exactly once and succeeds."""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.faults.harness import IRIS_MLP, builtin, db_rows, private_stack, spec_model
from tests.stack import Stack, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

JOBS = 200
TINY = {"epochs": 1, "batch_size": 32, "max_steps": 2, "val_fraction": 0.2}


def finished_count(stack: Stack) -> int:
    rows = db_rows(stack.env["TORCHYARD_DATABASE_URL"],
                   "SELECT count(*) FROM jobs WHERE status IN ('succeeded', 'failed', 'cancelled')")
    return int(rows[0][0])


def test_submit_200_jobs_at_once_each_runs_exactly_once(redis_url: str, tmp_path: Path,
                                                        artifacts_dir: Path) -> None:
    with private_stack(tmp_path, artifacts_dir, broker_url=redis_url, workers=2) as stack:
        iris, model = builtin(stack, "iris"), spec_model(stack, IRIS_MLP)
        with ThreadPoolExecutor(max_workers=8) as pool:
            ids = list(pool.map(lambda i: stack.submit(model, iris, TINY, name=f"burst-{i}"), range(JOBS)))
        assert len(set(ids)) == JOBS
        wait_until(lambda: finished_count(stack) == JOBS, 300, f"all {JOBS} jobs to finish", every_s=1)
        rows = db_rows(stack.env["TORCHYARD_DATABASE_URL"],
                       "SELECT id, status, attempts, restarts, progress, worker FROM jobs ORDER BY id")
        assert [r[0] for r in rows] == sorted(ids)
        assert {r[1] for r in rows} == {"succeeded"}, [r for r in rows if r[1] != "succeeded"][:3]
        assert {(r[2], r[3]) for r in rows} == {(1, 0)}  # claimed once, never requeued
        assert {r[4]["step"] for r in rows} == {2}
        assert len({r[5] for r in rows}) == 2, "both workers should have taken jobs"
        points = db_rows(stack.env["TORCHYARD_DATABASE_URL"],
                         "SELECT count(*) FROM metric_points WHERE name = 'train_loss'")
        assert points[0][0] == 2 * JOBS
