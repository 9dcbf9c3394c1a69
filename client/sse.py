"""Server-Sent Events: a line parser and a stream that reconnects with Last-Event-ID."""

import json
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import AbstractContextManager

import httpx

from client.errors import ServerError, Unreachable
from client.schemas import Event

# Opens the stream resuming after the given event id (None: live) and returns the streaming response.
Opener = Callable[[str | None], AbstractContextManager[httpx.Response]]
# Called when the stream ended or went idle: the events to yield before stopping, or None to go on.
Finisher = Callable[[], list[Event] | None]


class SSEParser:
    """Incremental parser of the text/event-stream format, fed one line at a time."""

    def __init__(self) -> None:
        self._event = "message"
        self._data: list[str] = []
        self.last_id: str | None = None

    def feed(self, line: str) -> Event | None:
        """Consume one line (without its newline); return an Event when a blank line completes one."""
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None  # a comment: keep-alive
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            self._event = value
        elif field == "data":
            self._data.append(value)
        elif field == "id" and "\0" not in value:
            self.last_id = value
        return None

    def _dispatch(self) -> Event | None:
        data, event = self._data, self._event
        self._data, self._event = [], "message"
        if not data:
            return None
        text = "\n".join(data)
        try:
            payload = json.loads(text)
        except ValueError:
            payload = text  # the contract promises JSON; keep odd payloads readable instead of failing
        return Event(id=self.last_id, event=event, data=payload)


class EventStream:
    """Iterates events across reconnects: after a dropped connection, a 5xx or a clean end that
    `finish` does not accept, it reconnects with Last-Event-ID, backing off up to `max_backoff_s`,
    and gives up with Unreachable once it has failed for `reconnect_timeout_s` in a row."""

    def __init__(
        self,
        opener: Opener,
        finish: Finisher,
        *,
        observe: Callable[[Event], None] | None = None,
        after: str | None = None,
        reconnect_timeout_s: float = 60.0,
        idle_check_s: float = 15.0,
        max_backoff_s: float = 5.0,
    ) -> None:
        self._open, self._finish, self._observe = opener, finish, observe
        self.last_id = after
        self.reconnect_timeout_s = reconnect_timeout_s
        self.idle_check_s = idle_check_s
        self.max_backoff_s = max_backoff_s
        self.reconnects = 0

    def __iter__(self) -> Iterator[Event]:
        failing_since: float | None = None
        backoff = 0.1
        while True:
            try:
                connected = False
                with self._open(self.last_id) as response:
                    connected, failing_since, backoff = True, None, 0.1
                    finished = yield from self._read(response)
                if finished is not None:
                    yield from finished
                    return
            except (httpx.TransportError, ServerError, Unreachable) as exc:
                if not connected or failing_since is not None:
                    failing_since = failing_since or time.monotonic()
                    if time.monotonic() - failing_since > self.reconnect_timeout_s:
                        raise Unreachable(f"event stream lost and not back after "
                                          f"{self.reconnect_timeout_s:.0f} s: {exc}") from exc
            self.reconnects += 1
            time.sleep(backoff)  # backoff between reconnects, not test synchronisation
            backoff = min(backoff * 2, self.max_backoff_s)

    def _read(self, response: httpx.Response) -> Generator[Event, None, list[Event] | None]:
        """Yield the events of one connection; return the final events once `finish` accepts the end."""
        parser = SSEParser()
        parser.last_id = self.last_id
        quiet_since = time.monotonic()
        try:
            for line in response.iter_lines():
                event = parser.feed(line)
                if event is not None:
                    self.last_id = event.id or self.last_id
                    quiet_since = time.monotonic()
                    if self._observe is not None:
                        self._observe(event)
                    yield event
                elif time.monotonic() - quiet_since > self.idle_check_s:
                    # Keep-alives only for a while: make sure the end was not missed (e.g. a live start).
                    finished = self._finish()
                    if finished is not None:
                        return finished
                    quiet_since = time.monotonic()
        except httpx.ReadTimeout:
            pass  # silent for a whole read timeout: check the end below, then resume where we were
        return self._finish()
