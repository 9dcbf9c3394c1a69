"""Knows when an event stream of some jobs is complete: every job has reached a final status."""

from collections.abc import Callable

from client.schemas import TERMINAL_STATUSES, Event, Job


class JobWatch:
    """Tracks the final `status` events seen; at a stream's end (or a quiet spell) asks the server
    for the jobs not seen finishing, so a final status that came before a live start is not missed."""

    def __init__(self, get_job: Callable[[int], Job], job_ids: list[int]) -> None:
        self._get_job = get_job
        self._pending = set(job_ids)

    def observe(self, event: Event) -> None:
        data = event.data
        if event.event == "status" and isinstance(data, dict) and data.get("status") in TERMINAL_STATUSES:
            self._pending.discard(event.data.get("id", -1))

    def finish(self) -> list[Event] | None:
        """None while a job is still live; else the final status events the stream did not carry."""
        jobs = [self._get_job(job_id) for job_id in sorted(self._pending)]
        if any(job.get("status") not in TERMINAL_STATUSES for job in jobs):
            return None
        self._pending.clear()
        return [Event(id=None, event="status", data=job) for job in jobs]
