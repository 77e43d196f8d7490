"""A local HTTP server that gives scripted answers, for faults the emulator does not play."""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Answer:
    """One scripted answer: a status, a JSON (or text) body and headers."""

    status: int = 200
    body: Any = None
    text: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None

    def encode(self) -> tuple[bytes, str]:
        if self.text is not None:
            return self.text.encode(), self.content_type or "text/html"
        return json.dumps(self.body).encode(), self.content_type or "application/json"


@dataclass
class ScriptedServer:
    """Answers each request with the next scripted answer for its method, then repeats the last one."""

    url: str = ""
    script: dict[str, deque[Answer]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)

    def answer(self, method: str, *answers: Answer) -> None:
        self.script.setdefault(method, deque()).extend(answers)

    def next_answer(self, method: str) -> Answer:
        queue = self.script.get(method) or deque([Answer(404, {"status": 404, "message": "not scripted"})])
        return queue.popleft() if len(queue) > 1 else queue[0]

    def count(self, method: str) -> int:
        return sum(1 for request_method, _ in self.requests if request_method == method)


@contextmanager
def scripted_server() -> Iterator[ScriptedServer]:
    """Serve scripted answers on a free loopback port for the duration of the block."""
    scripted = ScriptedServer()

    class Handler(BaseHTTPRequestHandler):
        def _respond(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            scripted.requests.append((self.command, self.path))
            answer = scripted.next_answer(self.command)
            payload, content_type = answer.encode()
            self.send_response(answer.status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _respond

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    scripted.url = f"http://127.0.0.1:{server.server_port}"
    try:
        yield scripted
    finally:
        server.shutdown()
        server.server_close()
