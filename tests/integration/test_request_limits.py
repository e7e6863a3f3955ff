"""Request size limits, over raw sockets and HTTP against a live mock: an oversized header
or body is refused with a 4xx before the server reads it all, and the next request is
served as usual."""

from __future__ import annotations

import socket

import pytest
import requests

from idp.control.guard import MAX_JSON_BYTES
from idp.server import MAX_BODY_BYTES, MAX_HEADER_BYTES


@pytest.fixture
def port(start_server) -> int:
    return start_server().port


def exchange(port: int, head: bytes, filler: int, tail: bytes = b"") -> tuple[bytes, int]:
    """Send ``head``, ``filler`` bytes of padding, then ``tail``, stopping when the server
    closes the connection: its answer's status line, and how much padding went out."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sent = 0
        try:
            sock.sendall(head)
            while sent < filler:
                sent += sock.send(b"a" * min(1 << 16, filler - sent))
            sock.sendall(tail)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused: the server stopped reading
        return sock.recv(4096).split(b"\r\n", 1)[0], sent


def healthy(port: int) -> bool:
    answer = requests.get(f"http://127.0.0.1:{port}/_mock/health/ready", timeout=5)
    return answer.status_code == 200


def test_an_oversized_header_is_refused_unread_and_the_server_goes_on(port):
    head = b"GET /_mock/health/live HTTP/1.1\r\nHost: localhost\r\nX-Padding: "
    status, _ = exchange(port, head, MAX_HEADER_BYTES - 1024, b"\r\n\r\n")
    assert status == b"HTTP/1.1 200 OK"  # room for a client certificate, a long URL
    status, sent = exchange(port, head, 64 * 1024 * 1024, b"\r\n\r\n")
    assert status == b"HTTP/1.1 413 Request Entity Too Large"
    assert sent < 16 * 1024 * 1024  # the server closed long before the 64 MB went out
    assert healthy(port)


def test_an_oversized_body_is_refused_before_it_is_read(port):
    """Even to an endpoint that ignores its body, which cheroot would read to skip it."""
    announced = 200 * 1024 * 1024
    head = (
        b"POST /_mock/health/live HTTP/1.1\r\nHost: localhost\r\n"
        b"Content-Length: %d\r\n\r\n" % announced
    )
    status, _ = exchange(port, head, 1024)  # then waits: the answer must come unread
    assert status == b"HTTP/1.1 413 Request Entity Too Large"
    assert healthy(port)


def clock_body(size: int) -> bytes:
    """A valid clock change of exactly ``size`` bytes (the clock ignores the padding)."""
    start, end = b'{"action": "freeze", "padding": "', b'"}'
    return start + b"a" * (size - len(start) - len(end)) + end


def chunks(body: bytes):
    """The body as a generator: requests sends it chunked, without a Content-Length."""
    for offset in range(0, len(body), 1 << 16):
        yield body[offset : offset + (1 << 16)]


@pytest.mark.parametrize("sent_as", [bytes, chunks], ids=["content-length", "chunked"])
def test_control_api_json_is_capped_with_room_for_what_it_receives(port, sent_as):
    clock = f"http://127.0.0.1:{port}/_mock/clock"
    json = {"Content-Type": "application/json"}
    refused = requests.post(clock, data=sent_as(clock_body(MAX_JSON_BYTES)), headers=json)
    assert refused.status_code == 413
    assert refused.json()["error"] == "request_too_large"
    assert str(MAX_JSON_BYTES) in refused.json()["error_description"]
    assert requests.get(clock, timeout=5).json()["frozen"] is False  # nothing changed
    accepted = requests.post(clock, data=sent_as(clock_body(MAX_JSON_BYTES - 1)), headers=json)
    assert accepted.status_code == 200 and accepted.json()["frozen"] is True
    assert healthy(port)


TOKEN = "/auth/realms/esante-wallet/protocol/openid-connect/token"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def test_an_oversized_form_is_a_413_and_still_logged(port):
    """The request log reads the form too: it keeps the refused request, without it."""
    base = f"http://127.0.0.1:{port}"
    body = b"grant_type=client_credentials&padding=" + b"a" * MAX_JSON_BYTES
    refused = requests.post(base + TOKEN, data=body, headers=FORM, timeout=10)
    assert refused.status_code == 413
    logged = requests.get(base + "/_mock/requests", timeout=5).json()["requests"]
    assert any(entry["path"] == TOKEN for entry in logged)


def test_an_oversized_chunked_form_is_no_server_error(port):
    """Chunked, with no length to refuse it by, beyond cheroot's body limit: the app reads
    no more than its own limit (cheroot cut it mid-read: a 500)."""
    body = b"grant_type=client_credentials&padding=" + b"a" * MAX_BODY_BYTES
    answer = requests.post(f"http://127.0.0.1:{port}{TOKEN}", data=chunks(body), headers=FORM)
    assert answer.status_code < 500
    assert healthy(port)
