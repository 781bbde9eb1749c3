"""Gateway server (placeholder until the HTTP API lands): ``/healthz`` only."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.settings import GatewaySettings


def create_app(settings: GatewaySettings) -> Starlette:
    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route("/healthz", healthz)])


async def serve(settings: GatewaySettings | None = None) -> None:
    import uvicorn

    settings = settings or GatewaySettings()
    config = uvicorn.Config(create_app(settings), host=settings.bind_host, port=settings.gateway_port,
                            log_config=None, access_log=False)
    await uvicorn.Server(config).serve()
