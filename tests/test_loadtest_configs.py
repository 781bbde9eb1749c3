"""The ghz configs in ``loadtest/ghz/`` call real Ingest RPCs with valid data whose ids never repeat.

ghz renders the call data as a Go template for every call (and, with ``stream-dynamic-messages``, for every
message of a stream). These tests render the same templates the same way, with sample values, so a config
whose ids would repeat (and be deduplicated into no-ops) or whose data Ingest would reject fails here.
"""

from __future__ import annotations

import json
import re
import secrets
import string
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from configtrail.common.v1 import events_pb2
from configtrail.ingest.v1 import ingest_pb2
from configtrail.settings import DEFAULT_INGEST_PORT, CommonSettings
from services.ingest.validation import (
    Clock,
    Limits,
    check_interaction,
    check_metric,
    check_session,
    check_snapshot,
)

ROOT = Path(__file__).resolve().parent.parent
GHZ_DIR = ROOT / "loadtest" / "ghz"
CONFIGS = sorted(GHZ_DIR.glob("*.json"))
INGEST = ingest_pb2.DESCRIPTOR.services_by_name["Ingest"]

# the RPCs a load test must cover: unary, batch, stream, and session starts
REQUIRED_RPCS = {"TrackInteraction", "TrackBatch", "StreamEvents", "StartSession"}
BATCH_ITEMS = 100

# ghz's config file keys (runner.Config JSON tags); a misspelt key is silently ignored by ghz
GHZ_KEYS = {
    "proto", "protoset", "call", "import-paths", "cacert", "cert", "key", "cname", "skipTLS", "insecure",
    "authority", "async", "rps", "load-schedule", "load-start", "load-end", "load-step",
    "load-step-duration", "load-max-duration", "concurrency", "concurrency-schedule", "concurrency-start",
    "concurrency-end", "concurrency-step", "concurrency-step-duration", "concurrency-max-duration", "total",
    "timeout", "duration", "max-duration", "duration-stop", "data", "data-file", "binary-file", "metadata",
    "metadata-file", "reflect-metadata", "stream-interval", "stream-call-duration", "stream-call-count",
    "stream-dynamic-messages", "output", "format", "skipFirst", "count-errors", "connections",
    "connect-timeout", "keepalive", "enable-compression", "lb-strategy", "name", "tags", "cpus", "debug",
    "host",
}  # fmt: skip

TEMPLATE_ACTION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}")


@dataclass
class CallData:
    """ghz's call template data for one call: the variables and functions a config may use."""

    request_number: int
    worker_id: str
    call_uuid: str = field(default_factory=lambda: str(uuid.uuid4()))

    def regenerate(self) -> CallData:
        """What ghz does before each message of a stream with ``stream-dynamic-messages``."""
        return CallData(self.request_number, self.worker_id)

    def render(self, text: str) -> str:
        now = datetime.now(UTC)

        def action(match: re.Match[str]) -> str:
            expression = match.group(1)
            values = {
                "newUUID": lambda: str(uuid.uuid4()),
                ".UUID": lambda: self.call_uuid,
                ".RequestNumber": lambda: str(self.request_number),
                ".WorkerID": lambda: self.worker_id,
                ".Timestamp": lambda: now.isoformat(timespec="seconds"),
                ".TimestampUnix": lambda: str(int(now.timestamp())),
                ".TimestampUnixMilli": lambda: str(int(now.timestamp() * 1000)),
                ".TimestampUnixNano": lambda: str(int(now.timestamp() * 1_000_000_000)),
            }
            if expression in values:
                return values[expression]()
            random_string = re.fullmatch(r"randomString\s+(\d+)", expression)
            if random_string:
                alphabet = string.ascii_letters + string.digits
                return "".join(secrets.choice(alphabet) for _ in range(int(random_string.group(1)) or 8))
            raise AssertionError(f"unknown ghz template action {match.group(0)!r}")

        return TEMPLATE_ACTION.sub(action, text)


def load(path: Path) -> dict[str, Any]:
    config: dict[str, Any] = json.loads(path.read_text())
    return config


def method_of(call: str) -> MethodDescriptor:
    """ghz accepts ``package.Service/Method`` and ``package.Service.Method``."""
    service, slash, method = call.rpartition("/")
    if not slash:
        service, _, method = call.rpartition(".")
    assert service == INGEST.full_name, f"{call}: not the Ingest service {INGEST.full_name}"
    assert method in INGEST.methods_by_name, f"{call}: Ingest has no RPC {method}"
    return INGEST.methods_by_name[method]


def render_call(config: dict[str, Any], call: CallData) -> list[Message]:
    """The request messages ghz sends in one call, parsed as Ingest would receive them."""
    method = method_of(config["call"])
    request_class = GetMessageClass(method.input_type)

    def parse(template: Any, data: CallData) -> Message:
        message = request_class()
        json_format.Parse(data.render(json.dumps(template)), message)
        return message

    data = config["data"]
    if not method.client_streaming:
        assert isinstance(data, dict), "a unary call takes one message (an array would be sent round-robin)"
        return [parse(data, call)]
    templates = data if isinstance(data, list) else [data]
    count = int(config.get("stream-call-count") or len(templates))
    if config.get("stream-dynamic-messages"):
        return [parse(templates[i % len(templates)], call.regenerate()) for i in range(count)]
    rendered = [parse(template, call) for template in templates]
    return [rendered[i % len(rendered)] for i in range(count)]


def records(message: Message) -> Iterator[Message]:
    """Every session, interaction, snapshot and metric inside a request message."""
    if isinstance(
        message,
        events_pb2.UserSession
        | events_pb2.InteractionEvent
        | events_pb2.ConfigurationSnapshot
        | events_pb2.PerformanceMetric,
    ):
        yield message
        return
    for descriptor, value in message.ListFields():
        if descriptor.message_type is None:
            continue
        children = value if descriptor.is_repeated else [value]
        for child in children:
            yield from records(child)


def record_id(record: Message) -> str:
    if isinstance(record, events_pb2.InteractionEvent):
        return record.event_id
    if isinstance(record, events_pb2.ConfigurationSnapshot):
        return record.snapshot_id
    if isinstance(record, events_pb2.PerformanceMetric):
        return record.metric_id
    assert isinstance(record, events_pb2.UserSession)
    return record.session_id


def validate(record: Message, limits: Limits) -> None:
    """Raises ValidationError when Ingest would reject the record."""
    clock = Clock(datetime.now(UTC))
    if isinstance(record, events_pb2.InteractionEvent):
        check_interaction(record, clock, limits)
    elif isinstance(record, events_pb2.ConfigurationSnapshot):
        check_snapshot(record, clock, limits)
    elif isinstance(record, events_pb2.PerformanceMetric):
        check_metric(record, clock, limits)
    else:
        assert isinstance(record, events_pb2.UserSession)
        check_session(record, clock, limits)


def makefile_protoset() -> str:
    """Where ``make protoset`` writes the descriptor set."""
    match = re.search(r"--descriptor_set_out=(\S+)", (ROOT / "Makefile").read_text())
    assert match, "Makefile: no protoset target writing --descriptor_set_out"
    return match.group(1)


def test_every_ingest_load_shape_has_a_config() -> None:
    called = {method_of(load(path)["call"]).name for path in CONFIGS}
    assert called >= REQUIRED_RPCS, f"no ghz config for {sorted(REQUIRED_RPCS - called)}"


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_targets_ingest(path: Path) -> None:
    config = load(path)
    unknown = set(config) - GHZ_KEYS
    assert not unknown, f"not ghz config keys (ghz ignores them): {sorted(unknown)}"
    method_of(config["call"])
    assert config.get("insecure") is True, "configtrail's gRPC servers listen in plaintext"
    assert config["host"].rpartition(":")[2] == str(DEFAULT_INGEST_PORT)
    assert "total" in config or "duration" in config
    if "protoset" in config:
        assert config["protoset"] == makefile_protoset(), "not the protoset `make protoset` builds"
    assert "proto" not in config, "use the protoset or server reflection, not a copy of the .proto"


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_data_parses_and_passes_validation(path: Path) -> None:
    config = load(path)
    limits = Limits.from_settings(CommonSettings())
    messages = render_call(config, CallData(request_number=7, worker_id=f"{config.get('name', '')}:g0c0"))
    found = [record for message in messages for record in records(message)]
    assert found, "the data carries no session, interaction, snapshot or metric"
    for record in found:
        validate(record, limits)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_ids_differ_between_items_and_calls(path: Path) -> None:
    config = load(path)
    calls = [CallData(0, "g0c0"), CallData(1, "g0c0"), CallData(2, "g1c1")]
    ids = [record_id(r) for call in calls for message in render_call(config, call) for r in records(message)]
    assert all(ids), "an empty id is assigned by the server; give a templated one ({{newUUID}})"
    repeated = {i for i in ids if ids.count(i) > 1}
    assert not repeated, f"ids repeat between items or calls, so the load would be deduplicated: {repeated}"


def test_batch_config_sends_a_full_batch() -> None:
    batch_configs = [load(p) for p in CONFIGS if method_of(load(p)["call"]).name == "TrackBatch"]
    assert batch_configs
    largest = CommonSettings.model_fields["max_batch_items"].default
    for config in batch_configs:
        (request,) = render_call(config, CallData(0, "g0c0"))
        assert isinstance(request, ingest_pb2.TrackBatchRequest)
        assert len(request.items) == BATCH_ITEMS
        assert len(request.items) <= largest


def test_stream_config_sends_several_messages_with_distinct_ids() -> None:
    stream_configs = [load(p) for p in CONFIGS if method_of(load(p)["call"]).client_streaming]
    assert stream_configs
    for config in stream_configs:
        messages = render_call(config, CallData(0, "g0c0"))
        assert len(messages) > 1, "a stream of one message measures nothing a unary call would not"
        message_ids = [m.message_id for m in messages if isinstance(m, ingest_pb2.StreamEventsRequest)]
        assert len(message_ids) == len(messages)
        assert len(set(message_ids)) == len(message_ids), "acknowledgements are matched by message_id"
