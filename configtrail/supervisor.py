"""Runs services as child processes: start, wait until healthy, restart with backoff, stop in order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

logger = logging.getLogger(__name__)

HealthCheck = Callable[[], Awaitable[bool]]


def grpc_health_check(address: str) -> HealthCheck:
    """Healthy when the server at ``address`` answers SERVING for the overall service."""

    async def check() -> bool:
        async with grpc.aio.insecure_channel(address) as channel:
            stub: Any = health_pb2_grpc.HealthStub(channel)  # the stubs package types only the sync stub
            try:
                reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
            except grpc.aio.AioRpcError:
                return False
            return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    return check


def http_health_check(host: str, port: int, path: str = "/healthz") -> HealthCheck:
    """Healthy when ``GET path`` answers 200."""

    async def check() -> bool:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1.0)
        except (OSError, TimeoutError):
            return False
        try:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
            status_line = await asyncio.wait_for(reader.readline(), 1.0)
            return status_line.split(b" ")[1:2] == [b"200"]
        except (OSError, TimeoutError, IndexError):
            return False
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    return check


@dataclass
class Child:
    """One supervised service process."""

    name: str
    argv: Sequence[str]
    env: dict[str, str]
    healthy: HealthCheck
    process: asyncio.subprocess.Process | None = None
    restarts: int = 0
    _watch: asyncio.Task[None] | None = field(default=None, repr=False)


class Supervisor:
    """Keeps its children running until :meth:`stop`: a child that dies is restarted with backoff."""

    def __init__(self, children: Sequence[Child], *, max_backoff: float = 30.0) -> None:
        self.children = list(children)
        self._stopping = False
        self._max_backoff = max_backoff

    async def start(self) -> None:
        for child in self.children:
            await self._spawn(child)
            child._watch = asyncio.get_running_loop().create_task(
                self._watch(child), name=f"watch-{child.name}"
            )

    async def _spawn(self, child: Child) -> None:
        child.process = await asyncio.create_subprocess_exec(*child.argv, env=child.env)
        logger.info("started %s (pid %d)", child.name, child.process.pid)

    async def _watch(self, child: Child) -> None:
        backoff = 0.5
        while True:
            assert child.process is not None
            started = time.monotonic()
            code = await child.process.wait()
            if self._stopping:
                return
            if time.monotonic() - started > 30:
                backoff = 0.5
            logger.warning("%s exited with status %d; restarting in %.1fs", child.name, code, backoff)
            await asyncio.sleep(backoff)
            if self._stopping:
                return
            backoff = min(backoff * 2, self._max_backoff)
            child.restarts += 1
            await self._spawn(child)
            logger.warning(
                "restarted %s (restart #%d, pid %d)",
                child.name,
                child.restarts,
                child.process.pid if child.process else -1,
            )

    async def wait_healthy(self, timeout: float) -> list[str]:
        """Wait until every child is healthy; return the names of those that are not by ``timeout``."""
        deadline = time.monotonic() + timeout
        waiting = list(self.children)
        while waiting and time.monotonic() < deadline:
            results = await asyncio.gather(*(child.healthy() for child in waiting))
            waiting = [child for child, ok in zip(waiting, results, strict=True) if not ok]
            if waiting:
                await asyncio.sleep(0.1)
        return [child.name for child in waiting]

    async def stop_child(self, name: str, timeout: float = 30.0) -> None:
        """SIGTERM one child and wait for it (SIGKILL after ``timeout``)."""
        self._stopping = True
        child = next(c for c in self.children if c.name == name)
        if child._watch is not None:
            child._watch.cancel()
        process = child.process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            logger.warning("%s did not stop within %.0fs; killing it", name, timeout)
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
        logger.info("stopped %s (status %s)", name, process.returncode)

    async def stop(self, order: Sequence[str] | None = None, timeout: float = 30.0) -> None:
        self._stopping = True
        for name in order or [c.name for c in self.children]:
            await self.stop_child(name, timeout)


def child_env(overrides: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(overrides)
    return env
