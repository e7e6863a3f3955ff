"""Serving: one process, many threads (cheroot), stoppable from a signal or a thread
(several such processes: :mod:`idp.prefork`).

The socket is bound before the app is built, so ``--port 0`` works and the printed URLs
carry the real port. The pytest plugin runs the same server in a thread.

With ``--tls`` the main listener speaks HTTPS; with ``--tls-port`` a second cheroot
listener, in the same process, serves the same app over HTTPS (see :mod:`idp.tls`).
"""

from __future__ import annotations

import logging
import select
import signal
import socket
import threading
from dataclasses import replace

from cheroot import wsgi

from idp.app import create_app
from idp.clock import Clock
from idp.control.guard import MAX_JSON_BYTES
from idp.settings import Settings
from idp.slots import Slots
from idp.tls import client_authorities

log = logging.getLogger("idp.server")
BACKLOG = 1024
# How long a thread that answered a keep-alive connection waits for its next request before
# handing it back to cheroot's selector thread (see _Listener.put_conn).
LINGER_MS = 1.0
# Request line and headers together, at most (cheroot's default, 0, is no limit: one 300 MB
# header grew the process by 370 MB). nginx reads 4 buffers of 8 KiB (32 KiB), Quarkus
# (Keycloak) 20 KiB of headers; 64 KiB leaves room for a long authorize URL and a client
# certificate forwarded in a header. Beyond it cheroot answers 414 (request line) or 413
# and closes the connection.
MAX_HEADER_BYTES = 64 * 1024
# Request bodies, at most: without it cheroot reads whatever Content-Length announces, into
# memory at once, even to skip the body of a request whose endpoint ignores it (200 MB: the
# process peaked at 437 MB). Above the app's own limits (forms: Werkzeug's 500 kB for a
# Content-Length; any body, chunked too: MAX_CONTENT_LENGTH, guard.MAX_JSON_BYTES), which
# answer their own 413.
MAX_BODY_BYTES = 2 * MAX_JSON_BYTES


class MockServer:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        sockets: tuple[socket.socket | None, socket.socket | None] = (None, None),
    ) -> None:
        """Bind, then build the app. ``sockets``: for the main and the HTTPS listener, the
        sockets a parent process hands this worker its connections on (:mod:`idp.prefork`)."""
        main, secure = sockets
        self._server = self._listener(settings, settings.port, tls=settings.tls, inherited=main)
        self._tls_server = None
        if settings.tls_port >= 0:
            try:
                self._tls_server = self._listener(
                    settings, settings.tls_port, tls=True, inherited=secure
                )
            except BaseException:
                self._server.stop()
                raise
        # Both listeners are bound now: the real ports are known before the app exists.
        self.settings = replace(settings, port=self._server.bind_addr[1])
        if self._tls_server is not None:
            self.settings = replace(self.settings, tls_port=self._tls_server.bind_addr[1])
        try:
            self.app = create_app(self.settings, clock=clock)
        except BaseException:
            for server in self._servers:
                server.stop()  # else their worker threads keep the process alive
            raise
        for server in self._servers:
            server.wsgi_app = self.app
        self._thread: threading.Thread | None = None
        self._tls_thread: threading.Thread | None = None

    @staticmethod
    def _listener(
        settings: Settings, port: int, *, tls: bool, inherited: socket.socket | None
    ) -> wsgi.Server:
        options = {
            "numthreads": settings.threads,
            "server_name": "psc-mock",
            # cheroot's default listen backlog is 5: a burst of new connections (a CI farm,
            # 20 pollers at once) overflowed it and clients saw "connection reset".
            "request_queue_size": BACKLOG,
        }
        if inherited is None:
            server = _Listener((settings.host, port), None, **options)
        else:
            server = _InheritedListener(inherited, (settings.host, port), None, **options)
        if tls:
            from idp.tls_listener import tls_adapter

            server.ssl_adapter = tls_adapter(
                settings.tls_cert, settings.tls_key, client_authorities(settings)
            )
        server.max_request_header_size = MAX_HEADER_BYTES
        server.max_request_body_size = MAX_BODY_BYTES
        # Each listener its own slots: the holders of a quiet one wait for its connections.
        server.requests.get = Slots(settings.active_threads).around(server.requests)
        server.prepare()
        return server

    @property
    def _servers(self) -> list[wsgi.Server]:
        return [s for s in (self._server, self._tls_server) if s is not None]

    @property
    def tls_port(self) -> int | None:
        """The HTTPS listener's port (``--tls-port``), None without one."""
        return self.settings.tls_port if self._tls_server is not None else None

    @property
    def port(self) -> int:
        return self.settings.port

    def serve_forever(self) -> None:
        if self._tls_server is not None and self._tls_thread is None:
            self._tls_thread = threading.Thread(
                target=self._tls_server.serve, name="psc-mock-tls", daemon=True
            )
            self._tls_thread.start()
        self._server.serve()

    def start_in_thread(self) -> MockServer:
        self._thread = threading.Thread(target=self.serve_forever, name="psc-mock", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.stop()
        for thread in (self._thread, self._tls_thread):
            if thread:
                thread.join(timeout=5)

    def stop_on_signals(self) -> None:
        """SIGTERM/SIGINT stop the server cleanly (in-flight requests finish)."""

        def handler(signum, _frame):
            log.info("%s received: stopping", signal.Signals(signum).name)
            for server in self._servers:
                threading.Thread(target=server.stop, daemon=True).start()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)


class _Listener(wsgi.Server):
    """cheroot's server, with a fast path for clients that call again at once."""

    def put_conn(self, conn) -> None:
        """After a request on a keep-alive connection: if its next request comes within
        :data:`LINGER_MS` (a test logging in, then asking tokens and userinfo; a browser
        fetching a page's assets), this thread serves it, instead of the connection going
        to cheroot's selector thread, which wakes a worker thread through the queue. Two
        thread switches less: measured 0.065 ms less a request, and the full code flow
        (authorize, token, userinfo) 0.35 ms faster (p50 from 5.08 to 5.31 ms, to 4.73 to
        4.89). Not while other connections wait for a thread, checked again once the next
        request is there: they go first, as they would without this (under wrk, the fast
        path is rarely taken and the throughput is unchanged)."""
        while self._alone() and _readable(conn.socket, LINGER_MS) and self._alone():
            if not self._serve_again(conn):
                return
        super().put_conn(conn)

    def _alone(self) -> bool:
        """Serving, and no connection waits in the queue for a thread."""
        return self.ready and not self.requests.qsize

    def _serve_again(self, conn) -> bool:
        """The connection's next request, its errors handled as cheroot's worker threads
        do (an error here must not end this thread): whether to keep the connection."""
        try:
            if conn.communicate():
                return True
        except ConnectionError as error:
            self.error_log(f"Connection error from {conn.remote_addr}: {error}", logging.INFO)
        except Exception:
            self.error_log("Unhandled error on a kept-alive connection", logging.ERROR, True)
        conn.close()
        return False


def _readable(sock: socket.socket, milliseconds: float) -> bool:
    """Whether the socket has data (or was closed) within ``milliseconds``; False for a
    socket that cannot be polled: cheroot's selector thread then deals with it."""
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(milliseconds))
    except (OSError, ValueError):
        return False


class _InheritedListener(_Listener):
    """A listener on a socket made by its parent process (:mod:`idp.prefork`), which
    hands it the connections to serve."""

    def __init__(self, inherited: socket.socket, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.inherited = inherited

    def bind(self, family, type, proto=0):
        sock = self.socket = self.inherited
        if self.ssl_adapter is not None:
            sock = self.socket = self.ssl_adapter.bind(sock)
        self.bind_addr = self.resolve_real_bind_addr(sock)
        return sock
