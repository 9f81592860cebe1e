"""A real HTTP server on 127.0.0.1 that serves fixture answers, for the source tests.

Each route is a function of the request's query parameters that returns a Reply; a Reply
can be slow, truncated mid-body, or any status with any headers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Reply:
    body: bytes | str = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    truncate_at: int | None = None  # send only this many bytes of the body, then hang up

    @property
    def data(self) -> bytes:
        return self.body.encode() if isinstance(self.body, str) else self.body


Handler = Callable[[dict[str, str]], Reply]


class LoopbackServer:
    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        server = self

        class RequestHandler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                params = dict(parse_qsl(parts.query, keep_blank_values=True))
                server.requests.append((parts.path, params))
                handler = server.routes.get(parts.path)
                reply = handler(params) if handler else Reply("not found", 404)
                if reply.delay:
                    time.sleep(reply.delay)
                data = reply.data
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(
                        data[: reply.truncate_at] if reply.truncate_at is not None else data
                    )
                    if reply.truncate_at is not None:
                        self.close_connection = True
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def route(self, path: str, handler: Handler) -> None:
        self.routes[path] = handler

    def serve_sequence(self, path: str, replies: list[Reply]) -> None:
        """Answer the n-th request with replies[n] (the last one repeats)."""
        count = [0]

        def handler(_params: dict[str, str]) -> Reply:
            reply = replies[min(count[0], len(replies) - 1)]
            count[0] += 1
            return reply

        self.route(path, handler)

    def calls(self, path: str) -> list[dict[str, str]]:
        return [params for p, params in self.requests if p == path]

    def start(self) -> LoopbackServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
