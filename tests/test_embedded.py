"""Embedded servers never take another program's port for their own.

A port picked free can be taken before the server binds it (another server starting on the same machine
at the same time); whatever then answers on it must not be mistaken for the server just started.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
import redis

from configtrail import embedded
from configtrail.embedded import EmbeddedPostgres, EmbeddedValkey, PortTaken


@pytest.fixture
def held_port() -> Iterator[int]:
    """A port another program listens on (and never answers)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.fixture
def chatty_port() -> Iterator[int]:
    """A port another program listens on, answering every connection with an HTTP error."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        sock.settimeout(0.1)
        done = threading.Event()

        def answer() -> None:
            while not done.is_set():
                try:
                    conn, _ = sock.accept()
                except OSError:
                    continue
                with conn:
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")

        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        try:
            yield int(sock.getsockname()[1])
        finally:
            done.set()
            thread.join(2)


@pytest.fixture
def other_valkey(tmp_path: Path) -> Iterator[EmbeddedValkey]:
    """Another Valkey on this machine: it answers PING on its port as ours would."""
    other = EmbeddedValkey(tmp_path / "other-valkey")
    other.start(timeout=20)
    try:
        yield other
    finally:
        other.stop()


def picks_first(monkeypatch: pytest.MonkeyPatch, port: int) -> None:
    """The next free port picked is ``port``; later picks are really free."""
    picks = [port]
    real = embedded.free_port
    monkeypatch.setattr(embedded, "free_port", lambda host="127.0.0.1": picks.pop() if picks else real(host))


def test_valkey_on_a_given_port_held_by_another_program_fails(tmp_path: Path, held_port: int) -> None:
    valkey = EmbeddedValkey(tmp_path / "valkey", held_port)
    try:
        with pytest.raises(PortTaken, match=f"port {held_port} is taken"):
            valkey.start(timeout=20)
        assert valkey.process is not None
        assert valkey.process.poll() is not None, "the server that could not start is left running"
    finally:
        valkey.stop()


def test_valkey_does_not_take_another_valkey_for_its_own(
    tmp_path: Path, other_valkey: EmbeddedValkey, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "by another server" when ours is still alive as the other answers, else "by another program"
    given = EmbeddedValkey(tmp_path / "given", other_valkey.port)
    try:
        with pytest.raises(PortTaken, match=f"port {other_valkey.port} is taken"):
            given.start(timeout=20)
    finally:
        given.stop()

    picks_first(monkeypatch, other_valkey.port)
    valkey = EmbeddedValkey(tmp_path / "picked")
    assert valkey.port == other_valkey.port
    try:
        url = valkey.start(timeout=20)
        assert valkey.port != other_valkey.port
        assert valkey.process is not None
        client = redis.Redis.from_url(url)
        try:
            assert int(client.info("server")["process_id"]) == valkey.process.pid
        finally:
            client.close()
        assert (tmp_path / "picked" / "valkey.port").read_text() == str(valkey.port)
    finally:
        valkey.stop()


def test_valkey_picks_another_port_when_something_else_answers_on_the_picked_one(
    tmp_path: Path, chatty_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    picks_first(monkeypatch, chatty_port)
    valkey = EmbeddedValkey(tmp_path / "valkey")
    try:
        valkey.start(timeout=20)
        assert valkey.port != chatty_port
        assert valkey.process is not None
        assert valkey.process.poll() is None
    finally:
        valkey.stop()


def test_valkey_comes_back_on_its_port_or_fails(tmp_path: Path) -> None:
    """Clients hold the address of a started server: a restart never moves it elsewhere."""
    valkey = EmbeddedValkey(tmp_path / "valkey")
    try:
        valkey.start(timeout=20)
        port = valkey.port
        valkey.kill()
        assert valkey.start(timeout=20) == f"redis://127.0.0.1:{port}/0"
        valkey.stop()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", port))
            sock.listen()
            with pytest.raises(PortTaken, match=f"port {port} is taken"):
                valkey.start(timeout=20)
    finally:
        valkey.stop()


def test_postgres_on_a_given_port_held_by_another_program_fails(tmp_path: Path, held_port: int) -> None:
    postgres = EmbeddedPostgres(tmp_path / "pg" / "data", held_port)
    try:
        with pytest.raises(PortTaken, match=f"port {held_port} is taken"):
            postgres.start(timeout=30)
    finally:
        postgres.stop()


async def test_postgres_picks_another_port_when_the_picked_one_is_taken(
    tmp_path: Path, held_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    picks_first(monkeypatch, held_port)
    postgres = EmbeddedPostgres(tmp_path / "pg" / "data")
    assert postgres.port == held_port
    try:
        dsn = postgres.start(timeout=30)
        assert postgres.port != held_port
        conn = await asyncpg.connect(dsn)
        try:
            assert await conn.fetchval("SHOW data_directory") == str(postgres.data_dir)
        finally:
            await conn.close()
    finally:
        postgres.stop()


async def test_postgres_restarts_after_a_kill_on_its_port(tmp_path: Path) -> None:
    """A killed postmaster leaves its pid file saying "ready": the restart waits for its own server."""
    postgres = EmbeddedPostgres(tmp_path / "pg" / "data")
    postgres.start(timeout=30)
    port = postgres.port
    postgres.kill()
    assert postgres.pid_file.exists()
    try:
        dsn = postgres.start(timeout=30)
        assert postgres.port == port
        conn = await asyncpg.connect(dsn)
        try:
            assert await conn.fetchval("SELECT 1") == 1
        finally:
            await conn.close()
    finally:
        postgres.stop()
