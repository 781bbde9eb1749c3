"""How a Sync worker splits a batch among its concurrent write transactions."""

from __future__ import annotations

import pydantic
import pytest

from configtrail import streams
from configtrail.common.v1 import events_pb2
from configtrail.settings import SyncSettings
from services.sync.worker import Entry, split_by_session


def _interaction(n: int, session_id: str) -> Entry:
    record = events_pb2.StreamRecord(
        interaction=events_pb2.InteractionEvent(
            event_id=f"00000000-0000-4000-8000-{n:012d}", session_id=session_id
        )
    )
    return ("configtrail:events:{s0}", f"1-{n}", streams.encode(record))


def _snapshot(n: int, session_id: str) -> Entry:
    record = events_pb2.StreamRecord(
        snapshot=events_pb2.ConfigurationSnapshot(
            snapshot_id=f"00000000-0000-4000-9000-{n:012d}", session_id=session_id
        )
    )
    return ("configtrail:events:{s0}", f"1-{n}", streams.encode(record))


def _sessions_of(part: list[Entry]) -> set[str | None]:
    return {streams.payload_session(payload) for _, _, payload in part if payload is not None}


def test_a_sessions_records_stay_together_and_in_stream_order() -> None:
    entries = [(_interaction if n % 3 else _snapshot)(n, f"session-{n % 40}") for n in range(600)]

    parts = split_by_session(entries, 2)

    assert len(parts) == 2
    # every entry in exactly one part, each part in stream order
    assert sorted(e[1] for part, _ in parts for e in part) == sorted(e[1] for e in entries)
    for part, _ in parts:
        assert part == [e for e in entries if e in part]
    # no session in two parts, and both parts carry sessions
    first, second = (_sessions_of(part) for part, _ in parts)
    assert first
    assert second
    assert not first & second
    # the prepared records are those of the part's entries
    for part, (prepared, poison) in parts:
        assert poison == []
        assert len(prepared) == len(part)


def test_poison_and_deleted_entries_go_with_the_first_part() -> None:
    good = [_interaction(n, f"session-{n}") for n in range(50)]
    poison: Entry = ("configtrail:events:{s0}", "2-0", b"\xff not a record")
    deleted: Entry = ("configtrail:events:{s0}", "2-1", None)

    parts = split_by_session([*good, poison, deleted], 3)

    first_entries, (_, first_poison) = parts[0]
    assert poison in first_entries
    assert deleted in first_entries
    assert [entry for entry, _ in first_poison] == [poison]
    assert "undecodable" in first_poison[0][1]
    assert sum(len(part) for part, _ in parts) == 52


def test_one_writer_keeps_the_batch_whole() -> None:
    entries = [_interaction(n, f"session-{n}") for n in range(20)]

    parts = split_by_session(entries, 1)

    assert [part for part, _ in parts] == [entries]


def test_writers_must_leave_a_pool_connection_free() -> None:
    with pytest.raises(pydantic.ValidationError, match="CONFIGTRAIL_SYNC_WRITERS"):
        SyncSettings(sync_writers=4, database_pool_size=4)
    assert SyncSettings(sync_writers=3, database_pool_size=4).sync_writers == 3


def test_an_undecodable_payload_names_no_session() -> None:
    # what erasure and dead-lettering meet in a stream: garbage, or a record of no kind
    assert streams.payload_session(b"\xff\xff not a record") is None
    assert streams.payload_session(b"") is None
    assert streams.payload_session(_interaction(1, "session-1")[2] or b"") == "session-1"
