"""The bare HTTP ceiling: Starlette + uvicorn answering JSON POSTs (``python -m bench.bare_http``).

Each POST body is parsed (orjson, as the gateway does) and answered ``202`` with a small JSON body,
on the same stack and uvicorn settings as the gateway: uvloop, httptools with the gateway's corked
protocol (a response in one write), no access log.
"""

from __future__ import annotations

import argparse

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.cork import CorkedHttpToolsProtocol


async def accept(request: Request) -> Response:
    data = orjson.loads(await request.body())
    answer = {"eventId": data.get("eventId", "")} if isinstance(data, dict) else {}
    return Response(orjson.dumps(answer), 202, media_type="application/json")


async def healthz(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type="application/json")


app = Starlette(
    routes=[
        Route("/api/sessions/track-interaction", accept, methods=["POST"]),
        Route("/api/batch", accept, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=False,
        server_header=False,
        ws="none",
        lifespan="off",
        backlog=4096,
        http=CorkedHttpToolsProtocol,
    )


if __name__ == "__main__":
    main()
