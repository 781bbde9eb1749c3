"""``configtrail up``: servers (embedded unless configured), migrations, and the four services, supervised."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from types import FrameType

import grpc

from configtrail import db
from configtrail.embedded import free_port
from configtrail.settings import UpSettings
from configtrail.supervisor import Child, Supervisor, child_env, grpc_health_check, http_health_check
from configtrail.sync.v1 import sync_pb2, sync_pb2_grpc

logger = logging.getLogger(__name__)

READY_TIMEOUT_SECONDS = 60.0
STOP_ORDER = ("gateway", "ingest", "sync", "metrics")


class _Stop(Exception):
    """SIGTERM arrived before the event loop was running."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def _say(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def run_stack(settings: UpSettings) -> int:
    from configtrail.cli import database_and_redis, development_credentials

    previous = signal.signal(signal.SIGTERM, _raise_stop)
    try:
        with database_and_redis(
            settings, settings.embedded_postgres_port, settings.embedded_redis_port, reuse_running=False
        ) as (
            dsn,
            url,
        ):
            asyncio.run(db.migrate(dsn))
            ports = {
                "ingest": settings.ingest_port or free_port(),
                "sync": settings.sync_port or free_port(),
                "metrics": settings.metrics_port or free_port(),
                "gateway": settings.gateway_port or free_port(),
            }
            overrides = {
                "CONFIGTRAIL_DATABASE_URL": dsn,
                "CONFIGTRAIL_REDIS_URL": url,
                "CONFIGTRAIL_INGEST_PORT": str(ports["ingest"]),
                "CONFIGTRAIL_SYNC_PORT": str(ports["sync"]),
                "CONFIGTRAIL_METRICS_PORT": str(ports["metrics"]),
                "CONFIGTRAIL_GATEWAY_PORT": str(ports["gateway"]),
                "CONFIGTRAIL_INGEST_ADDRESS": f"127.0.0.1:{ports['ingest']}",
                "CONFIGTRAIL_SYNC_ADDRESS": f"127.0.0.1:{ports['sync']}",
                "CONFIGTRAIL_METRICS_ADDRESS": f"127.0.0.1:{ports['metrics']}",
            }
            generated: dict[str, str] = {}
            if not os.environ.get("CONFIGTRAIL_WRITE_KEYS") and not os.environ.get(
                "CONFIGTRAIL_ADMIN_TOKENS"
            ):
                generated = development_credentials(settings.data_dir)
                overrides.update(generated)
            signal.signal(signal.SIGTERM, previous)
            import uvloop

            code: int = uvloop.run(_supervise(settings, ports, overrides, dsn, url, generated))
            return code
    except (_Stop, KeyboardInterrupt):
        logger.info("stopped before the services were up")
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)


async def _supervise(
    settings: UpSettings,
    ports: dict[str, int],
    overrides: dict[str, str],
    dsn: str,
    url: str,
    generated: dict[str, str],
) -> int:
    host = settings.bind_host
    probe_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    env = child_env(overrides)
    children = [
        Child(
            name,
            [sys.executable, "-m", "configtrail", "serve", name],
            env,
            grpc_health_check(f"{probe_host}:{ports[name]}"),
        )
        for name in ("ingest", "sync", "metrics")
    ]
    children.append(
        Child(
            "gateway",
            [sys.executable, "-m", "configtrail", "serve", "gateway"],
            env,
            http_health_check(probe_host, ports["gateway"]),
        )
    )
    supervisor = Supervisor(children)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await supervisor.start()
    waiting = asyncio.create_task(supervisor.wait_healthy(READY_TIMEOUT_SECONDS))
    stopped_early = asyncio.create_task(stop.wait())
    await asyncio.wait({waiting, stopped_early}, return_when=asyncio.FIRST_COMPLETED)
    code = 0
    if waiting.done():
        unhealthy = waiting.result()
        if unhealthy:
            logger.error("not healthy after %.0fs: %s", READY_TIMEOUT_SECONDS, ", ".join(unhealthy))
            code = 1
            stop.set()
        else:
            _print_addresses(host, ports, dsn, url, generated, embedded=settings.database_url is None)
    else:
        waiting.cancel()
    await stop.wait()
    stopped_early.cancel()
    _say("configtrail: stopping (syncing events in flight first)")
    await supervisor.stop_child("gateway")
    await supervisor.stop_child("ingest")
    await _flush_sync(f"{probe_host}:{ports['sync']}")
    await supervisor.stop_child("sync")
    await supervisor.stop_child("metrics")
    _say("configtrail: stopped")
    return code


async def _flush_sync(address: str, timeout: float = 30.0) -> None:
    """Let Sync move everything already acknowledged into Postgres before it is stopped."""
    async with grpc.aio.insecure_channel(address) as channel:
        try:
            reply = await sync_pb2_grpc.SyncStub(channel).Flush(
                sync_pb2.FlushRequest(timeout_seconds=timeout), timeout=timeout + 5
            )
            logger.info("sync flushed (%d entries in the streams)", reply.entries_waited_for)
        except grpc.aio.AioRpcError as exc:
            logger.warning(
                "sync flush failed: %s; unsynced entries stay in Redis for the next run", exc.details()
            )


def _print_addresses(
    host: str, ports: dict[str, int], dsn: str, url: str, generated: dict[str, str], *, embedded: bool
) -> None:
    _say("configtrail is up")
    _say(f"  gateway   http://{host}:{ports['gateway']}   (demo: /demo, dashboard: /dashboard)")
    _say(f"  ingest    {host}:{ports['ingest']}   gRPC configtrail.ingest.v1.Ingest")
    _say(f"  sync      {host}:{ports['sync']}   gRPC configtrail.sync.v1.Sync")
    _say(f"  metrics   {host}:{ports['metrics']}   gRPC configtrail.metrics.v1.Metrics")
    kind = "embedded" if embedded else "external"
    _say(f"  postgres  {dsn if embedded else '(CONFIGTRAIL_DATABASE_URL)'}   {kind}")
    _say(f"  redis     {url if embedded else '(CONFIGTRAIL_REDIS_URL)'}   {kind}")
    if generated:
        _say("  development credentials (kept in the data folder):")
        _say(f"    write key    {generated['CONFIGTRAIL_WRITE_KEYS']}")
        _say(f"    admin token  {generated['CONFIGTRAIL_ADMIN_TOKENS']}")
        _say(f"    erase token  {generated['CONFIGTRAIL_ERASE_TOKENS']}")
    _say("Ctrl-C stops everything.")
