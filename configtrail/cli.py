"""The ``configtrail`` command: ``up``, ``serve``, ``migrate``, ``demo``, ``doctor``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import secrets
import sys
from collections.abc import Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any

from configtrail import db, streams
from configtrail.logs import setup_logging
from configtrail.settings import CommonSettings, UpSettings

logger = logging.getLogger("configtrail")

SERVICES = ("ingest", "sync", "metrics", "gateway")


def _run(coro: Coroutine[Any, Any, None]) -> None:
    import uvloop

    uvloop.run(coro)


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


@contextlib.contextmanager
def database_and_redis(
    settings: CommonSettings,
    postgres_port: int = 0,
    redis_port: int = 0,
    *,
    need_redis: bool = True,
    reuse_running: bool = True,
) -> Iterator[tuple[str, str]]:
    """The configured servers, or the embedded ones of the data folder.

    An embedded server already running there (a `configtrail up`) is used as it is; one started here
    is stopped on exit. ``configtrail up`` itself passes ``reuse_running=False``: a server left running
    by a supervisor that was killed is stopped and started afresh under the new one.
    """
    from configtrail.embedded import EmbeddedPostgres, EmbeddedValkey

    postgres = redis = None
    try:
        if settings.database_url is not None:
            dsn = settings.database_url.get_secret_value()
        else:
            postgres = EmbeddedPostgres(settings.data_dir / "postgres" / "data", postgres_port)
            dsn = postgres.start(reuse_running=reuse_running)
        url = ""
        if settings.redis_url is not None:
            url = settings.redis_url.get_secret_value()
        elif need_redis:
            redis = EmbeddedValkey(settings.data_dir / "valkey", redis_port)
            url = redis.start(reuse_running=reuse_running)
        yield dsn, url
    finally:
        if redis is not None:
            redis.stop()
        if postgres is not None:
            postgres.stop()


def cmd_migrate(_: argparse.Namespace) -> int:
    settings = CommonSettings()
    setup_logging(settings.log_level, settings.log_json, "migrate")
    with database_and_redis(settings, need_redis=False) as (dsn, _url):
        applied = asyncio.run(db.migrate(dsn))
    _say(f"schema current ({len(applied)} migration(s) applied)")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    name: str = args.service
    if name == "ingest":
        from configtrail.settings import IngestSettings
        from services.ingest.server import serve as serve_ingest

        ingest_settings = IngestSettings()
        setup_logging(ingest_settings.log_level, ingest_settings.log_json, "ingest")
        _run(serve_ingest(ingest_settings))
    elif name == "sync":
        from configtrail.settings import SyncSettings
        from services.sync.server import serve as serve_sync

        sync_settings = SyncSettings()
        setup_logging(sync_settings.log_level, sync_settings.log_json, "sync")
        _run(_migrate_then(sync_settings, serve_sync(sync_settings)))
    elif name == "metrics":
        from configtrail.settings import MetricsSettings
        from services.metrics.server import serve as serve_metrics

        metrics_settings = MetricsSettings()
        setup_logging(metrics_settings.log_level, metrics_settings.log_json, "metrics")
        _run(_migrate_then(metrics_settings, serve_metrics(metrics_settings)))
    elif name == "gateway":
        from gateway.server import serve as serve_gateway
        from gateway.settings import GatewaySettings

        gateway_settings = GatewaySettings()
        setup_logging(gateway_settings.log_level, gateway_settings.log_json, "gateway")
        _run(serve_gateway(gateway_settings))
    return 0


async def _migrate_then(settings: CommonSettings, serve: Coroutine[Any, Any, None]) -> None:
    await db.migrate(settings.require_database_url())
    await serve


def development_credentials(data_dir: Path) -> dict[str, str]:
    """A write key and an admin token for local use, generated once and kept in the data folder."""
    path = data_dir / "development-credentials.json"
    if path.exists():
        stored: dict[str, str] = json.loads(path.read_text())
        return stored
    data_dir.mkdir(parents=True, exist_ok=True)
    credentials = {
        "CONFIGTRAIL_WRITE_KEYS": "dev-write-" + secrets.token_urlsafe(12),
        "CONFIGTRAIL_ADMIN_TOKENS": "dev-admin-" + secrets.token_urlsafe(18),
        "CONFIGTRAIL_ERASE_TOKENS": "dev-erase-" + secrets.token_urlsafe(18),
    }
    path.write_text(json.dumps(credentials, indent=2))
    path.chmod(0o600)
    return credentials


def cmd_up(_: argparse.Namespace) -> int:
    from configtrail.stack import run_stack

    settings = UpSettings()
    setup_logging(settings.log_level, settings.log_json, "up")
    return run_stack(settings)


def cmd_demo(args: argparse.Namespace) -> int:
    from configtrail import demo

    settings = CommonSettings()
    setup_logging(settings.log_level, settings.log_json, "demo")
    reference = demo.parse_reference(args.reference) if args.reference else demo.default_reference()

    async def migrate_and_generate(dsn: str) -> demo.DemoSummary:
        await db.migrate(dsn)
        return await demo.generate(
            dsn,
            args.sessions,
            args.seed,
            args.days,
            reference,
            demo.ProgressBar(sys.stderr),
            reduce_user_agents=settings.reduce_user_agents,
        )

    import uvloop

    with database_and_redis(settings, need_redis=False) as (dsn, _url):
        summary: demo.DemoSummary = uvloop.run(migrate_and_generate(dsn))
    first = summary.first_start.isoformat(timespec="seconds") if summary.first_start else "-"
    last = summary.last_start.isoformat(timespec="seconds") if summary.last_start else "-"
    _say(
        f"demo: {summary.sessions:,} sessions of seed {args.seed}, started {first} … {last} "
        f"({args.days} days before {reference.isoformat(timespec='seconds')})"
    )
    _say(
        f"  {summary.interactions:,} interactions, {summary.snapshots:,} snapshots; "
        f"{summary.orders:,} orders, {summary.abandoned_midway:,} left midway, "
        f"{summary.page_exits:,} page exits; {summary.marked_abandoned:,} sessions marked abandoned"
    )
    _say(
        f"  new rows: {summary.inserted_interactions:,} interactions, "
        f"{summary.inserted_snapshots:,} snapshots"
        + ("" if summary.inserted_interactions or not summary.interactions else " (written before)")
    )
    _say(
        f"  {summary.seconds:.1f} s: {summary.sessions_per_second:,.0f} sessions/s, "
        f"{summary.events_per_second:,.0f} events/s"
    )
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from configtrail.doctor import DoctorSettings, doctor

    settings = DoctorSettings()
    if args.fail_on_poor:
        settings = settings.model_copy(update={"doctor_fail_on_poor": True})
    setup_logging(settings.log_level, settings.log_json, "doctor")
    return asyncio.run(doctor(settings, sys.stdout))


def cmd_erase(args: argparse.Namespace) -> int:
    from configtrail.settings import SyncSettings
    from services.sync import privacy

    settings = SyncSettings()
    setup_logging(settings.log_level, settings.log_json, "erase")

    async def erase(dsn: str, url: str) -> privacy.ErasureReport:
        await db.migrate(dsn)
        pool = await db.create_pool(dsn, size=1)
        client = streams.connect(url, connect_timeout=5.0)
        try:
            return await privacy.erase_session(
                pool,
                client,
                args.session,
                stream_shards=settings.stream_shards,
                tombstone_days=settings.erase_tombstone_days,
            )
        finally:
            await client.aclose()
            await pool.close()

    with database_and_redis(settings) as (dsn, url):
        report = asyncio.run(erase(dsn, url))
    _say(json.dumps(report.as_json(), indent=2))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from services.sync import privacy

    settings = CommonSettings()
    setup_logging(settings.log_level, settings.log_json, "export")

    async def export(dsn: str) -> dict[str, Any]:
        pool = await db.create_pool(dsn, size=1)
        try:
            return await privacy.export_session(pool, args.session)
        finally:
            await pool.close()

    with database_and_redis(settings, need_redis=False) as (dsn, _url):
        document = asyncio.run(export(dsn))
    if document["session"] is None and not document["metrics"]:
        sys.stderr.write(f"configtrail export: nothing stored for session {args.session!r}\n")
        return 1
    _say(json.dumps(document, indent=2, ensure_ascii=False))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="configtrail", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="run the whole stack (embedded servers unless URLs are set)")
    up.set_defaults(func=cmd_up)
    serve = commands.add_parser("serve", help="run one service, for deployment")
    serve.add_argument("service", choices=SERVICES)
    serve.set_defaults(func=cmd_serve)
    migrate = commands.add_parser("migrate", help="apply pending schema migrations")
    migrate.set_defaults(func=cmd_migrate)
    demo = commands.add_parser(
        "demo",
        help="write realistic demo sessions (deterministic per seed)",
        description="Write realistic configurator journeys through the normal write path. Sessions start "
        "within the DAYS days before the reference time (default: the current UTC hour, so runs within one "
        "hour write identical data); the same seed and reference give the same rows, and a rerun adds none.",
    )
    demo.add_argument("--sessions", type=_positive_or_zero, default=1000, help="sessions (default 1000)")
    demo.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    demo.add_argument("--days", type=_positive, default=30, help="spread of start times in days (default 30)")
    demo.add_argument(
        "--reference",
        metavar="ISO-8601",
        help="end of the time span (UTC unless an offset is given); default: the current UTC hour",
    )
    demo.set_defaults(func=cmd_demo)
    doctor = commands.add_parser(
        "doctor", help="check a running stack or deployment; non-zero exit on failure"
    )
    doctor.add_argument(
        "--fail-on-poor",
        action="store_true",
        help="also fail when an endpoint's p95 over the last hour rates POOR",
    )
    doctor.set_defaults(func=cmd_doctor)
    erase = commands.add_parser(
        "erase", help="erase a session everywhere (Postgres, Redis, streams) and keep a tombstone"
    )
    erase.add_argument("--session", required=True, help="the session id")
    erase.set_defaults(func=cmd_erase)
    export = commands.add_parser("export", help="print everything stored for a session as one JSON document")
    export.add_argument("--session", required=True, help="the session id")
    export.set_defaults(func=cmd_export)
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _positive_or_zero(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
