"""Serving: one process, many threads (cheroot), stoppable from a signal or a thread.

The socket is bound before the app is built, so ``--port 0`` works and the printed URLs
carry the real port. The pytest plugin runs the same server in a thread.
"""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import replace

from cheroot import wsgi

from idp.app import create_app
from idp.clock import Clock
from idp.settings import Settings

log = logging.getLogger("idp.server")


class MockServer:
    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        self._server = wsgi.Server(
            (settings.host, settings.port),
            None,
            numthreads=settings.threads,
            server_name="psc-mock",
        )
        self._server.prepare()  # binds now: the real port is known before the app exists
        self.settings = replace(settings, port=self._server.bind_addr[1])
        self.app = create_app(self.settings, clock=clock)
        self._server.wsgi_app = self.app
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self.settings.port

    def serve_forever(self) -> None:
        self._server.serve()

    def start_in_thread(self) -> MockServer:
        self._thread = threading.Thread(target=self.serve_forever, name="psc-mock", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.stop()
        if self._thread:
            self._thread.join(timeout=5)

    def stop_on_signals(self) -> None:
        """SIGTERM/SIGINT stop the server cleanly (in-flight requests finish)."""

        def handler(signum, _frame):
            log.info("%s received: stopping", signal.Signals(signum).name)
            threading.Thread(target=self._server.stop, daemon=True).start()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
