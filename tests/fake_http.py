"""A scripted HTTP server on 127.0.0.1 for outside services (GitHub's API, an
Autograder server seen from the Action): each (method, path) answers from a queue of
scripted (status, JSON body) replies, the last one repeating; every request is kept."""

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class FakeHttp:
    def __init__(self) -> None:
        self.replies: dict[tuple[str, str], list[tuple[int, Any]]] = {}
        self.seen: list[Seen] = []
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def reply(self, method: str, path: str, *answers: tuple[int, Any]) -> None:
        self.replies[(method, path)] = list(answers)

    def calls(self, method: str, path: str) -> list[Seen]:
        return [s for s in self.seen if (s.method, s.path.split("?")[0]) == (method, path)]

    def _answer(self, method: str, path: str) -> tuple[int, Any]:
        queue = self.replies.get((method, path.split("?")[0]))
        if not queue:
            return 404, {"message": "Not Found"}
        return queue.pop(0) if len(queue) > 1 else queue[0]

    def handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("content-length", 0))
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                fake.seen.append(Seen(self.command, self.path, dict(self.headers), body))
                status, answer = fake._answer(self.command, self.path)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve  # noqa: N815

            def log_message(self, *args: Any) -> None:
                return

        return Handler


@contextmanager
def fake_http() -> Iterator[FakeHttp]:
    fake = FakeHttp()
    fake.server = ThreadingHTTPServer(("127.0.0.1", 0), fake.handler())
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()
