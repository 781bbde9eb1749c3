"""`configtrail demo`: deterministic, idempotent, realistic journeys whose rollups match their rows."""

from __future__ import annotations

import asyncio
import io
import os
import random
import sys
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson
import pytest

from configtrail import demo
from tests.conftest import TABLES, Servers

REFERENCE = datetime(2025, 6, 1, 12, tzinfo=UTC)
SESSIONS = 200

# every column but created_at (the insert time): what a run stores
_CONTENTS = {
    "user_sessions": """SELECT session_id, started_at, last_seen_at, ended_at, end_reason, user_agent,
        device_type, viewport_width, viewport_height, referrer, landing_page, locale, status,
        interaction_count, snapshot_count, last_interaction_at, last_category, last_element_id,
        latest_snapshot_at, latest_configuration, latest_total_price_minor, latest_currency,
        completion_percentage FROM user_sessions ORDER BY session_id""",
    "interaction_events": "SELECT * FROM interaction_events ORDER BY event_id",
    "configuration_snapshots": "SELECT * FROM configuration_snapshots ORDER BY snapshot_id",
}


async def contents(pool: asyncpg.Pool) -> dict[str, list[tuple[Any, ...]]]:
    return {table: [tuple(row) for row in await pool.fetch(query)] for table, query in _CONTENTS.items()}


async def truncate(pool: asyncpg.Pool) -> None:
    await pool.execute(f"TRUNCATE {', '.join(TABLES)} CASCADE")


async def test_same_seed_gives_the_same_rows_and_a_rerun_adds_none(
    servers: Servers, pg_pool: asyncpg.Pool, clean: None
) -> None:
    first = await demo.generate(servers.dsn, SESSIONS, 7, 30, REFERENCE, None)
    assert first.sessions == SESSIONS
    assert first.inserted_interactions == first.interactions > 0
    assert first.inserted_snapshots == first.snapshots > 0
    stored = await contents(pg_pool)
    assert len(stored["user_sessions"]) == SESSIONS
    assert len(stored["interaction_events"]) == first.interactions
    assert len(stored["configuration_snapshots"]) == first.snapshots

    again = await demo.generate(servers.dsn, SESSIONS, 7, 30, REFERENCE, None)
    assert (again.inserted_interactions, again.inserted_snapshots) == (0, 0)
    assert (again.interactions, again.snapshots) == (first.interactions, first.snapshots)
    assert await contents(pg_pool) == stored, "a rerun changed what is stored"

    await truncate(pg_pool)
    seen: list[tuple[int, int]] = []
    await demo.generate(
        servers.dsn, SESSIONS, 7, 30, REFERENCE, lambda done, total: seen.append((done, total))
    )
    assert await contents(pg_pool) == stored, "the same seed wrote different rows into an empty database"
    assert seen[-1] == (SESSIONS, SESSIONS)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)

    await truncate(pg_pool)
    await demo.generate(servers.dsn, SESSIONS, 8, 30, REFERENCE, None)
    other = await contents(pg_pool)
    assert other != stored
    assert not {row[0] for row in other["user_sessions"]} & {row[0] for row in stored["user_sessions"]}


async def test_more_sessions_of_a_seed_extend_the_fewer(
    servers: Servers, pg_pool: asyncpg.Pool, clean: None
) -> None:
    await demo.generate(servers.dsn, 40, 5, 30, REFERENCE, None)
    fewer = await contents(pg_pool)
    more = await demo.generate(servers.dsn, 60, 5, 30, REFERENCE, None)
    assert more.inserted_interactions == more.interactions - len(fewer["interaction_events"])
    extended = await contents(pg_pool)
    assert set(fewer["interaction_events"]) <= set(extended["interaction_events"])
    assert len(extended["user_sessions"]) == 60


@pytest.fixture
async def generated(servers: Servers, pg_pool: asyncpg.Pool, clean: None) -> demo.DemoSummary:
    return await demo.generate(servers.dsn, SESSIONS, 11, 30, REFERENCE, None)


async def test_rollups_match_the_rows(pg_pool: asyncpg.Pool, generated: demo.DemoSummary) -> None:
    wrong_counts = await pg_pool.fetch(
        """SELECT s.session_id FROM user_sessions s
           WHERE s.interaction_count <> (SELECT count(*) FROM interaction_events e
                                         WHERE e.session_id = s.session_id)
              OR s.snapshot_count <> (SELECT count(*) FROM configuration_snapshots c
                                      WHERE c.session_id = s.session_id)"""
    )
    assert wrong_counts == []
    latest = await pg_pool.fetch(
        """SELECT s.session_id, s.latest_total_price_minor, s.latest_configuration, s.completion_percentage,
                  s.latest_snapshot_at, c.total_price_minor, c.configuration, c.completion_percentage AS pct,
                  c.occurred_at
           FROM user_sessions s
           JOIN LATERAL (SELECT * FROM configuration_snapshots c WHERE c.session_id = s.session_id
                         ORDER BY occurred_at DESC LIMIT 1) c ON true"""
    )
    assert latest, "no session has a snapshot"
    for row in latest:
        assert row["latest_total_price_minor"] == row["total_price_minor"]
        assert row["latest_configuration"] == row["configuration"]
        assert row["completion_percentage"] == row["pct"]
        assert row["latest_snapshot_at"] == row["occurred_at"]
    last_interactions = await pg_pool.fetch(
        """SELECT s.session_id FROM user_sessions s
           JOIN LATERAL (SELECT * FROM interaction_events e WHERE e.session_id = s.session_id
                         ORDER BY occurred_at DESC LIMIT 1) e ON true
           WHERE s.last_interaction_at <> e.occurred_at OR s.last_category <> e.category
              OR s.last_element_id <> e.element_id"""
    )
    assert last_interactions == []


async def test_prices_and_completion_follow_the_configuration(
    pg_pool: asyncpg.Pool, generated: demo.DemoSummary
) -> None:
    rows = await pg_pool.fetch(
        """SELECT configuration, total_price_minor, currency, completion_percentage
           FROM configuration_snapshots"""
    )
    assert len(rows) == generated.snapshots
    for row in rows:
        configuration = orjson.loads(row["configuration"])
        assert set(configuration) <= set(demo.CATEGORIES)
        assert row["total_price_minor"] == demo.price_minor(configuration)
        assert row["currency"] == "EUR"
        assert row["completion_percentage"] == pytest.approx(100 * len(configuration) / len(demo.CATEGORIES))
    prices = {row["total_price_minor"] for row in rows}
    assert len(prices) > 20, "prices hardly vary"


async def test_journeys_are_realistic(pg_pool: asyncpg.Pool, generated: demo.DemoSummary) -> None:
    categories = {
        row["category"] for row in await pg_pool.fetch("SELECT DISTINCT category FROM interaction_events")
    }
    assert categories == set(demo.CATEGORIES)
    types = {
        row["event_type"] for row in await pg_pool.fetch("SELECT DISTINCT event_type FROM interaction_events")
    }
    assert {"hover", "selection", "click", "scroll"} <= types

    statuses: dict[str, int] = {
        row[0]: row[1]
        for row in await pg_pool.fetch("SELECT status, count(*) FROM user_sessions GROUP BY status")
    }
    assert statuses.get("ordered", 0) > 0
    assert statuses.get("abandoned", 0) > 0
    assert set(statuses) <= {"ordered", "abandoned"}, "sessions from a month ago are not still active"
    ends: dict[str, int] = {
        row[0]: row[1]
        for row in await pg_pool.fetch(
            "SELECT coalesce(end_reason, 'none'), count(*) FROM user_sessions GROUP BY 1"
        )
    }
    assert ends.get("order", 0) == statuses["ordered"] == generated.orders
    assert ends.get("page_exit", 0) == generated.page_exits > 0
    assert ends.get("none", 0) > 0, "no visitor just closed the tab"
    order_snapshots = await pg_pool.fetchval(
        "SELECT count(DISTINCT session_id) FROM configuration_snapshots WHERE trigger = 'order_attempt'"
    )
    assert order_snapshots == generated.orders
    midway = await pg_pool.fetchval(
        "SELECT count(*) FROM user_sessions WHERE coalesce(completion_percentage, 0) < 100"
    )
    assert midway > 0
    assert generated.abandoned_midway > 0
    hesitations = await pg_pool.fetchval(
        "SELECT count(*) FROM interaction_events WHERE event_type = 'selection' AND previous_value <> ''"
    )
    assert hesitations > 0

    per_session = generated.interactions / generated.sessions
    assert 30 < per_session < 70, per_session

    devices = await pg_pool.fetch(
        """SELECT device_type, min(viewport_width) AS narrowest, max(viewport_width) AS widest
           FROM user_sessions GROUP BY device_type"""
    )
    widths = {row["device_type"]: (row["narrowest"], row["widest"]) for row in devices}
    assert set(widths) == {"desktop", "tablet", "mobile"}
    assert widths["mobile"][1] < widths["tablet"][0] <= widths["tablet"][1] < widths["desktop"][0]
    mismatched = await pg_pool.fetchval(
        """SELECT count(*) FROM interaction_events e JOIN user_sessions s USING (session_id)
           WHERE e.device_type <> s.device_type OR e.viewport_width <> s.viewport_width"""
    )
    assert mismatched == 0


async def test_sequences_and_times(pg_pool: asyncpg.Pool, generated: demo.DemoSummary) -> None:
    broken = await pg_pool.fetch(
        """SELECT session_id FROM (
               SELECT session_id, sequence,
                      row_number() OVER (PARTITION BY session_id ORDER BY occurred_at, sequence) AS position
               FROM interaction_events) e
           WHERE sequence IS DISTINCT FROM position"""
    )
    assert broken == [], "sequence numbers are not 1..n in time order"
    bounds = await pg_pool.fetchrow(
        """SELECT min(occurred_at) AS first, max(occurred_at) AS last, min(received_at - occurred_at) AS lag,
                  min(time_spent_ms) AS spent
           FROM interaction_events"""
    )
    assert bounds is not None
    assert REFERENCE - timedelta(days=30) <= bounds["first"]
    assert bounds["last"] < REFERENCE
    assert bounds["lag"] > timedelta(0)
    assert bounds["spent"] > 0
    starts = await pg_pool.fetchrow(
        "SELECT min(started_at) AS first, max(started_at) AS last FROM user_sessions"
    )
    assert starts is not None
    assert starts["last"] - starts["first"] > timedelta(days=25), "sessions are not spread over the days"


async def test_the_cli_writes_demo_data(servers: Servers, pg_pool: asyncpg.Pool, clean: None) -> None:
    env = {**os.environ, "CONFIGTRAIL_DATABASE_URL": servers.dsn}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "configtrail",
        "demo",
        "--sessions",
        "50",
        "--seed",
        "3",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    assert "50 sessions of seed 3" in out.decode()
    assert "50/50 sessions" in err.decode(), "no progress bar"
    row = await pg_pool.fetchrow("SELECT count(*) AS n, min(started_at) AS first FROM user_sessions")
    assert row is not None
    assert row["n"] == 50
    # --days 30 before the current hour
    assert row["first"] > datetime.now(UTC) - timedelta(days=31)


def test_ids_are_version_4_uuids_of_the_drawn_bits() -> None:
    rng = random.Random(3)
    for _ in range(1000):
        bits = rng.getrandbits(128)
        assert demo.uuid4_from(bits) == str(uuid.UUID(int=bits, version=4))


def test_the_progress_bar_writes_a_line_per_tenth_off_a_terminal() -> None:
    stream = io.StringIO()
    bar = demo.ProgressBar(stream)
    for done in range(0, 1001, 50):
        bar(done, 1000)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 11
    assert lines[-1].startswith("[" + "#" * 32 + "] 1,000/1,000 sessions")
    assert lines[-1].endswith("done")
