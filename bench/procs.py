"""Child processes of the benchmark: servers, load tools, load-generator workers.

Servers are registered in one :class:`Children` and stopped by it — SIGTERM, then SIGKILL after a grace
period — when their measurement is done, and all at once on the way out, also after Ctrl-C or an error.
Load tools (:func:`run_tool`) and load-generator workers are awaited by whoever starts them and killed
when that is cancelled. Every child runs in its own session, so a Ctrl-C in the terminal reaches only
the benchmark, which then stops them in order instead of leaving half-stopped servers behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import psutil

from configtrail.supervisor import grpc_health_check, http_health_check

#: Python of this virtual environment, for every Python child.
PYTHON = sys.executable


class BenchError(RuntimeError):
    """A measurement could not be made (a server did not start, a tool failed); the message says why."""


def tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def service_env(base: Mapping[str, str], overrides: Mapping[str, str]) -> dict[str, str]:
    """The environment of a child: ours without any ``CONFIGTRAIL_*`` variable, plus ``overrides``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CONFIGTRAIL_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(base)
    env.update(overrides)
    return env


@dataclass
class Child:
    """One started server process and its log file."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    _log_file: IO[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def check_alive(self) -> None:
        if not self.alive:
            raise BenchError(
                f"{self.name} exited with status {self.process.returncode}; log {self.log}:\n{tail(self.log)}"
            )


class Children:
    """Starts, watches and stops the benchmark's child processes; logs go to ``log_dir``."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._children: list[Child] = []
        self._counter = 0

    def start(self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None) -> Child:
        self._counter += 1
        log = self.log_dir / f"{self._counter:02d}-{name}.log"
        log_file = log.open("ab")
        process = subprocess.Popen(
            list(argv),
            env=dict(env) if env is not None else None,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        child = Child(name, process, log, log_file)
        self._children.append(child)
        return child

    def start_python(self, name: str, module: str, *args: str, env: Mapping[str, str] | None = None) -> Child:
        return self.start(name, [PYTHON, "-m", module, *args], env)

    def stop(self, child: Child, timeout: float = 15.0) -> None:
        """SIGTERM, wait up to ``timeout``, then SIGKILL."""
        if child.alive:
            with contextlib.suppress(ProcessLookupError):
                child.process.send_signal(signal.SIGTERM)
            try:
                child.process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    child.process.kill()
                child.process.wait()
        if child._log_file is not None:
            child._log_file.close()
            child._log_file = None
        if child in self._children:
            self._children.remove(child)

    async def stop_async(self, child: Child, timeout: float = 15.0) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.stop, child, timeout)

    def stop_all(self) -> None:
        """Stop every child still registered, newest first (clients before the servers they use)."""
        for child in reversed(list(self._children)):
            self.stop(child, timeout=10.0)


async def _wait(check: Callable[[], Awaitable[bool]], child: Child, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        child.check_alive()
        if await check():
            return
        if time.monotonic() > deadline:
            raise BenchError(f"{child.name}: {what} not ready after {timeout:.0f}s; log {child.log}")
        await asyncio.sleep(0.05)


async def wait_grpc(child: Child, port: int, timeout: float = 30.0) -> None:
    """Until the gRPC server of ``child`` answers health SERVING."""
    await _wait(grpc_health_check(f"127.0.0.1:{port}"), child, f"gRPC on port {port}", timeout)


async def wait_http(child: Child, port: int, path: str = "/healthz", timeout: float = 30.0) -> None:
    """Until ``GET path`` on ``child`` answers 200."""
    await _wait(http_health_check("127.0.0.1", port, path), child, f"HTTP on port {port}", timeout)


async def run_tool(argv: Sequence[str], timeout: float) -> str:
    """Run a load tool to completion; its stdout. Killed on timeout or cancellation (Ctrl-C)."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        raise
    if process.returncode != 0:
        raise BenchError(
            f"{Path(argv[0]).name} failed with status {process.returncode}:\n"
            f"{stderr.decode(errors='replace')[-2000:]}\n{stdout.decode(errors='replace')[-2000:]}"
        )
    return stdout.decode(errors="replace")


def _tree_seconds(process: psutil.Process) -> float:
    """CPU of a process and every descendant alive now, plus what its reaped children used."""
    total = 0.0
    try:
        family = [process, *process.children(recursive=True)]
    except psutil.Error:
        return 0.0
    for member in family:
        with contextlib.suppress(psutil.Error):
            times = member.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
    return total


class CpuMeter:
    """CPU used over an interval by watched processes (each with its descendants) and by strangers.

    "Foreign" CPU is the machine's busy time minus that of this benchmark's own process tree: another
    program competing for the two cores shows up there and makes a figure suspect.
    """

    def __init__(self, watched: Mapping[str, int | None]) -> None:
        self._watched: dict[str, psutil.Process] = {}
        for name, pid in watched.items():
            if pid is not None:
                with contextlib.suppress(psutil.Error):
                    self._watched[name] = psutil.Process(pid)
        self._me = psutil.Process()
        self._start: dict[str, float] = {}
        self._start_busy = 0.0
        self._start_tree = 0.0
        self._started = 0.0
        self.result: dict[str, float] = {}

    @staticmethod
    def _busy_seconds() -> float:
        times = psutil.cpu_times()
        return float(times.user + times.nice + times.system + times.irq + times.softirq + times.steal)

    def __enter__(self) -> CpuMeter:
        self._started = time.monotonic()
        self._start = {name: _tree_seconds(process) for name, process in self._watched.items()}
        self._start_busy = self._busy_seconds()
        self._start_tree = _tree_seconds(self._me)
        return self

    def __exit__(self, *exc: object) -> None:
        elapsed = max(time.monotonic() - self._started, 1e-9)
        for name, process in self._watched.items():
            used = _tree_seconds(process) - self._start[name]
            self.result[f"cpu_{name}"] = round(max(used, 0.0) / elapsed, 2)
        busy = self._busy_seconds() - self._start_busy
        tree = _tree_seconds(self._me) - self._start_tree
        self.result["cpu_machine"] = round(busy / elapsed, 2)
        self.result["cpu_foreign"] = round(max(busy - tree, 0.0) / elapsed, 2)


async def meter_window(watched: Mapping[str, int | None], begin: float, end: float) -> dict[str, float]:
    """CPU use (see :class:`CpuMeter`) between two wall-clock moments."""
    await asyncio.sleep(max(0.0, begin - time.time()))
    with CpuMeter(watched) as meter:
        await asyncio.sleep(max(0.0, end - time.time()))
    return meter.result
