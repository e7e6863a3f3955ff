"""Several serving processes on one port (``--workers N``), for load tests.

One process serves about one core's worth of requests: the GIL serialises the Python of
every request (measured with the same wrk load: two processes serve 2.0 times one). Each
worker here is a whole mock (its own app, directory and threads); they share the store, a
SQLite file, and catch up with each other's control API changes (:mod:`idp.control.sync`).

This process binds and listens, and hands each accepted connection to the next worker in
turn, over a Unix socket (``SCM_RIGHTS``). Workers accepting on the shared socket
themselves raced for each connection, and a few kept-alive ones (wrk's 4, a CI job's
pool) often went 3 to 1 for the whole run (908 to 1,704 tokens/s over four runs). A
worker that has not taken the connections already handed to it (stopped, hung) is passed
over while another has fewer waiting: with one of two workers stopped, half the clients
hung, now a few of the first ones do. It also stops the workers on SIGTERM/SIGINT; if
one dies, the others are stopped and the exit code says so.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import secrets
import select
import selectors
import shutil
import signal
import socket
import struct
import sys
import tempfile
import termios
import time
from dataclasses import dataclass, replace

from idp.control.state import generates_token
from idp.server import BACKLOG, MockServer
from idp.settings import Settings

log = logging.getLogger("idp.prefork")
# The temporary store goes to memory when it can: a file there never waits for the disk
# (measured: 1,500 to 1,660 tokens/s with two processes, 1,420 to 1,510 under /tmp).
_SHM = "/dev/shm" if os.path.isdir("/dev/shm") else None
_READY_TIMEOUT = 60.0
_FULL_WAIT = 5.0  # seconds a connection waits for room when every worker's channel is full


@dataclass
class _Worker:
    pid: int
    exited: int  # a pidfd: readable once the process has ended
    channels: list[socket.socket]  # this end of its Unix sockets, one per listener


class Workers:
    """The worker processes of one ``psc-mock serve --workers N``."""

    def __init__(self, settings: Settings) -> None:
        """Bind and listen here, once, for every worker (a client that connects before
        they are ready waits in the backlog); give them the real ports, one shared store
        and one admin token."""
        self.listeners = [_listen(settings.host, settings.port)]
        changes: dict[str, object] = {"port": self.listeners[0].getsockname()[1]}
        if settings.tls_port >= 0:
            self.listeners.append(_listen(settings.host, settings.tls_port))
            changes["tls_port"] = self.listeners[1].getsockname()[1]
        self.temporary = "" if settings.data_dir else tempfile.mkdtemp(prefix="psc-mock-", dir=_SHM)
        if self.temporary:
            changes["data_dir"] = self.temporary
        self.generated_token = generates_token(settings)
        if self.generated_token:
            changes["admin_token"] = secrets.token_urlsafe(32)
        self.settings = replace(settings, **changes)
        self._workers: list[_Worker] = []
        self._stopping = False
        # Each worker writes a byte on "ready" once its app is built.
        self._ready_read, self._ready_write = os.pipe()

    def start(self) -> None:
        addresses = [listener.getsockname() for listener in self.listeners]
        for _ in range(self.settings.workers):
            pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET) for _ in addresses]
            pid = os.fork()
            if pid == 0:
                self._close_in_worker([mine for mine, _ in pairs])
                _serve_here(
                    self.settings, [theirs for _, theirs in pairs], addresses, self._ready_write
                )
            for mine, theirs in pairs:
                theirs.close()
                mine.setblocking(False)  # a full channel: _Turns waits for room on any
            ours = [mine for mine, _ in pairs]
            self._workers.append(_Worker(pid, os.pidfd_open(pid), ours))
        os.close(self._ready_write)
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)

    def _close_in_worker(self, parent_ends: list[socket.socket]) -> None:
        """In a new worker: close what belongs to the parent and to the other workers, so
        that its channels end when the parent does."""
        os.close(self._ready_read)
        for channel in parent_ends:
            channel.close()
        for listener in self.listeners:
            listener.close()
        for worker in self._workers:
            os.close(worker.exited)
            for channel in worker.channels:
                channel.close()

    def wait_ready(self) -> bool:
        """True once every worker has built its app; False if a worker ended first."""
        waiting = self.settings.workers
        deadline = time.monotonic() + _READY_TIMEOUT
        while waiting and time.monotonic() < deadline:
            got = _read_within(self._ready_read, waiting, 0.05)
            if got == b"":  # every worker closed its end: some ended before being ready
                return False
            if got is None and self._reap():
                return False
            waiting -= len(got or b"")
        return not waiting

    def wait(self) -> int:
        """Hand connections out until every worker has exited: 0 if they were stopped,
        1 if one died."""
        code = 0
        events = selectors.DefaultSelector()
        for index, listener in enumerate(self.listeners):
            events.register(listener, selectors.EVENT_READ, index)
        for worker in self._workers:
            events.register(worker.exited, selectors.EVENT_READ, None)
        turns = _Turns(self._workers)
        while self._workers:
            if self._stopping and self.listeners:
                self._close_listeners(events)
            for key, _ in events.select():
                if key.data is None:  # a worker ended
                    events.unregister(key.fd)
                    if self._reap() and not self._stopping:
                        log.error("a worker process ended: stopping the others")
                        code = 1
                        self.stop()
                elif not self._stopping:
                    _hand_out(key.fileobj, key.data, turns)
        self._close_listeners(events)
        if self.temporary:
            shutil.rmtree(self.temporary, ignore_errors=True)
        return code

    def _close_listeners(self, events: selectors.BaseSelector) -> None:
        """Stop taking connections (new ones are refused, queued ones dropped)."""
        for listener in self.listeners:
            events.unregister(listener)
            listener.close()
        self.listeners = []

    def _reap(self) -> bool:
        """Collect the workers that have ended; whether one had."""
        ended = [w for w in self._workers if os.waitpid(w.pid, os.WNOHANG)[0] == w.pid]
        for worker in ended:
            self._workers.remove(worker)
            os.close(worker.exited)
            for channel in worker.channels:
                channel.close()
        return bool(ended)

    def stop(self, _signum: int | None = None, _frame: object = None) -> None:
        """Ask every worker to finish its requests and exit (also the signal handler)."""
        self._stopping = True
        for worker in self._workers:
            with contextlib.suppress(ProcessLookupError):  # it has just ended
                os.kill(worker.pid, signal.SIGTERM)


def _hand_out(listener: socket.socket, index: int, turns: _Turns) -> None:
    """Accept what is waiting on ``listener``; give each connection to the next worker
    (one that cannot be handed over is closed: its client sees it close)."""
    while True:
        try:
            connection, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:  # a network error the client left behind, or no descriptor
            log.warning("cannot accept a connection: %s", exc)
            time.sleep(0.01)  # what is still queued waits a little, rather than spin
            return
        with connection:
            try:
                turns.hand_over(index, connection)
            except OSError as exc:  # a worker has just ended, or none takes any more
                log.warning("connection not handed over: %s", exc)


class _Turns:
    """Who takes the next connection: in turn, among the workers whose channel holds the
    fewest connections not yet taken (usually none: a worker takes one within a few
    microseconds). A worker that stops taking its connections is thus passed over."""

    def __init__(self, workers: list[_Worker]) -> None:
        self._workers = workers  # the live list: an ended worker leaves it
        self._last = -1

    def hand_over(self, index: int, connection: socket.socket) -> None:
        """Send ``connection`` to the next worker on the channels of listener ``index``.

        When every channel is full (2,000 connections opened at once filled both of two
        workers'), the first one to have room takes it; OSError if none has within
        :data:`_FULL_WAIT` seconds.
        """
        try:
            _send(self._next(index).channels[index], connection)
            return
        except BlockingIOError:
            pass
        channels = [worker.channels[index] for worker in self._workers]
        _, room, _ = select.select([], channels, [], _FULL_WAIT)
        if not room:
            raise BlockingIOError(errno.EAGAIN, f"no worker took a connection for {_FULL_WAIT} s")
        _send(room[0], connection)

    def _next(self, index: int) -> _Worker:
        count = len(self._workers)
        in_turn = [self._workers[(self._last + 1 + step) % count] for step in range(count)]
        chosen = min(in_turn, key=lambda worker: _queued(worker.channels[index]))
        self._last = self._workers.index(chosen)
        return chosen


def _send(channel: socket.socket, connection: socket.socket) -> None:
    socket.send_fds(channel, [b"."], [connection.fileno()])


def _queued(channel: socket.socket) -> int:
    """Bytes sent on ``channel`` that the other end has not read yet (the kernel's
    accounting: about 768 a connection handed over)."""
    return struct.unpack("i", fcntl.ioctl(channel.fileno(), termios.TIOCOUTQ, b"\0" * 4))[0]


def _read_within(fd: int, size: int, timeout: float) -> bytes | None:
    """What ``fd`` gives within ``timeout`` (``b""`` at end of file), None if nothing."""
    readable, _, _ = select.select([fd], [], [], timeout)
    return os.read(fd, size) if readable else None


def _serve_here(
    settings: Settings, channels: list[socket.socket], addresses: list[tuple], ready: int
) -> None:
    """A worker: a whole mock on the connections handed to it, until SIGTERM."""
    code = 0
    try:
        handed = [_HandedOver(c, a) for c, a in zip(channels, addresses, strict=True)]
        server = MockServer(settings, sockets=(handed[0], handed[1] if len(handed) > 1 else None))
        server.stop_on_signals()
        os.write(ready, b".")
        os.close(ready)
        server.serve_forever()
    except (OSError, ValueError) as exc:
        print(f"psc-mock: worker {os.getpid()}: {exc}", file=sys.stderr, flush=True)
        code = 2
    except BaseException:
        log.exception("worker %s", os.getpid())
        code = 1
    finally:
        os._exit(code)


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # accepted sockets inherit it
    sock.bind((host, port))
    sock.listen(BACKLOG)
    sock.setblocking(False)
    return sock


class _HandedOver(socket.socket):
    """A worker's end of its Unix socket from the parent, which cheroot takes for its
    listening socket: ``accept()`` receives the next connection the parent accepted."""

    def __init__(self, channel: socket.socket, address: tuple) -> None:
        super().__init__(fileno=channel.detach())
        self.address = address

    def getsockname(self) -> tuple:
        """The TCP address the parent listens on: cheroot's ``bind_addr``, the banner's."""
        return self.address

    def listen(self, backlog: int = 0) -> None:
        """The parent's to do."""

    def settimeout(self, value: float | None) -> None:
        """Non-blocking, whatever cheroot asks: it waits for this socket in a selector,
        and takes EAGAIN as "nothing yet"."""
        super().settimeout(0.0)

    def accept(self) -> tuple[socket.socket, tuple]:
        message, fds, _, _ = socket.recv_fds(self, 1, 1)
        if not message:  # end of file: the parent is gone, so is the port; stop serving
            os.kill(os.getpid(), signal.SIGTERM)
            raise BlockingIOError(errno.EAGAIN, "no parent")
        if not fds:  # the kernel dropped it: this process has no file descriptor left
            log.warning("worker %s: a connection was lost on its way", os.getpid())
            raise BlockingIOError(errno.EAGAIN, "no connection")
        connection = socket.socket(fileno=fds[0])
        return connection, connection.getpeername()
