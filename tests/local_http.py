"""Small helpers for tests that drive local servers over HTTP: free ports, JSON requests, a proxy."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx


def free_ports(count: int) -> list[int]:
    """Ports free right now on loopback, all different (each socket stays bound until all are picked)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def http_json(method: str, url: str, body: Any = None, timeout: float = 10.0) -> tuple[int, Any]:
    """One JSON request; answers (status, decoded body), or (0, error text) when nothing answered."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read()
            return response.status, json.loads(text) if text else None
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")[:2000]
    except (OSError, ValueError) as exc:
        return 0, f"{type(exc).__name__}: {exc}"


# An answer the proxy gives instead of passing a request on: status, JSON body.
Override = Callable[[str, str], "tuple[int, Any] | None"]


@contextmanager
def forwarding_proxy(upstream: str, override: Override) -> Iterator[str]:
    """
    A local HTTP proxy in front of ``upstream``: each request that ``override(method, path)`` answers
    gets that answer (status, JSON body); every other one is passed on as it came. Yields its URL.
    """

    class Forward(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            overridden = override(self.command, self.path)
            if overridden is not None:
                status, payload = overridden
                self._answer(status, json.dumps(payload).encode(), "application/json")
                return
            headers = {name: value for name, value in self.headers.items() if name.lower() != "host"}
            answer = httpx.request(self.command, upstream + self.path, content=body, headers=headers)
            self._answer(answer.status_code, answer.content, answer.headers.get("content-type", ""))

        do_GET = do_POST = _handle

        def _answer(self, status: int, payload: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with serving(Forward) as url:
        yield url


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` on a free loopback port, on a thread, for the block; yield the server's URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
