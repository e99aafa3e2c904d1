"""A real local HTTP server receiving webhooks in a thread, checking each signature as an integrator would."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from relance.webhooks import signing


class Receiver:
    """Answers `status` (or a list of statuses, one per request); keeps what it received."""

    def __init__(self, secret: str = "", status: int | list[int] = 200, location: str = ""):
        self.secret, self.statuses, self.location = secret, status, location
        self.received: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.took(dict(self.headers), body)
                status = receiver.next_status()
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/hooks/relance"

    def next_status(self) -> int:
        if isinstance(self.statuses, list):
            return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return self.statuses

    def took(self, headers: dict, body: bytes) -> None:
        verified = None
        if self.secret:
            try:
                signing.verify(self.secret, headers.get(signing.HEADER, ""), body, now=time.time())
                verified = True
            except signing.SignatureError:
                verified = False
        self.received.append({"headers": headers, "body": body, "verified": verified})

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
