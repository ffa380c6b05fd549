"""The adaptive node's staging client against real loopback servers that misbehave: a total
deadline per request (not a per-read timeout) and a bounded body read."""

from __future__ import annotations

import asyncio
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nbworkflow.config import StagingSettings
from nbworkflow.nodes.adaptive.staging import Reply, StagingClient
from nbworkflow.nodes.gate import ErrorKind
from tests.test_adaptive import GOOD, load, run_heal, spec_text

Handler = Callable[[socket.socket], None]


class RawServer:
    """A loopback TCP server whose every connection is handled by ``handler`` in a thread."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.stop = threading.Event()
        self.connections = 0
        self.sent = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/users"

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                conn.recv(65536)  # the request (small JSON); its content does not matter here
                self.handler(conn)
            except OSError:
                pass  # the client hung up: what these tests want

    def close(self) -> None:
        self.stop.set()
        self.thread.join(2)
        self.sock.close()


def trickle(server_stop: threading.Event) -> Handler:
    """A 503 whose body arrives one byte every 0.2 s, forever: each read gets data in time."""

    def handler(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 100000\r\n\r\n")
        while not server_stop.is_set():
            conn.sendall(b"x")
            time.sleep(0.2)

    return handler


def huge(server: list[RawServer]) -> Handler:
    """A 503 announcing a 300 MB body, sent as fast as the client reads it."""

    def handler(conn: socket.socket) -> None:
        size = 300 * 1024 * 1024
        conn.sendall(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
            + f"Content-Length: {size}\r\n\r\n".encode()
        )
        chunk = b"e" * 65536
        while size > 0 and not server[0].stop.is_set():
            conn.sendall(chunk)
            server[0].sent += len(chunk)
            size -= len(chunk)

    return handler


@pytest.fixture
def stop() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


def settings(
    url: str, *, timeout: float = 1.0, retries: int = 0, cap: int = 4096
) -> StagingSettings:
    return StagingSettings(
        url=url,
        method="POST",
        headers={},
        timeout=timeout,
        infra_retries=retries,
        backoff_s=0.001,
        backoff_max_s=0.002,
        max_body_bytes=cap,
    )


def send(s: StagingSettings) -> Reply:
    async def go() -> Reply:
        async with StagingClient(s, rng=random.Random(0), sanitize=str) as client:
            return await client.send({"a": 1})

    return asyncio.run(go())


def test_a_trickling_server_is_cut_at_the_total_deadline(stop: threading.Event) -> None:
    server = RawServer(trickle(stop))
    try:
        reply = send(settings(server.url, timeout=1.0))
    finally:
        stop.set()
        server.close()
    # Every read got a byte within 0.2 s, so only a deadline over the whole request fires.
    assert reply.deadline_hit
    assert reply.error_kind is ErrorKind.TIMEOUT


def test_a_huge_error_body_is_read_up_to_the_cap_only() -> None:
    holder: list[RawServer] = []
    server = RawServer(huge(holder))
    holder.append(server)
    try:
        reply = send(settings(server.url, timeout=20.0, cap=4096))
    finally:
        server.close()
    assert reply.status == 503
    assert reply.bytes_read == 4096 and reply.truncated
    assert not reply.deadline_hit
    assert set(reply.body) == {"e"}
    # The client hung up long before the body's end (socket buffers hold a few MB at most).
    assert server.sent < 64 * 1024 * 1024


def test_the_node_retries_a_trickling_staging_within_its_deadlines(
    tmp_path: Path, stop: threading.Event
) -> None:
    server = RawServer(trickle(stop))
    try:
        spec = load(spec_text(server.url.rsplit("/", 1)[0], timeout=0.5, infra_retries=2))
        run = run_heal(spec, tmp_path, code=GOOD)
    finally:
        stop.set()
        server.close()
    assert not run.result.ok
    retries = run.decisions("retry-infra")
    assert len(retries) == 2 and all(d.data["deadline_hit"] for d in retries)
    [entry] = run.log()
    assert entry["gate"] == "infra" or entry["http"][0]["deadline_hit"]
    assert server.connections == 3  # the first try and two retries, each cut at its deadline


def nested(depth: int) -> Handler:
    """A 422 whose JSON body nests ``depth`` arrays (the JSON decoder recurses per level)."""

    def handler(conn: socket.socket) -> None:
        body = ("[" * depth + "]" * depth).encode()
        conn.sendall(
            b"HTTP/1.1 422 Unprocessable Entity\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )

    return handler


@pytest.mark.parametrize("depth", [150, 5000])
def test_a_deeply_nested_error_body_is_fed_back_as_text(tmp_path: Path, depth: int) -> None:
    """Pretty-printing the 422 body for the model recursed once per level: a hostile staging
    server crashed the attempt with RecursionError. The body now goes back as plain text."""
    server = RawServer(nested(depth))
    try:
        spec = load(spec_text(server.url.rsplit("/", 1)[0], max_retries=1))
        run = run_heal(spec, tmp_path, code=GOOD)
    finally:
        server.close()
    assert not run.result.ok
    [request, *_] = run.adapt_requests()
    prompt = request.messages[-1].content
    assert "```text\n[[[" in prompt and "```json\n[\n" not in prompt
    assert "RecursionError" not in "\n".join(str(e) for e in run.events)
