"""Serving the WSGI application with waitress (pure Python, production-grade for the embedded default)."""

from __future__ import annotations

import logging
import signal
import threading

log = logging.getLogger("relance.server")


def serve(host: str, port: int, threads: int = 8, on_ready=None, stop: threading.Event | None = None) -> None:
    from waitress.server import create_server

    from relance.wsgi import application

    server = create_server(application, host=host, port=port, threads=threads, ident="relance")
    if on_ready:
        on_ready(server)
    stopper = stop or threading.Event()

    def _stop(*_args):
        stopper.set()
        server.close()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        server.run()
    except (OSError, ValueError):
        if not stopper.is_set():
            raise
    finally:
        log.info("web server stopped")
