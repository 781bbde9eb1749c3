"""`configtrail up` as a user runs it: a real process tree that becomes healthy and stops cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import asyncpg
import grpc
import httpx
import psutil
import pytest

from configtrail.common.v1 import events_pb2
from configtrail.embedded import EmbeddedPostgres, free_port
from configtrail.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from configtrail.supervisor import HealthCheck, grpc_health_check, http_health_check
from tests.conftest import wait_until

pytestmark = pytest.mark.slow


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as reply:
        body: bytes = reply.read()
    return body.decode()


def _child(parent: int, service: str) -> psutil.Process:
    """The `configtrail serve <service>` child of the `up` process."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for child in psutil.Process(parent).children():
            with contextlib.suppress(psutil.NoSuchProcess):
                if child.cmdline()[-2:] == ["serve", service] and child.is_running():
                    return child
        time.sleep(0.05)
    raise AssertionError(f"no {service} child")


async def _wait_healthy(checks: dict[str, HealthCheck], within: float) -> float:
    start = time.monotonic()
    pending = dict(checks)
    while pending:
        for name, check in list(pending.items()):
            if await check():
                del pending[name]
        if time.monotonic() - start > within:
            raise AssertionError(f"not SERVING after {within}s: {sorted(pending)}")
        await asyncio.sleep(0.1)
    return time.monotonic() - start


async def test_up_serves_everything_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("ingest", "sync", "metrics", "gateway")}
    env = {key: value for key, value in os.environ.items() if not key.startswith("CONFIGTRAIL_")}
    env.update({f"CONFIGTRAIL_{name.upper()}_PORT": str(port) for name, port in ports.items()})
    prometheus = {name: free_port() for name in ("ingest", "sync", "metrics")}
    env.update(
        {f"CONFIGTRAIL_{name.upper()}_PROMETHEUS_PORT": str(port) for name, port in prometheus.items()}
    )
    env["CONFIGTRAIL_TELEMETRY_FLUSH_SECONDS"] = "0.5"
    env["CONFIGTRAIL_DATA_DIR"] = str(tmp_path / "data")
    for key in ("CONFIGTRAIL_DATABASE_URL", "CONFIGTRAIL_REDIS_URL"):
        if key in os.environ:
            env[key] = os.environ[key]
    log = (tmp_path / "up.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "configtrail", "up"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        checks = {
            name: grpc_health_check(f"127.0.0.1:{ports[name]}") for name in ("ingest", "sync", "metrics")
        }
        checks["gateway"] = http_health_check("127.0.0.1", ports["gateway"])
        took = await _wait_healthy(checks, within=20.0)
        assert took < 20.0

        # with neither write keys nor admin tokens set, `up` made development ones and printed them
        up_log = tmp_path / "up.log"
        assert await wait_until(lambda: "configtrail is up" in up_log.read_text(), within=10)
        printed = up_log.read_text()
        write_key = re.search(r"^ +write key +(\S+)$", printed, re.MULTILINE)
        admin_token = re.search(r"^ +admin token +(\S+)$", printed, re.MULTILINE)
        assert write_key is not None, printed
        assert admin_token is not None, printed
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports['gateway']}", timeout=10) as http:
            event = {"sessionId": f"up-{uuid.uuid4().hex}", "eventType": "click", "category": "nest"}
            path = "/api/sessions/track-interaction"
            assert (await http.post(path, json=event)).status_code == 401
            accepted = await http.post(path, json=event, headers={"X-Write-Key": write_key[1]})
            assert accepted.status_code == 202, accepted.text
            read = {"sessionId": event["sessionId"]}
            refused = await http.get(path, params=read, headers={"Authorization": "Bearer not-the-token"})
            assert refused.status_code == 403, refused.text
            listed = await http.get(path, params=read, headers={"Authorization": f"Bearer {admin_token[1]}"})
            assert listed.status_code == 200, listed.text

        # a child that dies is restarted (with backoff) and the restart is logged
        victim = _child(process.pid, "metrics")
        victim.kill()
        victim.wait(10)
        await _wait_healthy({"metrics": checks["metrics"]}, within=20.0)
        assert _child(process.pid, "metrics").pid != victim.pid

        session_id = f"up-{uuid.uuid4().hex}"
        event_id = str(uuid.uuid4())
        async with grpc.aio.insecure_channel(f"127.0.0.1:{ports['ingest']}") as channel:
            stub = ingest_pb2_grpc.IngestStub(channel)
            await stub.TrackInteraction(
                ingest_pb2.TrackInteractionRequest(
                    event=events_pb2.InteractionEvent(
                        event_id=event_id,
                        session_id=session_id,
                        event_type=events_pb2.EVENT_TYPE_CLICK,
                        category="gebaeudehuelle",
                    )
                )
            )
        # every gRPC service exposes its own Prometheus metrics
        exposition = await asyncio.to_thread(_get, f"http://127.0.0.1:{prometheus['ingest']}/metrics")
        method = "/configtrail.ingest.v1.Ingest/TrackInteraction"
        assert f'configtrail_grpc_requests_total{{code="OK",method="{method}"}} 1.0' in exposition
        wanted = [
            'configtrail_stream_length{stream="configtrail:events:{s0}"}',
            "configtrail_sync_entries_committed_total",
            "configtrail_sync_batch_entries_bucket",
            "configtrail_sync_dead_letters_total",
        ]
        deadline = time.monotonic() + 10
        while True:  # the stream gauges are set by Sync's next maintenance pass
            sync_exposition = await asyncio.to_thread(_get, f"http://127.0.0.1:{prometheus['sync']}/metrics")
            missing = [series for series in wanted if series not in sync_exposition]
            if not missing:
                break
            assert time.monotonic() < deadline, missing
            await asyncio.sleep(0.2)

        # stop right after the acknowledgement: `up` must sync it before it exits
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        log.close()
    output = (tmp_path / "up.log").read_text()
    assert "configtrail is up" in output
    assert f"127.0.0.1:{ports['gateway']}" in output
    assert "configtrail: stopped" in output
    assert "metrics exited with status -9; restarting in" in output
    assert "restarted metrics (restart #1" in output

    if "CONFIGTRAIL_DATABASE_URL" in os.environ:
        dsn = os.environ["CONFIGTRAIL_DATABASE_URL"]
        postgres = None
    else:
        # the data folder is kept between runs: open it again and look for the event
        postgres = EmbeddedPostgres(tmp_path / "data" / "postgres" / "data")
        dsn = postgres.start()
    try:
        conn = await asyncpg.connect(dsn)
        try:
            row = await conn.fetchrow(
                "SELECT session_id, category FROM interaction_events WHERE event_id = $1", uuid.UUID(event_id)
            )
            latency_samples = await conn.fetchval(
                """SELECT count(*) FROM performance_metrics
                   WHERE metric_name = 'grpc_server_latency'
                     AND endpoint = '/configtrail.ingest.v1.Ingest/TrackInteraction'"""
            )
        finally:
            await conn.close()
    finally:
        if postgres is not None:
            postgres.stop()
    assert row is not None, "an acknowledged event was not synced before `up` stopped"
    assert (row["session_id"], row["category"]) == (session_id, "gebaeudehuelle")
    assert latency_samples == 1, "Ingest's own RPC latency reached the Metrics service"
