"""``psc-mock serve --workers 2``: two processes on one port, one shared store.

Every request here opens its own connection, so that both processes take some: what one
process writes (a code, a clock, a key, a directory edit), the other must honour.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import psutil
import pytest
import requests

from tests.conftest import CI_CLIENT
from tests.integration.test_cli import start_serving
from tests.oidc_client import RelyingParty, follow_to_callback
from tests.session_client import SERVICE_CLIENT

AUTO = "899700100011"  # Claire MARTIN, policy auto
NEW_ID = "899700100490"


@pytest.fixture(scope="module")
def mock():
    process, urls = start_serving("--workers", "2")
    base = urls["issuer"].split("/auth/")[0]
    discovery = requests.get(urls["discovery"], timeout=5).json()
    yield process, base, discovery
    workers = psutil.Process(process.pid).children()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0
    assert not any(worker.is_running() for worker in workers)


def fresh(method: str, url: str, **kwargs) -> requests.Response:
    """One request on a new connection (no pooling): either process may take it."""
    with requests.Session() as session:
        return session.request(method, url, timeout=10, **kwargs)


def many(count: int, call) -> list:
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda _: call(), range(count)))


def service_token(discovery: dict) -> str:
    client_id, secret, _ = SERVICE_CLIENT
    answer = fresh(
        "POST",
        discovery["token_endpoint"],
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def test_both_processes_serve_logins_verified_through_the_jwks(mock):
    process, _, discovery = mock
    workers = psutil.Process(process.pid).children()
    assert len(workers) == 2
    before = [sum(worker.cpu_times()[:2]) for worker in workers]

    def login() -> str:
        tokens, _ = RelyingParty(discovery).login_auto(AUTO)
        return RelyingParty(discovery).verify(tokens["access_token"])["SubjectNameID"]

    assert many(60, login) == [AUTO] * 60
    after = [sum(worker.cpu_times()[:2]) for worker in workers]
    spent = [end - start for start, end in zip(before, after, strict=True)]
    assert min(spent) > sum(spent) / 10, spent  # each process did a share of the work


def test_kept_alive_connections_opened_together_are_shared_out_evenly():
    """A load tool's (or a CI job's) few connections, all opened at once: the parent hands
    them out in turn, so each worker serves its share for as long as they last. (A mock of
    its own: cheroot stops keeping connections alive past 10 open ones per worker.)"""
    process, urls = start_serving("--workers", "2")
    discovery = urlsplit(urls["discovery"])
    connections = [http.client.HTTPConnection(discovery.hostname, discovery.port) for _ in "1234"]
    try:
        for connection in connections:
            connection.request("GET", discovery.path)
            answer = connection.getresponse()
            assert answer.status == 200 and answer.read(), answer.status
        ours = {connection.sock.getsockname()[1] for connection in connections}
        held = [
            sum(1 for c in worker.net_connections() if c.raddr and c.raddr.port in ours)
            for worker in psutil.Process(process.pid).children()
        ]
        assert held == [2, 2], held
    finally:
        for connection in connections:
            connection.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0


def test_a_code_is_redeemed_once_whichever_process_is_asked(mock):
    _, _, discovery = mock
    rp = RelyingParty(discovery)
    url, secrets = rp.authorization_url(login_hint=AUTO)
    callback = follow_to_callback(requests.Session(), url, rp.redirect_uri)
    client_id, secret, redirect_uri = CI_CLIENT
    exchange = {
        "grant_type": "authorization_code",
        "code": callback.params["code"],
        "redirect_uri": redirect_uri,
        "code_verifier": secrets["code_verifier"],
    }

    def redeem() -> int:
        return fresh(
            "POST", discovery["token_endpoint"], data=exchange, auth=(client_id, secret)
        ).status_code

    assert sorted(many(12, redeem)) == [200] + [400] * 11


def test_control_changes_reach_every_process_and_a_reset_undoes_them(mock):
    _, base, discovery = mock
    control = f"{base}/_mock"
    original_kid = fresh("GET", f"{control}/keys").json()["keys"][0]["kid"]

    fresh("POST", f"{control}/clock", json={"action": "advance", "by": "1d"}).raise_for_status()
    offsets = many(16, lambda: fresh("GET", f"{control}/clock").json()["offset"])
    assert all(86_390 < offset < 86_410 for offset in offsets), offsets

    rotated = fresh("POST", f"{control}/keys/rotate", json={}).json()["kid"]
    kids = many(
        16,
        lambda: (
            RelyingParty(discovery).jwks.get_signing_key_from_jwt(service_token(discovery)).key_id
        ),
    )
    assert set(kids) == {rotated} != {original_kid}

    person = fresh("GET", f"{control}/directory/{AUTO}").json()
    clone = {**person, "id_nat": NEW_ID, "identifiant": NEW_ID[1:], "nom": "NOUVEAU"}
    clone.pop("autres_identifiants", None)
    assert fresh("PUT", f"{control}/directory/{NEW_ID}", json=clone).status_code == 201
    seen = many(16, lambda: fresh("GET", f"{control}/directory/{NEW_ID}").status_code)
    assert set(seen) == {200}

    fresh("POST", f"{control}/reset", json={}).raise_for_status()
    after = many(
        16,
        lambda: (
            fresh("GET", f"{control}/directory/{NEW_ID}").status_code,
            fresh("GET", f"{control}/keys").json()["keys"][0]["kid"],
            abs(fresh("GET", f"{control}/clock").json()["offset"]) < 5,
        ),
    )
    assert set(after) == {(404, original_kid, True)}


def test_the_request_log_is_refused_since_each_process_has_its_own(mock):
    _, base, _ = mock
    for method, path in (("GET", "/requests"), ("DELETE", "/requests"), ("GET", "/requests/next")):
        answer = fresh(method, f"{base}/_mock{path}")
        assert answer.status_code == 409
        assert "--workers 1" in answer.json()["error_description"]


def test_a_worker_that_dies_stops_the_others_and_the_exit_code_says_so():
    process, urls = start_serving("--workers", "2")
    try:
        assert requests.get(urls["health"], timeout=5).ok
        first, second = psutil.Process(process.pid).children()
        os.kill(first.pid, signal.SIGKILL)
        assert process.wait(timeout=15) == 1
        deadline = time.monotonic() + 5
        while second.is_running() and second.status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline, "the other worker is still running"
            time.sleep(0.05)
    finally:
        if process.poll() is None:
            process.kill()


def test_a_stopped_worker_holds_up_a_few_clients_not_half_of_them():
    """A worker that stops taking its connections (stopped here; hung alike) is passed over
    once connections wait for it: a few of the first ones opened together may go to it,
    then the other worker serves everyone. Handed out strictly in turn, half the clients
    hung until it came back."""
    process, urls = start_serving("--workers", "2")
    stopped = psutil.Process(process.pid).children()[0]

    def health() -> int | None:
        try:  # a new connection each time: the parent hands each one out
            return requests.get(urls["health"], timeout=3).status_code
        except requests.RequestException:
            return None

    try:
        stopped.suspend()
        answers = many(40, health)
        assert answers.count(200) >= 32, answers  # 8 at a time: at most one lot hangs
        stopped.resume()
        assert many(8, health) == [200] * 8
    finally:
        stopped.resume()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0


def test_a_burst_of_connections_waits_for_room_rather_than_being_dropped():
    """More connections at once than the workers' channels hold (wrk opening 2,000 filled
    both of two workers'): the parent waits for room rather than drop the rest. Here the
    workers are stopped while the burst arrives, so that their channels fill for sure."""
    process, urls = start_serving("--workers", "2")
    health = urlsplit(urls["health"])
    request = f"GET {health.path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    workers = psutil.Process(process.pid).children()
    burst: list[socket.socket] = []

    def answered(connection: socket.socket) -> bool:
        try:
            connection.sendall(request)
            return connection.recv(12).startswith(b"HTTP/1.1 200")
        except OSError:  # closed by the parent
            return False

    try:
        for worker in workers:
            worker.suspend()
        for _ in range(700):  # each channel holds 279 on Linux's defaults
            burst.append(socket.create_connection((health.hostname, health.port), timeout=10))
        time.sleep(0.5)
        for worker in workers:
            worker.resume()
        assert sum(map(answered, burst)) == len(burst)
    finally:
        for worker in workers:
            worker.resume()
        for connection in burst:
            connection.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0


def test_workers_stop_when_their_parent_is_killed():
    """Their connections came from the parent: without it they would serve nobody."""
    process, urls = start_serving("--workers", "2")
    try:
        assert requests.get(urls["health"], timeout=5).ok
        workers = psutil.Process(process.pid).children()
        process.kill()
        process.wait(timeout=5)
        _gone, alive = psutil.wait_procs(workers, timeout=10)
        assert not alive
    finally:
        if process.poll() is None:
            process.kill()


def test_the_https_listener_is_handed_out_too():
    """``--tls-port``: connections to the second listener reach the workers the same way,
    client certificate included."""
    from tests.integration.test_tls import ACTIVE_CARD, CA_BUNDLE, card_pair

    with socket.socket() as probe:  # a free port, to know where the HTTPS listener is
        probe.bind(("127.0.0.1", 0))
        tls_port = probe.getsockname()[1]
    process, _ = start_serving("--workers", "2", "--tls-port", str(tls_port))
    try:
        for cert in (None, card_pair(ACTIVE_CARD)):
            answer = requests.get(
                f"https://localhost:{tls_port}/_mock/health/ready",
                verify=CA_BUNDLE,
                cert=cert,
                timeout=10,
            )
            assert answer.json()["status"] == "UP"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0


def test_workers_out_of_file_descriptors_lose_connections_not_the_service():
    """A flood of connections past the workers' file descriptor limit: those that cannot
    be handed over are closed, and the mock serves the next client as usual."""
    process, urls = start_serving("--workers", "2")
    flood: list[socket.socket] = []
    try:
        for worker in psutil.Process(process.pid).children():
            room = worker.num_fds() + 10
            worker.rlimit(psutil.RLIMIT_NOFILE, (room, room))
        discovery = urlsplit(urls["discovery"])
        for _ in range(200):
            flood.append(socket.create_connection((discovery.hostname, discovery.port)))
        time.sleep(0.5)
        for connection in flood:
            connection.close()
        time.sleep(0.5)
        assert requests.get(urls["discovery"], timeout=10).status_code == 200
        assert process.poll() is None
    finally:
        for connection in flood:
            connection.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
