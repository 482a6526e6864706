"""The event stream on the wire: what the server writes, what the client reads back, what a
stream's filter lets through."""

from __future__ import annotations

import pytest

from laneyard.client.events import Reader, query
from laneyard.services.admission.events import sse
from laneyard.services.admission.events.filters import EventFilter
from laneyard.services.admission.grants import Grant
from laneyard.shared.states import JobState
from laneyard.shared.views.events import Event, event_view

DOC = {"_id": 7, "job_id": "j1", "task": "t", "lane": "main", "cluster": "default", "labels": {"team": "a"},
       "state": "RUNNING", "attempt": 1, "runner": "r1", "reason": None, "progress": 0.25,
       "at": 1_800_000_000.5}  # fmt: skip


def read(raw: bytes, reader: Reader | None = None) -> tuple[list[Event], Reader]:
    reader = reader or Reader()
    found = [reader.line(line) for line in raw.decode().split("\n")]
    return [e for e in found if e is not None], reader


def test_what_the_server_writes_the_client_reads_back() -> None:
    event = event_view(DOC)
    raw = sse.retry(2000) + sse.comment("keep-alive") + sse.message(event.model_dump_json(), event_id=7)
    events, reader = read(raw)
    assert events == [event] and reader.last_id == 7 and reader.retry_ms == 2000
    assert events[0].state is JobState.RUNNING and events[0].id == "j1"


def test_a_position_moves_the_resume_point_without_an_event_and_a_reset_is_no_event() -> None:
    events, reader = read(sse.position(12) + sse.message('{"after": 20}', event_id=20, event="reset"))
    assert events == [] and reader.last_id == 20


def test_data_on_several_lines_and_the_last_event_id() -> None:
    assert sse.message("a\nb", event_id=3, event="x") == b"id: 3\nevent: x\ndata: a\ndata: b\n\n"
    assert sse.parse_last_event_id(None) is None and sse.parse_last_event_id(" 42 ") == 42
    for bad in ("-1", "4x", "1" * 19, "٣"):
        with pytest.raises(ValueError, match="Last-Event-ID"):
            sse.parse_last_event_id(bad)


def test_a_stream_carries_only_what_its_grant_covers_and_its_filters_ask_for() -> None:
    everyone = Grant(frozenset({"read"}))
    assert EventFilter(everyone).matches(DOC)
    assert not EventFilter(Grant(frozenset({"read"}), lanes=frozenset({"reports"}))).matches(DOC)
    assert EventFilter(everyone, lanes=frozenset({"main"}), tasks=frozenset({"t"})).matches(DOC)
    assert not EventFilter(everyone, clusters=frozenset({"gpu"})).matches(DOC)
    assert not EventFilter(everyone, job_ids=frozenset({"j2"})).matches(DOC)
    assert EventFilter(everyone, labels={"team": "a"}).matches(DOC)
    assert not EventFilter(everyone, labels={"team": "b"}).matches(DOC)
    limited = EventFilter(Grant(frozenset({"read"}), lanes=frozenset({"reports"})), lanes=frozenset({"main"}))
    assert limited.refusal() is not None


def test_the_clients_query() -> None:
    assert query(lane="main", task=["a", "b"], labels={"k": "v"}, follow=False) == [
        ("lane", "main"), ("task", "a"), ("task", "b"), ("label", "k:v"), ("follow", "false"),
    ]  # fmt: skip
