"""``configtrail doctor``: the self-check of a running stack or deployment.

Checks, each reported on one line with ✓ or ✗:

1. *schema* — every migration this configtrail ships is applied, and none it does not know;
2. *ingest*, *sync*, *metrics* — the gRPC health service answers SERVING; *gateway* — ``GET /healthz``
   and ``GET /readyz`` answer 200;
3. *round trip* — a doctor event (session ``doctor-…``) sent with ``TrackInteraction``, ``Sync.Flush``,
   then the row is read from ``interaction_events``; the time it took is reported, and the doctor
   session is erased again (``Sync.EraseSession``: rows, stream entry and live state; a plain
   ``DELETE`` when that RPC is not available);
4. *ratings* — p95 per endpoint of the request-latency metrics stored in ``performance_metrics`` over
   the last hour, rated EXCELLENT < 50 ms, GOOD < 100 ms, FAIR < 200 ms, POOR otherwise (POOR fails
   the check only with ``doctor_fail_on_poor``);
5. *oldest data* — the oldest stored interaction and the retention run, for information.

The exit status is 0 when every check passed and 1 otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO
from urllib.parse import urlsplit

import asyncpg
import grpc
import orjson
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pydantic import Field
from redis.exceptions import RedisError

from configtrail import constants, db, streams
from configtrail.common.v1 import events_pb2
from configtrail.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from configtrail.settings import (
    DEFAULT_GATEWAY_PORT,
    CommonSettings,
)
from configtrail.sync.v1 import sync_pb2, sync_pb2_grpc
from configtrail.telemetry import HTTP_LATENCY_METRIC, RPC_LATENCY_METRIC

#: The metrics that time a request to an endpoint; browser web vitals are not rated by these limits.
RATED_METRICS = (RPC_LATENCY_METRIC, HTTP_LATENCY_METRIC, "interaction_tracking_time")
#: p95 limits of the efficiency ratings, in milliseconds: below the limit earns the rating.
RATINGS = ((50.0, "EXCELLENT"), (100.0, "GOOD"), (200.0, "FAIR"))
RATING_WINDOW = timedelta(hours=1)
DOCTOR_SESSION_PREFIX = "doctor-"

_NO_DATABASE = (
    "CONFIGTRAIL_DATABASE_URL is not set: point it at the deployment's Postgres "
    "(`configtrail up` prints the URL of its embedded server)"
)


class DoctorSettings(CommonSettings):
    """`configtrail doctor`: where the services of the stack or deployment to check are."""

    gateway_url: str = Field(
        default=f"http://127.0.0.1:{DEFAULT_GATEWAY_PORT}", description="Gateway base URL doctor probes."
    )
    doctor_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Longest one doctor check may take."
    )
    doctor_fail_on_poor: bool = Field(
        default=False, description="Doctor fails when an endpoint's p95 over the last hour rates POOR."
    )


@dataclass(frozen=True)
class Check:
    """The outcome of one check: its name, whether it passed, what was found."""

    name: str
    ok: bool
    detail: str
    notes: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        mark = "✓" if self.ok else "✗"
        return [f"{mark} {self.name:<12} {self.detail}", *(f"    {note}" for note in self.notes)]


@dataclass(frozen=True)
class Report:
    """Every check, in order; ``exit_status`` is what the command exits with."""

    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def exit_status(self) -> int:
        return 0 if self.ok else 1

    def check(self, name: str) -> Check:
        return next(check for check in self.checks if check.name == name)

    def lines(self) -> list[str]:
        return [line for check in self.checks for line in check.lines()]


def rating(p95_ms: float) -> str:
    for limit, name in RATINGS:
        if p95_ms < limit:
            return name
    return "POOR"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


async def _guarded(name: str, timeout: float, run: Callable[[], Awaitable[Check]]) -> Check:
    """Run one check within ``timeout``; whatever goes wrong becomes a failed check, never a traceback."""
    try:
        return await asyncio.wait_for(run(), timeout)
    except TimeoutError:
        return Check(name, False, f"no answer within {timeout:g} s")
    except grpc.aio.AioRpcError as exc:
        return Check(name, False, f"{exc.code().name}: {exc.details()}")
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        return Check(name, False, f"{exc.__class__.__name__}: {exc}")
    except Exception as exc:  # noqa: BLE001 - a self-check reports every failure instead of crashing
        return Check(name, False, f"unexpected {exc.__class__.__name__}: {exc}")


# ---- services ----


async def check_grpc_health(name: str, address: str, timeout: float) -> Check:
    started = time.perf_counter()
    async with grpc.aio.insecure_channel(address) as channel:
        stub: Any = health_pb2_grpc.HealthStub(channel)  # the stubs package types only the sync stub
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    took = time.perf_counter() - started
    return Check(
        name, reply.status == health_pb2.HealthCheckResponse.SERVING, f"{status} at {address} ({_ms(took)})"
    )


async def http_get(url: str, timeout: float) -> tuple[int, str]:
    """``GET url`` over HTTP/1.1 with ``Connection: close``: the status and (the start of) the body."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    secure = parts.scheme == "https"
    port = parts.port or (443 if secure else 80)
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(parts.hostname, port, ssl=ssl.create_default_context() if secure else None),
        timeout,
    )
    try:
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = parts.netloc.rpartition("@")[2]
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(64 * 1024), timeout)
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].split(b" ")
    if len(status_line) < 2 or not status_line[1].isdigit():
        raise ValueError(f"not an HTTP answer from {url}")
    return int(status_line[1]), body.decode(errors="replace")[:200]


async def check_gateway(url: str, timeout: float) -> Check:
    base = url.rstrip("/")
    found: list[str] = []
    ok = True
    for path in ("/healthz", "/readyz"):
        try:
            status, body = await http_get(base + path, timeout)
        except OSError as exc:
            return Check("gateway", False, f"unreachable at {base}: {exc.__class__.__name__}: {exc}")
        if status == 200:
            found.append(f"{path} 200")
        else:
            ok = False
            found.append(f"{path} {status} {body.strip()}")
    return Check("gateway", ok, f"{', '.join(found)} at {base}")


# ---- database ----


async def check_schema(conn: asyncpg.Connection) -> Check:
    available = db.available_migrations()
    known = {m.version for m in available}
    applied = await db.applied_versions(conn)
    pending = await db.pending_migrations(conn)
    unknown = sorted(set(applied) - known)
    if unknown:
        return Check(
            "schema",
            False,
            f"the database has migrations this configtrail does not know ({', '.join(map(str, unknown))}):"
            " upgrade configtrail",
        )
    if pending:
        names = ", ".join(f"{m.version:04d}_{m.name}" for m in pending)
        return Check(
            "schema", False, f"{len(pending)} pending migration(s): {names}; run `configtrail migrate`"
        )
    latest = available[-1] if available else None
    name = f"{latest.version:04d}_{latest.name}" if latest else "none"
    return Check("schema", True, f"current: {len(applied)} migration(s) applied, latest {name}")


async def check_round_trip(settings: DoctorSettings, conn: asyncpg.Connection, timeout: float) -> Check:
    """Event → Ingest → stream → Sync → Postgres, timed; the doctor session is erased afterwards."""
    session_id = f"{DOCTOR_SESSION_PREFIX}{uuid.uuid4().hex}"
    event_id = str(uuid.uuid4())
    event = events_pb2.InteractionEvent(
        event_id=event_id,
        session_id=session_id,
        event_type=events_pb2.EVENT_TYPE_CUSTOM,
        custom_event_type="doctor_round_trip",
        category="doctor",
        element_id="doctor",
    )
    event.client_timestamp.FromDatetime(datetime.now(UTC))
    async with (
        grpc.aio.insecure_channel(settings.ingest_address) as ingest_channel,
        grpc.aio.insecure_channel(settings.sync_address) as sync_channel,
    ):
        ingest = ingest_pb2_grpc.IngestStub(ingest_channel)
        sync = sync_pb2_grpc.SyncStub(sync_channel)
        try:
            started = time.perf_counter()
            await ingest.TrackInteraction(ingest_pb2.TrackInteractionRequest(event=event), timeout=timeout)
            acknowledged = time.perf_counter()
            await sync.Flush(sync_pb2.FlushRequest(timeout_seconds=timeout), timeout=timeout + 1)
            flushed = time.perf_counter()
            row = await conn.fetchrow(
                "SELECT session_id, received_at FROM interaction_events WHERE event_id = $1",
                uuid.UUID(event_id),
            )
            stored = time.perf_counter()
        finally:
            cleanup = await _erase(sync, conn, session_id, timeout)
    if row is None or row["session_id"] != session_id:
        return Check(
            "round trip", False, f"the event is not in interaction_events after Sync.Flush; {cleanup}"
        )
    return Check(
        "round trip",
        True,
        f"event → Postgres in {_ms(stored - started)} (ingest ack {_ms(acknowledged - started)}, "
        f"sync flush {_ms(flushed - acknowledged)}); {cleanup}",
    )


async def _erase(
    sync: sync_pb2_grpc.SyncAsyncStub, conn: asyncpg.Connection, session_id: str, timeout: float
) -> str:
    """Remove the doctor session everywhere; say how."""
    try:
        await sync.EraseSession(sync_pb2.EraseSessionRequest(session_id=session_id), timeout=timeout)
        return "doctor session erased"
    except grpc.aio.AioRpcError as exc:
        # an older Sync without EraseSession, or one that cannot reach Redis: the rows at least
        status = await conn.execute("DELETE FROM user_sessions WHERE session_id = $1", session_id)
        return f"doctor session deleted ({status.split()[-1]} row; EraseSession: {exc.code().name})"


async def check_ratings(conn: asyncpg.Connection, fail_on_poor: bool) -> Check:
    rows = await conn.fetch(
        """SELECT metric_name, endpoint, count(*) AS samples,
                  percentile_cont(0.95) WITHIN GROUP (ORDER BY value_ms) AS p95
           FROM performance_metrics
           WHERE metric_name = ANY($1::text[]) AND endpoint <> '' AND occurred_at >= now() - $2::interval
           GROUP BY metric_name, endpoint
           ORDER BY metric_name, endpoint""",
        list(RATED_METRICS),
        RATING_WINDOW,
    )
    if not rows:
        return Check("ratings", True, "no request latencies stored in the last hour")
    rated = [(rating(row["p95"]), row) for row in rows]
    counts = {name: sum(1 for r, _ in rated if r == name) for _, name in (*RATINGS, (0.0, "POOR"))}
    summary = ", ".join(f"{n} {name}" for name, n in counts.items() if n)
    notes = tuple(
        f"{name:<9} p95 {row['p95']:8.1f} ms  n={row['samples']:<6} {row['metric_name']} {row['endpoint']}"
        for name, row in rated
    )
    poor = counts["POOR"]
    ok = not (fail_on_poor and poor)
    return Check("ratings", ok, f"{len(rows)} endpoint(s) over the last hour: {summary}", notes)


async def check_oldest(conn: asyncpg.Connection, settings: DoctorSettings) -> Check:
    oldest: datetime | None = await conn.fetchval("SELECT min(received_at) FROM interaction_events")
    now = datetime.now(UTC)
    if oldest is None:
        detail = "no interactions stored"
    else:
        age = now - oldest
        detail = f"oldest interaction received {oldest.isoformat(timespec='seconds')} ({age.days} days ago)"
    detail += f"; retention {settings.retention_days} days"
    notes: list[str] = []
    if oldest is not None and now - oldest > timedelta(days=settings.retention_days + 1):
        notes.append("older than the retention limit: is Sync's retention job running?")
    notes.append(await _retention_run(settings))
    return Check("oldest data", True, detail, tuple(notes))


async def _retention_run(settings: DoctorSettings) -> str:
    if settings.redis_url is None:
        return "last retention run: unknown (CONFIGTRAIL_REDIS_URL is not set)"
    client = streams.connect(settings.redis_url.get_secret_value(), connect_timeout=1.0)
    try:
        raw = await client.get(constants.RETENTION_LAST_RUN)
    except (RedisError, OSError) as exc:
        return f"last retention run: unknown (redis: {exc})"
    finally:
        await client.aclose()
    if raw is None:
        return "no retention run recorded yet"
    last = orjson.loads(raw)
    return f"last retention run {last.get('at', '?')}, next due {last.get('next_at', '?')}"


# ---- all together ----


def _health(name: str, address: str, timeout: float) -> Callable[[], Awaitable[Check]]:
    return lambda: check_grpc_health(name, address, timeout)


async def run_checks(settings: DoctorSettings) -> Report:
    """Run every check against the services and database ``settings`` name."""
    timeout = settings.doctor_timeout_seconds
    targets = (
        ("ingest", settings.ingest_address),
        ("sync", settings.sync_address),
        ("metrics", settings.metrics_address),
    )
    services = await asyncio.gather(
        *(_guarded(name, timeout, _health(name, address, timeout)) for name, address in targets),
        _guarded("gateway", timeout, lambda: check_gateway(settings.gateway_url, timeout)),
    )
    healthy = {check.name for check in services if check.ok}
    if settings.database_url is None:
        database = [
            Check(name, False, _NO_DATABASE) for name in ("schema", "round trip", "ratings", "oldest data")
        ]
        return Report((database[0], *services, *database[1:]))
    try:
        conn = await asyncio.wait_for(asyncpg.connect(settings.database_url.get_secret_value()), timeout)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        why = f"cannot connect to Postgres: {exc.__class__.__name__}: {exc}"
        database = [Check(name, False, why) for name in ("schema", "round trip", "ratings", "oldest data")]
        return Report((database[0], *services, *database[1:]))
    try:
        schema = await _guarded("schema", timeout, lambda: check_schema(conn))
        if {"ingest", "sync"} <= healthy:
            # Flush and the erasure get their own deadlines inside the check
            trip = await _guarded(
                "round trip", 3 * timeout + 2, lambda: check_round_trip(settings, conn, timeout)
            )
        else:
            # an event Sync cannot take now would land later, after the clean-up
            trip = Check("round trip", False, "skipped: ingest and sync must both be SERVING")
        ratings = await _guarded(
            "ratings", timeout, lambda: check_ratings(conn, settings.doctor_fail_on_poor)
        )
        oldest = await _guarded("oldest data", timeout, lambda: check_oldest(conn, settings))
    finally:
        await conn.close()
    return Report((schema, *services, trip, ratings, oldest))


async def doctor(settings: DoctorSettings, out: TextIO) -> int:
    """Run the checks, write one line per check to ``out``, return the exit status."""
    report = await run_checks(settings)
    for line in report.lines():
        out.write(line + "\n")
    out.write(
        "all checks passed\n" if report.ok else f"{sum(not c.ok for c in report.checks)} check(s) failed\n"
    )
    out.flush()
    return report.exit_status
