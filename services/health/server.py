"""The read-only HTTP server: GET/HEAD of its routes only.

A route is called with the query (first value of each name).  A route whose key ends in
``/`` takes every path below it, the rest given as ``query["rest"]`` (not unquoted: a route
that serves files checks the name as sent).  A route may return headers as a fourth item.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

log = logging.getLogger("health.http")

Answer = tuple[int, str, bytes] | tuple[int, str, bytes, dict[str, str]]
Route = Callable[[dict[str, str]], Answer]
MAX_REQUEST_LINE = 2048
IDLE_TIMEOUT = 10.0  # seconds


def make_handler(routes: dict[str, Route]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "smartmeter-health"
        sys_version = ""
        protocol_version = "HTTP/1.1"
        # A client that connects and says nothing (or half a request, or keeps the
        # connection idle) is dropped after this long instead of holding a thread for good:
        # on the image the server listens on the LAN.
        timeout = IDLE_TIMEOUT

        def _answer(self, body_too: bool) -> None:
            if len(self.requestline) > MAX_REQUEST_LINE:
                return self._plain(HTTPStatus.REQUEST_URI_TOO_LONG, "request too long\n", body_too)
            path, _, qs = self.path.partition("?")
            try:
                query = dict(parse_qsl(qs, max_num_fields=8)) if qs else {}
            except ValueError:  # more fields than any route takes
                return self._plain(HTTPStatus.BAD_REQUEST, "too many query fields\n", body_too)
            route = routes.get(path)
            if route is None:
                prefix = next((k for k in routes if k.endswith("/") and k != "/"
                               and path.startswith(k) and len(path) > len(k)), None)  # fmt: skip
                if prefix is None:
                    return self._plain(HTTPStatus.NOT_FOUND, "not found\n", body_too)
                route, query = routes[prefix], {**query, "rest": path[len(prefix) :]}
            try:
                code, ctype, body, *more = route(query)
            except Exception:  # a bug must not take the endpoint down; log it once per request
                log.exception("error answering %s", path)
                return self._plain(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error\n", body_too)
            self._send(code, ctype, body, body_too, more[0] if more else {})

        def _plain(self, code: int, text: str, body_too: bool) -> None:
            self._send(code, "text/plain; charset=utf-8", text.encode(), body_too)

        def _send(self, code: int, ctype: str, body: bytes, body_too: bool,
                  headers: dict[str, str] | None = None) -> None:  # fmt: skip
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            if body_too:
                self.wfile.write(body)

        def do_GET(self) -> None:
            self._answer(True)

        def do_HEAD(self) -> None:
            self._answer(False)

        def _refuse(self) -> None:
            self.send_response(HTTPStatus.METHOD_NOT_ALLOWED)
            self.send_header("Allow", "GET, HEAD")
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse

        def log_message(self, format: str, *args: object) -> None:
            log.debug("%s %s", self.address_string(), format % args)

    return Handler


def json_route(build: Callable[[], dict], code_of: Callable[[dict], int]) -> Route:
    def route(query: dict[str, str]) -> Answer:
        doc = build()
        return code_of(doc), "application/health+json", json.dumps(doc, indent=1).encode()

    return route


class HealthServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 16

    def __init__(self, bind: str, port: int, routes: dict[str, Route]) -> None:
        super().__init__((bind, port), make_handler(routes))
