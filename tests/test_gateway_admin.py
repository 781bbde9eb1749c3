"""The admin's erase and export over HTTP: the right token for each, nothing for a write key."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from configtrail.common.v1 import events_pb2
from configtrail.grpcserver import RunningServer
from configtrail.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from configtrail.sync.v1 import sync_pb2, sync_pb2_grpc
from gateway.server import RunningGateway, start
from gateway.settings import GatewaySettings
from tests.conftest import Servers

WRITE, ADMIN, ERASE = "write-key-1", "admin-token-1", "erase-token-1"


@pytest.fixture
async def gateway(
    servers: Servers, ingest_server: RunningServer, sync_server: RunningServer
) -> AsyncIterator[RunningGateway]:
    running = await start(
        GatewaySettings(
            ingest_address=f"127.0.0.1:{ingest_server.port}",
            sync_address=f"127.0.0.1:{sync_server.port}",
            redis_url=servers.redis_url,  # type: ignore[arg-type]
            gateway_port=0,
            write_keys=WRITE,  # type: ignore[arg-type]
            admin_tokens=ADMIN,  # type: ignore[arg-type]
            erase_tokens=ERASE,  # type: ignore[arg-type]
            rate_limit_per_second=0,
            telemetry_flush_seconds=0,
        )
    )
    yield running
    await running.stop()


async def test_export_needs_an_admin_token_and_erase_an_erase_token(
    gateway: RunningGateway,
    ingest: ingest_pb2_grpc.IngestAsyncStub,
    sync: sync_pb2_grpc.SyncAsyncStub,
    pg_pool: asyncpg.Pool,
) -> None:
    session = f"admin-{uuid.uuid4().hex[:8]}"
    for n in range(4):
        await ingest.TrackInteraction(
            ingest_pb2.TrackInteractionRequest(
                event=events_pb2.InteractionEvent(
                    session_id=session,
                    event_type=events_pb2.EVENT_TYPE_CLICK,
                    category="fenster",
                    sequence=n + 1,
                )
            )
        )
    await sync.Flush(sync_pb2.FlushRequest(timeout_seconds=10))
    export_path = f"/api/admin/sessions/{session}/export"
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
        assert (await http.get(export_path)).status_code == 401
        assert (await http.get(export_path, headers={"X-Write-Key": WRITE})).status_code == 401
        wrong = await http.get(export_path, headers={"Authorization": f"Bearer {WRITE}"})
        assert wrong.status_code == 403
        assert wrong.json()["error"]["code"] == "PERMISSION_DENIED"

        exported = await http.get(export_path, headers={"Authorization": f"Bearer {ADMIN}"})
        assert exported.status_code == 200
        document = exported.json()
        assert document["sessionId"] == session
        assert [e["sequence"] for e in document["interactions"]] == [1, 2, 3, 4]

        # admin tokens are read-only
        refused = await http.delete(
            f"/api/admin/sessions/{session}", headers={"Authorization": f"Bearer {ADMIN}"}
        )
        assert refused.status_code == 403
        assert (
            await pg_pool.fetchval("SELECT count(*) FROM interaction_events WHERE session_id = $1", session)
            == 4
        )

        erased = await http.delete(
            f"/api/admin/sessions/{session}", headers={"Authorization": f"Bearer {ERASE}"}
        )
        assert erased.status_code == 200
        body = erased.json()
        assert body["sessionFound"] is True
        assert body["removed"]["interactions"] == 4
        assert body["tombstoneUntil"]
        assert (
            await pg_pool.fetchval("SELECT count(*) FROM interaction_events WHERE session_id = $1", session)
            == 0
        )

        gone = await http.get(export_path, headers={"Authorization": f"Bearer {ADMIN}"})
        assert gone.status_code == 404


@pytest.mark.parametrize("session_id", ["%00", "a%20b", "x" * 129])
async def test_export_and_erase_of_no_possible_session_id_are_a_400_naming_it(
    gateway: RunningGateway, session_id: str
) -> None:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as http:
        exported = await http.get(
            f"/api/admin/sessions/{session_id}/export", headers={"Authorization": f"Bearer {ADMIN}"}
        )
        erased = await http.delete(
            f"/api/admin/sessions/{session_id}", headers={"Authorization": f"Bearer {ERASE}"}
        )
    for answer in (exported, erased):
        assert answer.status_code == 400, answer.text
        error = answer.json()["error"]
        assert error["code"] == "INVALID_ARGUMENT"
        assert [field["field"] for field in error["fields"]] == ["sessionId"]
