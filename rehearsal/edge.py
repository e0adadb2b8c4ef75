"""A small stand-in for App Platform's edge, for the fault drills: it follows the spec's ingress rules
(longest path prefix wins) and sends each request to one of the component's instances whose readiness
check passes (round robin); with none ready it answers 503 itself, as the platform's load balancer does
for a component with no healthy container.

What it does not model: TLS, HTTP/2, the CDN, keep-alive to the client, request buffering and the
platform's own request timeout. A request an instance accepted is relayed to the end even if the
instance stops being ready meanwhile (a draining container finishes its in-flight requests).
"""

from __future__ import annotations

import http.client
import itertools
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from platform_model.ingress import Route, route_for

from .deployment import Instance
from .pki import LOOPBACK_IP

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
              "transfer-encoding", "upgrade", "host", "content-length"}
UPSTREAM_TIMEOUT_SECONDS = 600


class Edge:
    def __init__(self, rules: list[Route], ready: Callable[[str], list[Instance]], port: int = 0):
        self.rules = rules
        self.ready = ready
        self._turn = itertools.count()
        self.server = ThreadingHTTPServer((LOOPBACK_IP, port), self._handler())
        self.server.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK_IP}:{self.server.server_address[1]}"

    def pick(self, path: str) -> Instance | None:
        found = route_for(self.rules, path)
        component = found.public_component if found else None
        instances = self.ready(component) if component else []
        return instances[next(self._turn) % len(instances)] if instances else None

    def __enter__(self) -> Edge:
        # shutdown() waits up to one poll interval (0.5 s by default)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True,
                         name="edge").start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        edge = self

        class Relay(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                found = route_for(edge.rules, self.path)
                if found is not None and found.redirect:  # e.g. /metrics, kept off the public URL
                    self._answer(int(found.redirect.get("redirect_code") or 302), b"",
                                 {"Location": str(found.redirect.get("uri") or "/")})
                    return
                inst = edge.pick(self.path)
                if inst is None:
                    self._answer(503, b"no healthy instance\n", {"Content-Type": "text/plain"})
                    return
                conn = http.client.HTTPConnection(LOOPBACK_IP, inst.ports[int(inst.spec["http_port"])],
                                                  timeout=UPSTREAM_TIMEOUT_SECONDS)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                headers["X-Forwarded-For"] = self.client_address[0]
                try:
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    resp = conn.getresponse()
                    payload = resp.read()
                    self._answer(resp.status, payload, {k: v for k, v in resp.getheaders()
                                                        if k.lower() not in HOP_BY_HOP})
                except OSError:  # the instance went away mid-request: what the client sees is a 502
                    self._answer(502, b"upstream connection failed\n", {"Content-Type": "text/plain"})
                finally:
                    conn.close()

            def _answer(self, status: int, payload: bytes, headers: dict) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Connection", "close")
                self.close_connection = True
                try:
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:  # the caller gave up (its timeout) before the answer came
                    pass

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _relay  # noqa: N815 - http.server looks these names up

            def log_message(self, *args) -> None:
                pass

        return Relay
