"""Every operation of the gateway's own ``/openapi.json``, fuzzed: no input makes a 5xx, every error is
the documented JSON shape.

For each operation the served document lists (method + path), two phases, as schemathesis runs them:

* coverage, deterministic: schemathesis' coverage cases for the operation (each parameter and body
  property at its schema's boundaries, of the wrong type, missing, given twice; unexpected methods), then
  a request the gateway accepts with one thing changed at a time: each query and path parameter set to
  each value of a dictionary of hostile values for its documented type (huge and negative numbers,
  non-ASCII digits, NaN, NUL, unicode, dates at the ends of the calendar; real page tokens, cut and
  refilled), each node of the JSON body set to each hostile JSON value, odd headers, and bodies that are
  not JSON, gzip-labelled but plain, truncated gzip, gzip bombs, over the limit, in unknown encodings;
* fuzzing, random: Hypothesis draws schemathesis' cases, conforming to the schema (positive) and violating
  it (negative), and twists them the same ways, and in the credentials sent.

Requests go to a real gateway (rate limit on, at a rate never reached, so its code runs too) in front of
real Ingest, Sync and Metrics on the test PostgreSQL and Valkey, seeded with a few sessions, with valid
credentials in most of them so that they get past the key check to the handlers. Each answer must be
below 500 (a 503 from an unavailable dependency is documented, but every dependency runs here) and, when
it is an error, the document's ``Error``: ``{"error": {"code", "message", "fields": [{"field",
"reason"}]}}``. A failing operation reports one request of each kind of failure found.

The tests are parametrized by the operations :func:`gateway.openapi.openapi` describes, and a test checks
that the served document lists exactly those and that the app routes exactly those: a new route is
fuzzed, or this file fails. The requests are sent from a thread (Hypothesis and schemathesis run
synchronously) while the test's event loop serves the gateway and the services.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import gzip
import json
import re
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from configtrail.grpcserver import RunningServer
from gateway.openapi import openapi
from gateway.server import RunningGateway, start
from gateway.settings import GatewaySettings
from tests.conftest import Servers
from tests.test_analytics_support import (
    NOW,
    add_event,
    add_metric,
    add_session,
    add_snapshot,
    running_metrics_server,
)

WRITE, ADMIN, ERASE = "fuzz-write-key", "fuzz-admin-token", "fuzz-erase-token"
#: The credential each security scheme of the document takes (a scheme missing here fails the test).
CREDENTIALS = {"writeKey": WRITE, "writeKeyQuery": WRITE, "adminToken": ADMIN, "eraseToken": ERASE}
#: Random requests per operation, after the coverage phase.
EXAMPLES = 75
#: Sessions written before each operation is fuzzed, so reads, exports and erasures find something.
SESSIONS = ("fuzz-1", "fuzz-2", "fuzz-3")
#: Small, so that bodies over it are cheap to send.
MAX_BODY_BYTES = 16 * 1024


def documented_operations() -> list[tuple[str, str]]:
    """(METHOD, path) of every operation the gateway documents: what the fuzz is parametrized by."""
    document = openapi(max_body_bytes=MAX_BODY_BYTES)
    return [(method.upper(), path) for path, operations in document["paths"].items() for method in operations]


OPERATIONS = documented_operations()


# --- the gateway under test, and data for it to find ----------------------------------------------------


@dataclass
class Target:
    """A running gateway, its served document, and values worth trying that only a running one knows."""

    url: str
    document: dict[str, Any]
    #: Values known to mean something, by parameter name: seeded session ids, real page tokens, the
    #: dashboard's asset names and content hashes
    known: dict[str, list[str]]


@pytest.fixture
async def metrics_server(servers: Servers, clean: None) -> AsyncIterator[RunningServer]:
    async with running_metrics_server(servers) as running:
        yield running


@pytest.fixture
async def gateway(
    servers: Servers,
    ingest_server: RunningServer,
    sync_server: RunningServer,
    metrics_server: RunningServer,
) -> AsyncIterator[RunningGateway]:
    running = await start(
        GatewaySettings(
            ingest_address=f"127.0.0.1:{ingest_server.port}",
            sync_address=f"127.0.0.1:{sync_server.port}",
            metrics_address=f"127.0.0.1:{metrics_server.port}",
            redis_url=servers.redis_url,  # type: ignore[arg-type]
            gateway_port=0,
            write_keys=WRITE,  # type: ignore[arg-type]
            admin_tokens=ADMIN,  # type: ignore[arg-type]
            erase_tokens=ERASE,  # type: ignore[arg-type]
            max_body_bytes=MAX_BODY_BYTES,
            # on, so that every request goes through the limiter, at a rate the fuzz never reaches
            rate_limit_per_second=1_000_000,
            rate_limit_burst=1_000_000,
            shutdown_grace_seconds=2,
            telemetry_flush_seconds=0,
        )
    )
    yield running
    await running.stop()


async def seed(pool: asyncpg.Pool) -> None:
    """A few sessions in Metrics' default range (the 30 days before its clock's ``NOW``), with events,
    snapshots and metrics: analytics have rows to aggregate, exports and erasures a session to find."""
    for number, session_id in enumerate(SESSIONS):
        started = NOW - timedelta(days=2, hours=number)
        await add_session(
            pool,
            session_id,
            started,
            device_type=("desktop", "mobile", "tablet")[number],
            status=("active", "ordered", "abandoned")[number],
            interaction_count=2,
            snapshot_count=1,
            last_category="nest",
            last_element_id="nest-size",
            configuration={"nest": f"nest_{60 + 20 * number}"},
            price=3000 + 1000 * number,
            completion=40.0 + 30 * number,
        )
        await add_event(pool, session_id, started + timedelta(minutes=1), "selection", "nest", "nest_60")
        await add_event(pool, session_id, started + timedelta(minutes=2), "click", "dach", sequence=2)
        await add_snapshot(
            pool, session_id, started + timedelta(minutes=3), 3000, configuration={"nest": "nest_60"}
        )
    for value in (12.5, 80.0, 2500.0):
        await add_metric(pool, "lcp", "/configurator", value, NOW - timedelta(seconds=90))


@pytest.fixture
async def target(gateway: RunningGateway, pg_pool: asyncpg.Pool) -> Target:
    await seed(pg_pool)
    tokens: list[str] = []
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as client:
        # events still in the stream too (a read merges them with the rows): posted as a browser would
        for sequence in (1, 2):
            posted = await client.post(
                "/api/sessions/track-interaction",
                json={
                    "sessionId": SESSIONS[0],
                    "eventType": "hover",
                    "category": "dach",
                    "sequence": sequence,
                },
                headers={"X-Write-Key": WRITE},
            )
            assert posted.status_code == 202, posted.text
        document = (await client.get("/openapi.json")).json()
        pages: list[tuple[str, dict[str, str | int]]] = [
            ("/api/sessions/track-interaction", {"sessionId": SESSIONS[0], "pageSize": 1}),
            ("/api/admin/sessions", {"pageSize": 1}),
        ]
        for path, params in pages:
            page = await client.get(path, params=params, headers={"Authorization": f"Bearer {ADMIN}"})
            assert page.status_code == 200, page.text
            tokens.append(page.json()["nextPageToken"])
        # the asset URLs the pages link to: names and content hashes
        linked = (await client.get("/dashboard")).text + (await client.get("/demo")).text
    assert all(tokens), "the seeded data is a page and more: the fuzz gets real page tokens to mutate"
    assets = re.findall(r"/dashboard/assets/([\w.-]+)\?v=(\w+)", linked)
    versions = re.findall(r"\?v=(\w+)", linked)
    assert assets, "the dashboard links its assets"
    now = datetime.now(UTC).isoformat()
    known = {
        "session_id": [*SESSIONS],
        "sessionId": [*SESSIONS],
        "pageToken": tokens,
        "name": sorted({name for name, _ in assets}),
        "v": sorted(set(versions)),
        # for bodies: what Ingest takes as a real currency and a time of now
        "currency": ["EUR"],
        "timestamp": [now],
        "sentAt": [now],
    }
    return Target(gateway.url, document, known)


# --- values worth trying ----------------------------------------------------------------------------------

_ANY_TEXT = ["", " ", "\x00", "a\x00b", "null", "true", "[]", "🙂", "\u202e", "\ufeff", "a" * 3000]
#: Parameter values by documented type, as the text of a query string or path segment.
TEXT_VALUES: dict[str, list[str]] = {
    "integer": [
        *("-1", "0", "1", "-0", "+1", " 1", "1 ", "1.0", "1.5", "1e3", "0x10", "1_000", "nan", "inf"),
        *(str(2**31 - 1), str(2**31), str(-(2**31) - 1), str(2**53 + 1), str(2**63), str(-(2**63) - 1)),
        *(str(2**64), "9" * 40, "\u00b2", "\u0661\u0662", "\U0001d7d7", "\u216b", "\u00bd", "\uff11"),
    ],
    "number": [
        *("-1", "0", "-0", "1.5", "nan", "NaN", "inf", "-inf", "Infinity", "1e308", "1e309", "-1e309"),
        *("5e-324", "1e-400", "0x1p3", "1_0", "1" + "0" * 400, "\u00b2", "\u0661\u0662", "\uff11"),
    ],
    "date-time": [
        *("0001-01-01T00:00:00Z", "0001-01-01T00:00:00+14:00", "0001-01-01T00:00:00-14:00"),
        *("9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59+14:00", "9999-12-31T23:59:59-14:00"),
        *("1970-01-01T00:00:00", "2026-02-30T00:00:00Z", "2026-03-10T24:00:00Z", "2026-03-10"),
        *("2026-03-10T12:00:00+25:00", "20260310T120000Z", "2026-W11-2", "+002026-03-10T00:00:00Z"),
        *("2026-03-10T12:00:00.1234567890Z", "now", "0", "-1", "1e20"),
    ],
    "string": ["%", "%00", "../..", "'", '"', "\\", "${x}", "\u0130", "\u01c5", "x" * 200],
}
#: JSON values for any node of a body.
JSON_VALUES: list[Any] = [
    *(None, True, -1, 0, 2**31, 2**63, -(2**63) - 1, 2**64, 10**30, 1.5, -1e308, 1e308, 5e-324),
    *(-62_135_596_800_001, 253_402_300_800_000, "", "\x00", "a\x00b", "\ud83d", "🙂", "\u00b2", "a" * 5000),
    *("0001-01-01T00:00:00Z", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59Z"),
    *("9999-12-31T23:59:59-14:00", "2026-02-30T00:00:00Z"),
    *([], {}, [None], {"": None}, {"a": {"b": {"c": [1, [2, [3]]]}}}),
]


def _nested(depth: int) -> Any:
    value: Any = 1
    for level in range(depth):
        value = [value] if level % 2 else {"a": value}
    return value


JSON_VALUES += [_nested(40), _nested(300)]

#: Headers worth sending on any request.
HEADER_VALUES: list[tuple[str, bytes]] = [
    ("User-Agent", b""),
    ("User-Agent", "Mozilla/5.0 🙂".encode() * 300),
    ("X-Forwarded-For", b"not an address"),
    ("X-Forwarded-For", b"::1, 2001:db8::1, 999.1.1.1"),
    ("X-Forwarded-For", b""),
    ("Accept-Encoding", b"gzip;q=0, *;q=0"),
    ("Accept-Encoding", b"identity"),
    ("If-None-Match", b"*"),
    ("If-None-Match", b'W/"", "'),
    ("Content-Type", b"application/json; charset=utf-16"),
    ("Authorization", b"Bearer"),
    ("Authorization", b"bearer  " + ADMIN.encode()),
    ("Authorization", "Bearer ünïcödé".encode()),
    ("X-Write-Key", "ünïcödé".encode()),
    ("X-Write-Key", b"x" * 4000),
]
#: Whole-body changes.
BODY_TWISTS = (
    "gzip",  # properly gzip-encoded
    "gzip-label",  # labelled gzip, sent plain
    "gzip-truncated",
    "gzip-bomb",  # small on the wire, far over the limit inflated
    "oversize",
    "empty",
    "bytes",  # bytes that are not JSON, not UTF-8
    "json",  # a JSON value that is not an object
    "encoding",  # a Content-Encoding other than gzip
    "content-type",  # an odd Content-Type
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _decoded(token: str) -> Any:
    """What a page token holds when it is base64url JSON (as the real ones found here are); else None."""
    try:
        return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError):
        return None


def _nodes(value: Any, at: tuple[Any, ...] = (), *, every_item: bool = True) -> Iterator[tuple[Any, ...]]:
    """The paths (keys and indexes) of the nodes below the top of a JSON value; without ``every_item``
    only a list's first item (for a body's lists, whose items have one schema)."""
    children: Any = ()
    if isinstance(value, dict):
        children = value.items()
    elif isinstance(value, list):
        children = enumerate(value if every_item else value[:1])
    for key, child in children:
        yield (*at, key)
        yield from _nodes(child, (*at, key), every_item=every_item)


def _set(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    changed = copy.deepcopy(value)
    node = changed
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = new
    return changed


def _with_known(value: Any, known: Mapping[str, Sequence[str]]) -> Any:
    """``value`` with every property named as a known value set to it (ids of seeded sessions, …)."""
    if isinstance(value, dict):
        return {
            key: known[key][0] if key in known and isinstance(item, str | float) else _with_known(item, known)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_with_known(item, known) for item in value]
    return value


def near_misses(known: str) -> list[str]:
    """A real value and values next to it: cut, a character changed, and, for a token that is base64url
    JSON, the same JSON with each node set to each hostile value."""
    out = [known, known[: len(known) // 2], known[:-1] + ("A" if known[-1:] != "A" else "B"), known + "="]
    inside = _decoded(known)
    if isinstance(inside, list | dict):
        texts = [*TEXT_VALUES["date-time"], *_ANY_TEXT, *TEXT_VALUES["integer"][:8]]
        for path in _nodes(inside):
            for new in [*JSON_VALUES[:16], *texts]:
                out.append(_b64(json.dumps(_set(inside, path, new)).encode()))
    return out


@st.composite
def _timestamps(draw: st.DrawFn) -> str:
    """ISO 8601 times anywhere in years 1..9999, with any offset or none."""
    moment = draw(st.datetimes())
    offset = timezone(timedelta(minutes=draw(st.integers(-1439, 1439))))
    return draw(st.sampled_from([moment.replace(tzinfo=offset).isoformat(), moment.isoformat()]))


_all_texts = sorted({text for texts in TEXT_VALUES.values() for text in texts} | set(_ANY_TEXT))
_texts = (
    st.sampled_from(_all_texts)
    | st.text(max_size=40)
    | st.integers(-(2**70), 2**70).map(str)
    | st.floats().map(repr)
    | _timestamps()
)
_json_values = st.recursive(
    st.sampled_from(JSON_VALUES) | st.integers() | st.floats(allow_nan=False) | _texts,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def parameter_values(known: Sequence[str]) -> st.SearchStrategy[str]:
    if not known:
        return _texts
    return st.sampled_from([miss for value in known for miss in near_misses(value)]) | _texts


#: Header values h11 will send: no control characters, no whitespace at either end; non-ASCII as UTF-8.
_header_values = (
    st.text(st.characters(blacklist_categories=["Cc", "Cs", "Zl", "Zp"]), max_size=60).map(str.strip)
    | st.sampled_from(["", "0", "-1", "999999999999", "*", "gzip", "br", "gzip;q=0", "🙂", "a" * 2000])
).map(lambda text: text.encode())
#: Headers that frame the request: the client sets them, a made-up one could only make it refuse to send.
_FRAMING = {"host", "content-length", "transfer-encoding", "connection", "expect", "upgrade", "te", "trailer"}
_header_names = st.sampled_from(sorted({name for name, _ in HEADER_VALUES} | {"Origin", "Forwarded"})) | (
    st.from_regex(r"\A[A-Za-z][A-Za-z0-9-]{0,20}\Z").filter(lambda name: name.lower() not in _FRAMING)
)


# --- what the document says of one operation ---------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What the served document says of one operation: its parameters, body, credentials, answers."""

    method: str
    path: str
    #: name → documented type ("integer", "number", "date-time", "string")
    path_parameters: dict[str, str]
    query_parameters: dict[str, str]
    required_query: list[str]
    has_body: bool
    #: alternatives, each a list of scheme names that together authorize a request
    security: list[list[str]]
    schemes: dict[str, dict[str, Any]]
    streams: bool

    @classmethod
    def of(cls, document: Mapping[str, Any], method: str, path: str) -> Plan:
        operation = document["paths"][path][method.lower()]
        parameters = operation.get("parameters", [])
        media = {kind for response in operation["responses"].values() for kind in response.get("content", {})}

        def kind(schema: Mapping[str, Any]) -> str:
            if schema.get("format") == "date-time":
                return "date-time"
            documented = str(schema.get("type"))
            return documented if documented in ("integer", "number") else "string"

        return cls(
            method=method,
            path=path,
            path_parameters={p["name"]: kind(p["schema"]) for p in parameters if p["in"] == "path"},
            query_parameters={p["name"]: kind(p["schema"]) for p in parameters if p["in"] == "query"},
            required_query=[p["name"] for p in parameters if p["in"] == "query" and p.get("required")],
            has_body="requestBody" in operation,
            security=[list(alternative) for alternative in operation.get("security", document["security"])],
            schemes=document["components"]["securitySchemes"],
            streams="text/event-stream" in media,
        )

    @property
    def has_inputs(self) -> bool:
        return bool(self.path_parameters or self.query_parameters or self.has_body)

    def credential_headers(self) -> set[str]:
        names = {"authorization"}
        names |= {s["name"].lower() for s in self.schemes.values() if s.get("in") == "header"}
        return names

    def credential_query(self) -> set[str]:
        return {s["name"] for s in self.schemes.values() if s.get("in") == "query"}


# --- requests -----------------------------------------------------------------------------------------------


@dataclass
class Draft:
    """A request before it is built: what the phases change."""

    method: str
    path: dict[str, str]
    query: list[tuple[str, str]]
    headers: list[tuple[str, bytes]]
    body: bytes | None

    def copy(self, **changes: Any) -> Draft:
        return replace(
            self, path=dict(self.path), query=list(self.query), headers=list(self.headers), **changes
        )

    def set_header(self, name: str, value: bytes) -> None:
        self.headers = [(key, item) for key, item in self.headers if key.lower() != name.lower()]
        self.headers.append((name, value))

    def set_query(self, name: str, value: str, *, keep: bool = False) -> None:
        if not keep:
            self.query = [(key, item) for key, item in self.query if key != name]
        self.query.append((name, value))


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value)


def _header_value(value: Any) -> bytes:
    """A generated header value as HTTP can carry it (h11 refuses control characters and whitespace at
    either end rather than send them)."""
    text = "".join(char for char in str(value) if char >= " " and char != "\x7f")
    return text.strip(" \t").encode()


def from_case(plan: Plan, case: schemathesis.Case[Any]) -> Draft:
    """A schemathesis case as a draft: its method, parameters and headers, its body serialized as
    schemathesis would send it (JSON or text, as its media type says)."""
    query: list[tuple[str, str]] = []
    for name, value in (case.query or {}).items():
        for item in value if isinstance(value, list) else [value]:
            query.append((name, _text(item)))
    draft = Draft(
        method=case.method.upper(),
        path={name: _text(value) for name, value in (case.path_parameters or {}).items()},
        query=query,
        headers=[(str(name), _header_value(value)) for name, value in (case.headers or {}).items()],
        body=None,
    )
    if plan.has_body:
        sent = case.as_transport_kwargs(base_url="http://unused")
        if "json" in sent:
            draft.body = json.dumps(sent["json"]).encode()
        elif sent.get("data") is not None:
            data = sent["data"]
            draft.body = data if isinstance(data, bytes) else str(data).encode()
        if draft.body is not None and case.media_type:
            draft.set_header("Content-Type", case.media_type.encode())
    return draft


def authorize(plan: Plan, draft: Draft, how: str = "valid", choice: int = 0) -> None:
    """Replace the credentials schemathesis made up: "valid" ones of one of the operation's alternatives,
    "none", a real one of "any" scheme (of the wrong kind for some operations), or leave them
    ("generated")."""
    if how == "generated":
        return
    stripped = plan.credential_headers()
    draft.headers = [(name, value) for name, value in draft.headers if name.lower() not in stripped]
    draft.query = [(name, value) for name, value in draft.query if name not in plan.credential_query()]
    if how == "none":
        return
    if how == "valid":
        if not any(plan.security):
            return
        schemes = plan.security[choice % len(plan.security)]
    else:
        names = sorted(plan.schemes)
        schemes = [names[choice % len(names)]]
    for name in schemes:
        scheme, credential = plan.schemes[name], CREDENTIALS[name]
        if scheme["type"] == "http":
            assert scheme["scheme"] == "bearer", scheme
            draft.headers.append(("Authorization", f"Bearer {credential}".encode()))
        elif scheme["in"] == "header":
            draft.headers.append((scheme["name"], credential.encode()))
        else:
            assert scheme["in"] == "query", scheme
            draft.query.append((scheme["name"], credential))


def twist_body(draft: Draft, twist: str, value: Any = None) -> None:
    """Change the whole body (and its Content-Encoding or Content-Type) as ``twist`` says."""
    plain = draft.body if draft.body is not None else b"{}"
    if twist == "gzip":
        draft.set_header("Content-Encoding", b"gzip")
        draft.body = gzip.compress(plain)
    elif twist == "gzip-label":
        draft.set_header("Content-Encoding", b"gzip")
        draft.body = plain
    elif twist == "gzip-truncated":
        draft.set_header("Content-Encoding", b"gzip")
        draft.body = gzip.compress(plain)[: max(1, len(plain) // 2)]
    elif twist == "gzip-bomb":
        draft.set_header("Content-Encoding", b"gzip")
        draft.body = gzip.compress(b'{"a": "' + b" " * (MAX_BODY_BYTES * 8) + b'"}')
    elif twist == "oversize":
        draft.body = b'{"a": "' + b"x" * MAX_BODY_BYTES + b'"}'
    elif twist == "empty":
        draft.body = b""
    elif twist == "bytes":
        draft.body = value if isinstance(value, bytes) else b"\xff\xfe{" + plain[::-1]
    elif twist == "json":
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        draft.body = json.dumps(value if not isinstance(value, dict) else [value]).encode()
    elif twist == "encoding":
        draft.set_header("Content-Encoding", value.encode() if isinstance(value, str) else b"br")
        draft.body = plain
    else:
        assert twist == "content-type", twist
        draft.set_header("Content-Type", b"application/x-www-form-urlencoded; charset=latin-1")
        draft.body = plain


def build(client: httpx.Client, plan: Plan, draft: Draft) -> httpx.Request:
    values = {name: "x" for name in plan.path_parameters} | draft.path
    path = re.sub(r"\{(\w+)\}", lambda m: quote(values[m[1]], safe=""), plan.path)
    return client.build_request(
        draft.method,
        path,
        params=tuple(draft.query),
        headers=[(name.encode(), value) for name, value in draft.headers],
        content=draft.body,
    )


def send(client: httpx.Client, request: httpx.Request, plan: Plan) -> httpx.Response:
    """The answer, read whole; an event stream's (endless) only as far as its head."""
    response = client.send(request, stream=True)
    try:
        streaming = plan.streams and response.headers.get("content-type", "").startswith("text/event-stream")
        if not streaming:
            response.read()
    finally:
        response.close()
    return response


def describe(request: httpx.Request, response: httpx.Response | None = None) -> str:
    body = request.content
    text = (
        f"{request.method} {request.url}\nrequest headers: {request.headers.raw}\n"
        f"request body ({len(body)} bytes): {body[:300]!r}"
    )
    if response is not None:
        try:
            answer = response.content
        except httpx.ResponseNotRead:  # an event stream, left after its head
            answer = b"(event stream)"
        text += f"\n-> {response.status_code} {response.headers.get('content-type')}: {answer[:600]!r}"
    return text


def problem(response: httpx.Response) -> str | None:
    """What is wrong with an answer: a 5xx, or an error not in the documented shape; None if nothing."""
    if response.status_code >= 500:
        return f"server error {response.status_code}"
    if response.status_code < 400:
        return None
    if not response.headers.get("content-type", "").startswith("application/json"):
        return "error not JSON"
    try:
        body = json.loads(response.content)
    except ValueError:
        return "error not JSON"
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return 'error without "error"'
    for name in ("code", "message"):
        if not isinstance(error.get(name), str) or not error[name]:
            return f"error without {name}"
    violations = error.get("fields")
    if not isinstance(violations, list) or not all(
        isinstance(v, dict) and isinstance(v.get("field"), str) and isinstance(v.get("reason"), str)
        for v in violations
    ):
        return "error without a list of fields"
    return None


@dataclass
class Run:
    """The answers to one operation: statuses counted, problems kept (one example of each)."""

    client: httpx.Client
    plan: Plan
    statuses: Counter[int] = field(default_factory=Counter)
    problems: dict[tuple[str, int, str], tuple[int, str]] = field(default_factory=dict)
    last_status: int = 200

    def send(self, draft: Draft, changed: str) -> int:
        """Send; the status (0 when the connection broke without an answer). ``changed`` says what this
        request tries, for the report."""
        request = build(self.client, self.plan, draft)
        try:
            try:
                response = send(self.client, request, self.plan)
            except httpx.TransportError:
                if self.last_status < 500:
                    raise
                # after a 5xx the server may close the connection: the error is noted, send again
                response = send(self.client, build(self.client, self.plan, draft), self.plan)
        except httpx.TransportError as error:
            self.statuses[0] += 1
            self.last_status = 0
            self.note(f"no answer ({error!r})", 0, "", f"tried: {changed}\n{describe(request)}")
            return 0
        self.last_status = response.status_code
        self.statuses[response.status_code] += 1
        found = problem(response)
        if found is not None:
            body = ""
            if response.headers.get("content-type", "").startswith("application/json"):
                body = re.sub(r"\d+", "N", response.text[:100])
            self.note(found, response.status_code, body, f"tried: {changed}\n{describe(request, response)}")
        return response.status_code

    def note(self, found: str, status: int, body: str, example: str) -> None:
        count, first = self.problems.get((found, status, body), (0, example))
        self.problems[found, status, body] = (count + 1, first)

    @property
    def sent(self) -> int:
        return sum(self.statuses.values())

    @property
    def past_auth(self) -> int:
        return sum(count for status, count in self.statuses.items() if status not in (401, 403))

    def report(self) -> str:
        return "\n\n".join(
            f"{found} ({count} requests like this one):\n{example}"
            for (found, _, _), (count, example) in self.problems.items()
        )


# --- phase 1: coverage --------------------------------------------------------------------------------------


def coverage(run: Run, target: Target, operation: schemathesis.APIOperation[Any, Any, Any, Any]) -> None:
    plan = run.plan
    schema = operation.schema
    modes = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
    config = schema.config.generation_for(operation=operation)
    positive_bodies: list[bytes] = []
    base_values: dict[str, str] = {}
    for case in schema.iter_coverage_cases(operation, generation_modes=modes, generation_config=config):
        draft = from_case(plan, case)
        authorize(plan, draft)
        meta = case.meta
        scenario = getattr(meta.phase.data, "description", "") if meta is not None else ""
        run.send(draft, f"schemathesis coverage case: {scenario}")
        if meta is not None and meta.generation.mode == schemathesis.GenerationMode.POSITIVE:
            if draft.body is not None and draft.method == plan.method:
                positive_bodies.append(draft.body)
            for name, value in [*draft.path.items(), *draft.query]:
                base_values.setdefault(name, value)

    # the base: what a browser or the dashboard would send; then one thing changed at a time
    base = Draft(plan.method, {}, [], [], None)
    for name in plan.path_parameters:
        base.path[name] = (target.known.get(name) or [base_values.get(name, "x")])[0]
    for name in plan.required_query:
        base.set_query(name, (target.known.get(name) or [base_values.get(name, "x")])[0])
    authorize(plan, base)
    if plan.has_body:
        base.set_header("Content-Type", b"application/json")
        # the positive body with the most in it that the gateway accepts (or the largest), with the
        # known values where it has their names; in the order generated (deterministic), largest first
        by_size = sorted(
            dict.fromkeys(
                json.dumps(_with_known(json.loads(body), target.known)).encode() for body in positive_bodies
            ),
            key=lambda body: -len(list(_nodes(json.loads(body), every_item=False))),
        )
        base.body = by_size[0] if by_size else b"{}"
        for body in by_size[:8]:
            if 200 <= run.send(base.copy(body=body), "a body for the base request") < 300:
                base.body = body
                break
        # and the one with the least in it that is accepted: each property alone on top of it, so that
        # what the handlers default the others to is tried with it
        least = by_size[-1] if by_size else b"{}"
        for body in by_size[::-1][:8]:
            if 200 <= run.send(base.copy(body=body), "a small body for the base request") < 300:
                least = body
                break

    for name, kind in {**plan.query_parameters, **plan.path_parameters}.items():
        values = [*TEXT_VALUES[kind], *_ANY_TEXT]
        for known in target.known.get(name, []):
            values += near_misses(known)
        for value in values:
            draft = base.copy()
            if name in plan.path_parameters:
                draft.path[name] = value
            else:
                draft.set_query(name, value)
            inside = _decoded(value) if name in target.known else None
            decoded = f" (base64url of {json.dumps(inside)[:100]})" if inside is not None else ""
            run.send(draft, f"parameter {name} = {value!r:.100}{decoded}")
    if base.body is not None:
        document = json.loads(base.body)
        for path in _nodes(document, every_item=False):
            for value in JSON_VALUES:
                body = json.dumps(_set(document, path, value)).encode()
                run.send(base.copy(body=body), f"body at {list(path)} = {value!r:.100}")
        small = json.loads(least)
        if isinstance(document, dict) and isinstance(small, dict):
            for key in [key for key in document if key not in small]:
                for value in JSON_VALUES:
                    body = json.dumps({**small, key: value}).encode()
                    run.send(base.copy(body=body), f"{key} = {value!r:.100} added to the body {least!r:.200}")
        for twist in BODY_TWISTS:
            for extra in (None, b"\x00\xff not json", "deflate", "gzip, gzip", "[1, 2]"):
                draft = base.copy()
                twist_body(draft, twist, extra)
                run.send(draft, f"body {twist} ({extra!r})")
    for header, raw in HEADER_VALUES:
        draft = base.copy()
        draft.set_header(header, raw)
        run.send(draft, f"header {header}: {raw!r:.100}")


# --- phase 2: fuzzing ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Twist:
    """What is changed in a generated request; drawn by Hypothesis, shown when an example fails."""

    auth: str
    auth_choice: int
    path: dict[str, str]
    #: (name, value, keep the generated values of that name: the parameter is then given twice)
    query: list[tuple[str, str, bool]]
    headers: list[tuple[str, bytes]]
    body: str | None
    body_value: Any


def twists(plan: Plan, known: Mapping[str, Sequence[str]]) -> st.SearchStrategy[Twist]:
    names = sorted({*plan.query_parameters, *plan.credential_query(), "unknown"})
    query_edit = (st.sampled_from(names) | st.text(min_size=1, max_size=10)).flatmap(
        lambda name: st.tuples(st.just(name), parameter_values(known.get(name, [])), st.booleans())
    )
    # shrinks towards valid credentials: what most examples send
    auth = st.integers(0, 9).map(lambda n: "valid" if n < 7 else ("generated", "none", "any")[n - 7])
    return st.builds(
        Twist,
        auth=auth,
        auth_choice=st.integers(0, 10),
        path=st.fixed_dictionaries(
            {}, optional={name: parameter_values(known.get(name, [])) for name in plan.path_parameters}
        ),
        query=st.lists(query_edit, max_size=4),
        headers=st.lists(st.tuples(_header_names, _header_values), max_size=3),
        body=st.none() | st.sampled_from(BODY_TWISTS) if plan.has_body else st.none(),
        body_value=st.binary(max_size=80) | _json_values | st.sampled_from(["br", "deflate", "GZIP", "x"]),
    )


def fuzzing(run: Run, target: Target, operation: schemathesis.APIOperation[Any, Any, Any, Any]) -> None:
    plan = run.plan
    cases = operation.as_strategy(schemathesis.GenerationMode.POSITIVE)
    if plan.has_inputs:  # an operation without parameters or body has no invalid form of its own
        cases |= operation.as_strategy(schemathesis.GenerationMode.NEGATIVE)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,  # each example is a round trip through four servers
        database=None,  # one inner test per operation: nothing to replay between them
        # schemathesis' strategies are large and filter (negative cases must break the schema)
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
        # the coverage phase lists every kind of failure; here the first, shrunk, keeps the run short
        report_multiple_bugs=False,
    )
    @given(case=cases, twist=twists(plan, target.known))
    def one_request(case: schemathesis.Case[Any], twist: Twist) -> None:
        draft = from_case(plan, case)
        authorize(plan, draft, twist.auth, twist.auth_choice)
        draft.path.update(twist.path)
        for name, value, keep in twist.query:
            draft.set_query(name, value, keep=keep)
        for name, raw in twist.headers:
            draft.set_header(name, raw)
        if twist.body is not None:
            twist_body(draft, twist.body, twist.body_value)
        request = build(run.client, plan, draft)
        note(describe(request))  # shown with a failing example
        try:
            response = send(run.client, request, plan)
        except httpx.TransportError as error:
            raise AssertionError(f"no answer ({error!r}):\n{describe(request)}") from error
        run.statuses[response.status_code] += 1
        found = problem(response)
        assert found is None, f"{found}:\n{describe(request, response)}"

    one_request()


def fuzz(target: Target, plan: Plan) -> Run:
    """Both phases over one operation (blocking: in a thread, while the event loop serves the gateway)."""
    schema = schemathesis.openapi.from_dict(target.document)
    operation = schema[plan.path][plan.method]
    with httpx.Client(base_url=target.url, timeout=30) as client:
        run = Run(client, plan)
        coverage(run, target, operation)
        if run.problems:  # the coverage phase's findings first: one of each, all of them
            return run
        fuzzing(run, target, operation)
    return run


# --- the tests --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
async def test_no_request_makes_a_server_error(target: Target, method: str, path: str) -> None:
    plan = Plan.of(target.document, method, path)
    run = await asyncio.to_thread(fuzz, target, plan)
    if run.problems:
        pytest.fail(f"{method} {path}: {len(run.problems)} kinds of failure\n\n{run.report()}", pytrace=False)
    assert run.sent >= EXAMPLES, run.statuses
    assert run.past_auth >= run.sent // 2, f"most requests should reach the handler: {run.statuses}"


async def test_the_fuzz_covers_every_documented_operation(target: Target, gateway: RunningGateway) -> None:
    documented = [
        (method.upper(), path)
        for path, operations in target.document["paths"].items()
        for method in operations
    ]
    assert sorted(documented) == sorted(OPERATIONS), "the fuzz is parametrized by what the gateway documents"
    routed = {
        (method, getattr(route, "path", ""))
        for route in gateway.app.routes
        for method in getattr(route, "methods", None) or ()
        if method != "HEAD"
    }
    assert routed == set(OPERATIONS), "every route the gateway serves is documented, and so fuzzed"
    schema = schemathesis.openapi.from_dict(target.document)
    assert len(schema) == len(OPERATIONS), "schemathesis reads every documented operation"
    for method, path in OPERATIONS:
        assert schema[path][method].path == path
    assert set(target.document["components"]["securitySchemes"]) == set(CREDENTIALS)
