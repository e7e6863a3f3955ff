"""Several serving processes on one port (``--workers N``), for load tests.

One process serves about one core's worth of requests: the GIL serialises the Python of
every request (measured with the same wrk load: two processes serve 2.0 times one). Each
worker here is a whole mock (its own app, directory and threads) accepting on the same
listening socket, bound here, so that the kernel gives each connection to a worker waiting
for one; they share the store, a SQLite file, and catch up with each other's control API
changes (:mod:`idp.control.sync`). This process only starts them, waits, and stops them on
SIGTERM/SIGINT; if one dies, the others are stopped and the exit code says so.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import select
import shutil
import signal
import socket
import sys
import tempfile
import time
from dataclasses import replace

from idp.control.state import is_loopback
from idp.server import BACKLOG, MockServer
from idp.settings import Settings

log = logging.getLogger("idp.prefork")
# The temporary store goes to memory when it can: a file there never waits for the disk
# (measured: 1,500 to 1,660 tokens/s with two processes, 1,420 to 1,510 under /tmp).
_SHM = "/dev/shm" if os.path.isdir("/dev/shm") else None
_READY_TIMEOUT = 60.0


class Workers:
    """The worker processes of one ``psc-mock serve --workers N``."""

    def __init__(self, settings: Settings) -> None:
        """Bind the listening sockets here, once, for every worker; give them all the real
        ports, one shared store and one admin token."""
        self.sockets = (
            _bind(settings.host, settings.port),
            _bind(settings.host, settings.tls_port) if settings.tls_port >= 0 else None,
        )
        changes: dict[str, object] = {"port": self.sockets[0].getsockname()[1]}
        if self.sockets[1] is not None:
            changes["tls_port"] = self.sockets[1].getsockname()[1]
        self.temporary = "" if settings.data_dir else tempfile.mkdtemp(prefix="psc-mock-", dir=_SHM)
        if self.temporary:
            changes["data_dir"] = self.temporary
        self.generated_token = not settings.admin_token and not is_loopback(settings.host)
        if self.generated_token:
            changes["admin_token"] = secrets.token_urlsafe(32)
        self.settings = replace(settings, **changes)
        self._pids: set[int] = set()
        self._stopping = False
        # Each worker writes a byte on "ready" once its app is built, then waits for "go"
        # (closed here once the sockets listen) before it starts accepting.
        self._ready_read, self._ready_write = os.pipe()
        self._go_read, self._go_write = os.pipe()

    def start(self) -> None:
        for _ in range(self.settings.workers):
            pid = os.fork()
            if pid == 0:
                os.close(self._ready_read)
                os.close(self._go_write)
                _serve_here(self.settings, self.sockets, self._ready_write, self._go_read)
            self._pids.add(pid)
        os.close(self._ready_write)
        os.close(self._go_read)
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)

    def wait_ready(self) -> bool:
        """True once every worker has built its app, and the sockets listen; False if a
        worker ended first.

        The sockets listen only then: a client connecting at once (a load test, a CI
        job's first login) would otherwise find the first worker alone, and its kept-alive
        connections stay with that worker for good (measured with wrk's 4 connections:
        one worker did 3/4 of the work, 1,554 discovery req/s instead of 2,950)."""
        waiting = self.settings.workers
        deadline = time.monotonic() + _READY_TIMEOUT
        while waiting and time.monotonic() < deadline:
            readable, _, _ = select.select([self._ready_read], [], [], 0.05)
            if readable:
                got = os.read(self._ready_read, waiting)
                if not got:  # every worker closed its end: some ended before being ready
                    return False
                waiting -= len(got)
            elif self._reap(os.WNOHANG):
                return False
        if waiting:
            return False
        for sock in self.sockets:
            if sock is not None:
                sock.listen(BACKLOG)
        os.close(self._go_write)
        return True

    def wait(self) -> int:
        """Until every worker has exited: 0 if they were stopped, 1 if one died."""
        code = 0
        while self._pids:
            if self._reap(0) and not self._stopping:
                log.error("a worker process ended: stopping the others")
                code = 1
                self.stop()
        for sock in self.sockets:
            if sock is not None:
                sock.close()
        if self.temporary:
            shutil.rmtree(self.temporary, ignore_errors=True)
        return code

    def _reap(self, options: int) -> bool:
        """Collect one ended worker; whether one had ended."""
        pid, _status = os.waitpid(-1, options)
        if pid == 0:
            return False
        self._pids.discard(pid)
        return True

    def stop(self, _signum: int | None = None, _frame: object = None) -> None:
        """Ask every worker to finish its requests and exit (also the signal handler)."""
        self._stopping = True
        for pid in self._pids:
            with contextlib.suppress(ProcessLookupError):  # it has just ended
                os.kill(pid, signal.SIGTERM)


def _serve_here(settings: Settings, sockets, ready: int, go: int) -> None:
    """A worker: a whole mock on the shared sockets, until SIGTERM (which, until the
    parent says go, ends it at once: it serves nobody yet)."""
    code = 0
    try:
        server = MockServer(settings, sockets=(_worker_copy(sockets[0]), _worker_copy(sockets[1])))
        os.write(ready, b".")
        os.close(ready)
        os.read(go, 1)  # end of file: the sockets listen
        os.close(go)
        server.stop_on_signals()
        server.serve_forever()
    except (OSError, ValueError) as exc:
        print(f"psc-mock: worker {os.getpid()}: {exc}", file=sys.stderr, flush=True)
        code = 2
    except BaseException:
        log.exception("worker %s", os.getpid())
        code = 1
    finally:
        os._exit(code)


def _bind(host: str, port: int) -> socket.socket:
    """A socket bound here, listened on once the workers are ready, accepted on by them."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    return sock


class _ListenedByParent(socket.socket):
    """A worker's copy of a shared socket: cheroot's ``listen()`` is left to the parent,
    which listens once every worker is ready, and accepting never waits."""

    def listen(self, backlog: int = 0) -> None:
        """The parent's to do."""

    def settimeout(self, value: float | None) -> None:
        """Non-blocking, whatever cheroot asks: every worker wakes for a new connection
        and all but one find nothing to accept; with cheroot's one-second timeout they
        waited in ``accept()`` that long, and their kept-alive connections with them
        (measured: discovery p99 0.8 s; cheroot takes EAGAIN as "try again")."""
        super().settimeout(0.0)


def _worker_copy(sock: socket.socket | None) -> socket.socket | None:
    return None if sock is None else _ListenedByParent(fileno=os.dup(sock.fileno()))
