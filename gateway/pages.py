"""The browser-facing files: ``/tracker.js`` (the SDK sites embed) and ``/demo`` (a configurator using it).

Both come from ``gateway/static`` and are read once per process. The tracker carries an ETag and is
cached for a day, or for a year when asked for by its content hash (``/tracker.js?v=…``, as the demo page
does); it is sent gzip-compressed to browsers that accept it. The demo page gets the gateway's first write
key filled in, so that whoever starts the stack and opens ``/demo`` sees their own session arrive. A write
key is public by design (every page that embeds the tracker shows it): it says which site sent events.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import html
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from gateway.auth import KeyCheck

if TYPE_CHECKING:
    from gateway.routes import Gateway

JAVASCRIPT = "text/javascript; charset=utf-8"
HTML = "text/html; charset=utf-8"
#: Where the demo page says which write key and which tracker URL to use.
WRITE_KEY_PLACEHOLDER = "{{CONFIGTRAIL_WRITE_KEY}}"
TRACKER_SRC_PLACEHOLDER = "{{CONFIGTRAIL_TRACKER_SRC}}"

CACHE_VERSIONED = "public, max-age=31536000, immutable"
CACHE_TRACKER = "public, max-age=86400, stale-while-revalidate=604800"
#: The demo loads nothing from elsewhere (it works offline) and talks only to this gateway.
DEMO_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def static_text(name: str) -> str:
    return (resources.files("gateway") / "static" / name).read_text(encoding="utf-8")


@dataclass(frozen=True)
class Asset:
    """A static file as served: its bytes, gzip-compressed too, and its content hash."""

    body: bytes
    gzipped: bytes
    version: str

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'

    @classmethod
    def of(cls, text: str) -> Asset:
        body = text.encode()
        return cls(body, gzip.compress(body, mtime=0), hashlib.sha256(body).hexdigest()[:16])


@functools.cache
def tracker_asset() -> Asset:
    return Asset.of(static_text("tracker.js"))


@functools.cache
def demo_template() -> str:
    return static_text("demo.html").replace(
        TRACKER_SRC_PLACEHOLDER, f"/tracker.js?v={tracker_asset().version}"
    )


def first_write_key(keys: KeyCheck) -> str:
    """The first configured write key; empty when ingestion is open (none configured)."""
    return keys.first_write_key


def demo_page(write_key: str) -> str:
    return demo_template().replace(WRITE_KEY_PLACEHOLDER, html.escape(write_key, quote=True))


def _accepts_gzip(request: Request) -> bool:
    codings = request.headers.get("accept-encoding", "").lower()
    return any(part.split(";")[0].strip() == "gzip" for part in codings.split(","))


async def tracker_js(request: Request) -> Response:
    """``GET /tracker.js``: the browser SDK."""
    asset = tracker_asset()
    headers = {
        "ETag": asset.etag,
        "Cache-Control": CACHE_VERSIONED if request.query_params.get("v") == asset.version else CACHE_TRACKER,
        "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
        "Cross-Origin-Resource-Policy": "cross-origin",  # embedded by the sites that track
    }
    if asset.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    if _accepts_gzip(request):
        headers["Content-Encoding"] = "gzip"
        return Response(asset.gzipped, headers=headers, media_type=JAVASCRIPT)
    return Response(asset.body, headers=headers, media_type=JAVASCRIPT)


async def demo(request: Request, gateway: Gateway) -> Response:
    """``GET /demo``: the demo configurator, sending with the gateway's first write key."""
    headers = {
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": DEMO_CSP,
        "Referrer-Policy": "same-origin",
    }
    return Response(demo_page(first_write_key(gateway.keys)), headers=headers, media_type=HTML)
