"""Slow clients against the real `tallystick serve`: a request head or body that trickles in is cut off.

limits.header_timeout bounds the time to send a complete request head (aiohttp's keep-alive
timeout, armed when the connection opens); limits.body_timeout the time to send the body
once the head is in (408 and the connection closes).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .dbutil import TemplateDatabase
from .livesrv import LiveServer, live_server

pytestmark = pytest.mark.slow

TIMEOUT = 1  # seconds, for both settings


@pytest.fixture
def live(template_database: TemplateDatabase, tmp_path: Path) -> Iterator[LiveServer]:
    limits = {"TALLYSTICK_LIMITS__HEADER_TIMEOUT": str(TIMEOUT), "TALLYSTICK_LIMITS__BODY_TIMEOUT": str(TIMEOUT)}
    with live_server(template_database, tmp_path, start=True, **limits) as server:
        yield server


def trickle(live: LiveServer, head: bytes, drip: bytes, *, seconds: float) -> tuple[bytes, float]:
    """Send `head`, then `drip` one byte every 0.2 s; return what the server answered and when
    it closed the connection (or everything read after `seconds` if it never did)."""
    started = time.monotonic()
    received = b""
    with socket.create_connection(("127.0.0.1", live.port), timeout=seconds) as sock:
        sock.sendall(head)
        sock.setblocking(False)
        for byte in drip:
            if time.monotonic() - started > seconds:
                break
            try:
                sock.sendall(bytes([byte]))
            except OSError:  # closed by the server
                break
            time.sleep(0.2)
            try:
                chunk = sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                break
            received += chunk
            if not chunk:
                break
        else:
            return received, time.monotonic() - started
        sock.setblocking(True)
        sock.settimeout(max(0.1, seconds - (time.monotonic() - started)))
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            pass
        except OSError:
            pass
    return received, time.monotonic() - started


def test_slow_clients__a_trickling_request_head_is_disconnected(live: LiveServer) -> None:
    head = b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    received, elapsed = trickle(live, head, b"X-Slow: " + b"a" * 200, seconds=8)
    assert received == b"" and elapsed < TIMEOUT + 2.5, (received[:200], elapsed)


def test_slow_clients__a_trickling_body_gets_408_and_the_connection_closes(live: LiveServer) -> None:
    body = b'{"token": "https://127.0.0.1/tokens/x", "attribute": "s", "pattern": "a"}' + b" " * 60
    head = (
        b"POST /api/v1/verify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
    )
    received, elapsed = trickle(live, head, body, seconds=8)
    assert received.startswith(b"HTTP/1.1 408 ") and b"Connection: close" in received, (received[:300], elapsed)
    assert b'"code":"request-timeout"' in received and elapsed < TIMEOUT + 2.5, (received, elapsed)


def test_slow_clients__a_body_sent_in_parts_within_the_deadline_is_answered(live: LiveServer) -> None:
    body = b'{"token": "not a url"}'
    head = (
        b"POST /api/v1/verify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
    )
    with socket.create_connection(("127.0.0.1", live.port), timeout=10) as sock:
        sock.sendall(head + body[:5])
        time.sleep(0.3)
        sock.sendall(body[5:])
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status = answer.split(b"\r\n", 1)[0]
    assert status.startswith(b"HTTP/1.1 4") and b" 408 " not in status, answer[:300]
