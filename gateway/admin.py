"""The admin's HTTP endpoints: export a session (admin token) and erase it (erase token).

Admin tokens are read-only; erasing needs a token from ``CONFIGTRAIL_ERASE_TOKENS``; write keys grant
neither. Both calls go to Sync, which owns the data lifecycle.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from configtrail.sync.v1 import sync_pb2
from gateway.errors import JSON
from gateway.routes import Gateway, endpoint, json_response

#: Erasure walks the session's stream shard and several tables: more than an ingestion call.
ADMIN_TIMEOUT_SECONDS = 30.0


async def export_session(request: Request, gateway: Gateway) -> Response:
    """Everything stored for a session, as one JSON document (access requests)."""
    gateway.keys.admin(request)
    reply = await gateway.sync.ExportSession(
        sync_pb2.ExportSessionRequest(session_id=request.path_params["session_id"]),
        timeout=ADMIN_TIMEOUT_SECONDS,
    )
    return Response(reply.document_json, 200, {"Cache-Control": "no-store"}, media_type=JSON)


async def erase_session(request: Request, gateway: Gateway) -> Response:
    """Erase a session everywhere; the answer says what was removed."""
    gateway.keys.eraser(request)
    reply = await gateway.sync.EraseSession(
        sync_pb2.EraseSessionRequest(session_id=request.path_params["session_id"]),
        timeout=ADMIN_TIMEOUT_SECONDS,
    )
    return json_response(
        {
            "sessionId": request.path_params["session_id"],
            "sessionFound": reply.session_found,
            "removed": {
                "interactions": reply.interactions,
                "snapshots": reply.snapshots,
                "metrics": reply.metrics,
                "deadLetters": reply.dead_letters,
                "streamEntries": reply.stream_entries,
                "liveState": reply.live_state,
            },
            "tombstoneUntil": reply.tombstone_until.ToJsonString(),
        }
    )


ADMIN_ROUTES = [
    Route(
        "/api/admin/sessions/{session_id}/export", endpoint(export_session, service="sync"), methods=["GET"]
    ),
    Route("/api/admin/sessions/{session_id}", endpoint(erase_session, service="sync"), methods=["DELETE"]),
]
