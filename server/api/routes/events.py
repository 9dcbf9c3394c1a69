"""Server-Sent Events of one job or several, read from the events table (the source of truth).

Each poll opens and closes its own session, so an idle or dropped stream holds no connection.
Ids: the single-job stream uses the event id; the multiplexed stream uses per-job cursors
("12:340,13:355") because ids of different jobs commit out of order, and a single global cursor
could skip an event that committed late. Either id resumes without gaps via Last-Event-ID.
A finished job's stream ends after its final `status`; with no cursor it sends just that event. Once
a cursor is at or past it there is nothing left: the stream carries only a one-day `retry:`, so an
EventSource stops hammering while plain HTTP/SSE clients still get a normal, empty 200 stream.
"""

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.sse import EventSourceResponse, ServerSentEvent
from redis import asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy import select

from server.api.deps import MAX_ID, BearerDep, find_job, user_for_token
from server.api.errors import Invalid
from server.core.config import get_settings
from server.core.db import get_sessionmaker
from server.store.events import CHANNEL_PREFIX, events_after_raw, last_event_id
from server.store.models import Job

router = APIRouter(tags=["events"])
POLL_S = 0.15
BATCH = 200  # events per job per poll (a metric event can carry thousands of points)
MAX_JOBS = 50
MAX_EVENT_ID = 2**63 - 1  # events.id is a BIGINT: a cursor past it would fail the query mid-stream
FINISHED = ("succeeded", "failed", "cancelled")
TokenQuery = Annotated[str | None, Query(description="the token, for EventSource (no headers)")]
AfterQuery = Annotated[str | None, Query(max_length=2000, description="resume after this event id")]
# An EventSource reconnects after a stream ends; with nothing left to send, tell it to wait a day.
NOTHING_LEFT_RETRY_MS = 24 * 3600 * 1000
LastEventId = Annotated[str | None, Header(alias="Last-Event-ID", max_length=2000)]


@dataclass
class Plan:
    job_ids: list[int]
    start: dict[int, int]  # per job: stream the events after this id
    done: set[int]  # finished jobs with nothing left to send


def _plan(creds: BearerDep, access_token: str | None, job_ids: list[int], resume: str | None) -> Plan:
    """Authorize and parse the cursor before the response starts, so errors are real 401/404/422."""
    with get_sessionmaker()() as session:
        user = user_for_token(session, creds.credentials if creds else access_token)
        for job_id in job_ids:
            find_job(session, user, job_id)
        cursor = parse_cursor(resume, job_ids)
        # Live cursors are read before the statuses: a job finishing in between is seen finished.
        live = {j: last_event_id(session, j) for j in job_ids} if cursor is None else {}
        found = session.execute(select(Job.id, Job.status).where(Job.id.in_(job_ids)))
        finals = {j: last_event_id(session, j, "status") for j, status in found if status in FINISHED}
    return _starts(job_ids, live if cursor is None else cursor, cursor is None, finals)


def _starts(job_ids: list[int], cursors: dict[int, int], live: bool, finals: dict[int, int]) -> Plan:
    """Where each job's stream starts; finals: the id of each finished job's final status (0: none)."""
    plan = Plan(job_ids, {}, set())
    for j in job_ids:
        final = finals.get(j)
        # With no cursor, a finished job replays its final status, so a live viewer learns of it.
        plan.start[j] = max(final - 1, 0) if live and final is not None else cursors[j]
        if final is not None and (final == 0 or plan.start[j] >= final):
            plan.done.add(j)
    return plan


def one_job(job_id: Annotated[int, Path(ge=1, le=MAX_ID)], creds: BearerDep, access_token: TokenQuery = None,
            after: AfterQuery = None, last_event: LastEventId = None) -> Plan:
    return _plan(creds, access_token, [job_id], last_event or after)


def many_jobs(job: Annotated[list[int], Query(description=f"up to {MAX_JOBS} job ids")], creds: BearerDep,
              access_token: TokenQuery = None, after: AfterQuery = None,
              last_event: LastEventId = None) -> Plan:
    ids = sorted(set(job))
    if not 1 <= len(ids) <= MAX_JOBS:
        raise Invalid(["query", "job"], f"give between 1 and {MAX_JOBS} job ids (?job=ID&job=ID...), "
                      f"not {len(ids)}")
    if not all(1 <= i <= MAX_ID for i in ids):
        raise Invalid(["query", "job"], f"job ids are between 1 and {MAX_ID}")
    return _plan(creds, access_token, ids, last_event or after)


def parse_cursor(raw: str | None, job_ids: list[int]) -> dict[int, int] | None:
    """Last-Event-ID / ?after= -> per-job cursors; None means start live."""
    if raw is None or not raw.strip():
        return None
    try:
        given = ({j: int(raw) for j in job_ids} if ":" not in raw
                 else {int(j): int(e) for j, e in (part.split(":", 1) for part in raw.split(","))})
    except ValueError as exc:
        raise HTTPException(422, f"event id {raw[:100]!r} is not one this server sent") from exc
    if any(abs(e) > MAX_EVENT_ID for e in given.values()):
        raise HTTPException(422, f"event id {raw[:100]!r} is not one this server sent")
    default = min(given.values(), default=0)
    return {j: given.get(j, default) for j in job_ids}


def _poll(cursors: dict[int, int]) -> tuple[list[tuple[int, int, str, str]], dict[int, tuple[str, bool]]]:
    """New events per job, and per job (status, drained) — status read first so a finished job's
    final event is already visible to the events query that follows."""
    with get_sessionmaker()() as session:
        found = session.execute(select(Job.id, Job.status).where(Job.id.in_(list(cursors))))
        statuses = {r[0]: r[1] for r in found}
        rows: list[tuple[int, int, str, str]] = []
        state: dict[int, tuple[str, bool]] = {}
        for job_id, after in cursors.items():
            batch = events_after_raw(session, job_id, after, BATCH)
            rows += batch
            state[job_id] = (statuses.get(job_id, "missing"), len(batch) < BATCH)
    return sorted(rows), state


def _is_final(kind: str, data: str) -> bool:
    if kind != "status":
        return False
    job = json.loads(data)
    return isinstance(job, dict) and job.get("status") in FINISHED


def _event_id(cursors: dict[int, int], multiplexed: bool, event_id: int) -> str:
    if not multiplexed:
        return str(event_id)
    return ",".join(f"{j}:{e}" for j, e in sorted(cursors.items()))


class Wakeups:
    """Waits up to POLL_S between polls, sooner when events.publish() announces a job's new events
    over Redis; without Redis (or if it fails) it is a plain timer. The table stays the source of truth."""

    def __init__(self, job_ids: list[int]) -> None:
        self.channels = [f"{CHANNEL_PREFIX}{j}" for j in job_ids]
        self.pubsub: Any = None

    async def __aenter__(self) -> "Wakeups":
        url = get_settings().broker_url
        if url.startswith(("redis://", "rediss://")):
            try:
                self.pubsub = aioredis.Redis.from_url(url, socket_connect_timeout=1).pubsub()
                await self.pubsub.subscribe(*self.channels)
            except (RedisError, OSError):
                self.pubsub = None
        return self

    async def wait(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + POLL_S
        while self.pubsub is not None and (left := deadline - loop.time()) > 0:
            try:
                # None also comes back early, on subscribe confirmations: then listen on.
                if await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=left):
                    return  # a job announced new events
            except (RedisError, OSError, RuntimeError):  # RuntimeError: the subscription was lost
                self.pubsub = None
        await asyncio.sleep(max(0.0, deadline - loop.time()))

    async def __aexit__(self, *_: object) -> None:
        if self.pubsub is not None:
            await self.pubsub.aclose()


async def stream(request: Request, plan: Plan, multiplexed: bool) -> AsyncIterator[ServerSentEvent]:
    if plan.done == set(plan.job_ids):
        yield ServerSentEvent(retry=NOTHING_LEFT_RETRY_MS, comment="every job has finished: nothing left")
        return
    async with Wakeups(plan.job_ids) as wakeups:
        async for event in _events(request, plan, multiplexed, wakeups):
            yield event


async def _events(request: Request, plan: Plan, multiplexed: bool,
                  wakeups: Wakeups) -> AsyncIterator[ServerSentEvent]:
    cursors = dict(plan.start)
    pending = set(plan.job_ids) - plan.done
    while pending and not await request.is_disconnected():
        rows, state = await run_in_threadpool(_poll, {j: cursors[j] for j in sorted(pending)})
        for event_id, job_id, kind, data in rows:
            if job_id not in pending:
                continue  # a job's events after its final status in the same batch: its stream is over
            cursors[job_id] = event_id
            # The stored compact JSON goes out as is: one line, no parse of big metric batches.
            yield ServerSentEvent(raw_data=data, event=kind, id=_event_id(cursors, multiplexed, event_id))
            if _is_final(kind, data):
                pending.discard(job_id)
        pending -= {j for j, (status, drained) in state.items() if status in FINISHED and drained}
        pending -= {j for j, (status, _) in state.items() if status == "missing"}
        if not rows:
            await wakeups.wait()


@router.get("/jobs/{job_id}/events", response_class=EventSourceResponse)
async def job_events(request: Request, plan: Annotated[Plan, Depends(one_job)]
                     ) -> AsyncIterator[ServerSentEvent]:
    """`metric`, `status` and `log` events; resumes after Last-Event-ID (or ?after=), else live.
    Ends after a finished job's final `status` event. Also takes ?access_token=."""
    async for event in stream(request, plan, multiplexed=False):
        yield event


@router.get("/events", response_class=EventSourceResponse)
async def many_events(request: Request, plan: Annotated[Plan, Depends(many_jobs)]
                      ) -> AsyncIterator[ServerSentEvent]:
    """The same for several jobs (?job=1&job=2) in one stream; ends when all have finished."""
    async for event in stream(request, plan, multiplexed=True):
        yield event
