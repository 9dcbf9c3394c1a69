"""The SSE line parser and the stream's bounded reconnect window."""

import contextlib
from collections.abc import Iterator

import httpx
import pytest

from client import Event, EventStream, SSEParser, Unreachable


def _feed(lines: list[str]) -> list[Event]:
    parser = SSEParser()
    return [event for line in lines if (event := parser.feed(line)) is not None]


def test_feed_parses_id_event_and_json_data() -> None:
    events = _feed(["id: 7", "event: metric", 'data: [{"name":"train_loss","step":1,"value":0.5}]', ""])
    assert events == [Event(id="7", event="metric", data=[{"name": "train_loss", "step": 1, "value": 0.5}])]


def test_feed_ignores_comments_and_keeps_last_id() -> None:
    events = _feed([": ping", "", "id: 3", "event: log", 'data: {"line":"a"}', "", "event: log",
                    'data: {"line":"b"}', ""])
    assert [(e.id, e.data["line"]) for e in events] == [("3", "a"), ("3", "b")]


def test_feed_joins_multiline_data_and_defaults_event_name() -> None:
    assert _feed(["data: {", 'data: "x": 1}', ""]) == [Event(id=None, event="message", data={"x": 1})]


def test_feed_value_without_space_and_non_json_data() -> None:
    assert _feed(["event:status", "data:hello", ""]) == [Event(id=None, event="status", data="hello")]


def test_stream_gives_up_after_reconnect_window() -> None:
    attempts: list[str | None] = []

    @contextlib.contextmanager
    def refuse(last_id: str | None) -> Iterator[httpx.Response]:
        attempts.append(last_id)
        raise httpx.ConnectError("refused")
        yield  # pragma: no cover

    stream = EventStream(refuse, lambda: None, after="41", reconnect_timeout_s=0.5, max_backoff_s=0.05)
    with pytest.raises(Unreachable, match="not back after"):
        list(stream)
    assert len(attempts) >= 2
    assert set(attempts) == {"41"}  # every retry resumes after the last event seen
