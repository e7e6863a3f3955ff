"""``--active-threads``: few threads work at once, yet nothing that waits holds the others.

Each test runs a mock with one active thread (the strictest setting) and checks that a
plain request still answers at once while others wait: long polls of the request log,
injected delays, a client that sends half a request and stalls.
"""

from __future__ import annotations

import socket
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from idp.settings import REALM_PATH
from tests.session_client import SERVICE_CLIENT

DISCOVERY = REALM_PATH + "/.well-known/openid-configuration"
HEAD = b"GET " + DISCOVERY.encode() + b" HTTP/1.1\r\nHost: x\r\n"  # a blank line ends it


@pytest.fixture
def base(start_server) -> str:
    return start_server(active_threads=1).settings.effective_public_url


def connect(base: str) -> socket.socket:
    """A raw connection to the mock at ``base``, for what ``requests`` cannot send."""
    host, port = base.split("//")[1].split(":")
    return socket.create_connection((host, int(port)), timeout=5)


def answered_within(url: str) -> float:
    started = time.monotonic()
    assert requests.get(url, timeout=10).status_code == 200
    return time.monotonic() - started


def test_long_polls_and_delays_let_other_requests_through(base):
    fault = {"delay": 2, "times": 2}
    assert requests.put(f"{base}/_mock/faults/certs", json=fault, timeout=5).status_code == 200
    with ThreadPoolExecutor(max_workers=4) as pool:
        polls = [
            pool.submit(requests.get, f"{base}/_mock/requests/next?timeout=3", timeout=10)
            for _ in range(2)
        ]
        delayed = [
            pool.submit(requests.get, f"{base}{REALM_PATH}/protocol/openid-connect/certs")
            for _ in range(2)
        ]
        time.sleep(0.3)  # all four are waiting now, none holding the only slot
        # Answered at once, not after a sleeping thread's patience (0.05 s) ran out.
        assert min(answered_within(base + DISCOVERY) for _ in range(5)) < 0.045
        assert [poll.result().json()["endpoint"] for poll in polls] == ["discovery"] * 2
        assert [answer.result().status_code for answer in delayed] == [200, 200]


def test_a_client_that_stalls_mid_request_does_not_stall_the_others(base):
    with connect(base) as stalled:
        stalled.sendall(HEAD)  # no blank line: the request never ends
        time.sleep(0.2)  # its thread now waits for the rest of the headers
        assert answered_within(base + DISCOVERY) < 1.0


def test_concurrent_clients_are_all_served(base):
    client_id, secret, _ = SERVICE_CLIENT
    token_url = f"{base}{REALM_PATH}/protocol/openid-connect/token"

    def token(_: int) -> int:
        with requests.Session() as session:
            answers = [
                session.post(
                    token_url,
                    data={"grant_type": "client_credentials"},
                    auth=(client_id, secret),
                    timeout=10,
                ).status_code
                for _ in range(10)
            ]
        return answers.count(200)

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert sum(pool.map(token, range(8))) == 80


def test_each_listener_has_its_own_turns(start_server):
    """The HTTPS listener's requests do not wait for slots the main listener's idle
    threads hold (they would, after a sleeping thread's patience, if they shared them)."""
    from tests.integration.test_tls import CA_BUNDLE

    server = start_server(active_threads=1, tls_port=0)
    ready = f"{server.settings.effective_tls_url}/_mock/health/ready"
    with requests.Session() as session:
        timings = []
        for _ in range(5):
            started = time.monotonic()
            assert session.get(ready, verify=CA_BUNDLE, timeout=10).status_code == 200
            timings.append(time.monotonic() - started)
    assert min(timings) < 0.045, timings


def test_a_client_calling_again_at_once_does_not_keep_the_only_thread(base):
    """The thread that answered a keep-alive client serves its next request itself when it
    comes at once, but not while another connection waits for a thread."""
    stop = time.monotonic() + 1.5

    def call_again_and_again() -> int:
        calls = 0
        with connect(base) as busy:
            reader = busy.makefile("rb")
            while time.monotonic() < stop:
                busy.sendall(HEAD + b"\r\n")
                reader.read(read_head(reader))
                calls += 1
        return calls

    with ThreadPoolExecutor(max_workers=1) as pool:
        calls = pool.submit(call_again_and_again)
        time.sleep(0.3)
        # Answered at once, not after a sleeping thread's patience (0.05 s) ran out (as 4
        # of 5 were when the busy client's thread kept serving it).
        assert statistics.median(answered_within(base + DISCOVERY) for _ in range(5)) < 0.045
        assert calls.result() > 20


def read_head(reader) -> int:
    """Read an answer's status line and headers: its Content-Length."""
    assert reader.readline().startswith(b"HTTP/1.1 200")
    length = 0
    while (line := reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
    return length


def test_a_malformed_request_after_a_good_one_on_the_same_connection(base):
    with connect(base) as connection:
        reader = connection.makefile("rb")
        connection.sendall(HEAD + b"\r\n")
        reader.read(read_head(reader))
        connection.sendall(b"NOT HTTP\r\n\r\n")
        assert b"HTTP/1.1 400 Bad Request" in reader.read()  # then the server closes
    assert answered_within(base + DISCOVERY) < 1.0
