"""The ``configtrail`` command: ``up``, ``serve``, ``migrate``."""

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

from configtrail import db
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
    settings: CommonSettings, postgres_port: int = 0, redis_port: int = 0, *, need_redis: bool = True
) -> Iterator[tuple[str, str]]:
    """The configured servers, or embedded ones under the data folder (stopped on exit)."""
    from configtrail.embedded import EmbeddedPostgres, EmbeddedValkey

    postgres = redis = None
    try:
        if settings.database_url is not None:
            dsn = settings.database_url.get_secret_value()
        else:
            postgres = EmbeddedPostgres(settings.data_dir / "postgres" / "data", postgres_port)
            dsn = postgres.start()
        url = ""
        if settings.redis_url is not None:
            url = settings.redis_url.get_secret_value()
        elif need_redis:
            redis = EmbeddedValkey(settings.data_dir / "valkey", redis_port)
            url = redis.start()
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
