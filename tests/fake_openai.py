"""A fake OpenAI-compatible chat server: real HTTP on 127.0.0.1, scripted answers.

It answers `POST .../chat/completions` in the OpenAI response shape and records every
request it received. Tests script it:
    server.answer_with(lambda body: '{"results": {}}')   # the content of each answer
    server.fail(503, times=2)      # the next two requests get HTTP 503
    server.stall(5.0)              # the next request gets no answer for 5 s (a timeout)
    server.malformed_content()     # the next answer's content is not valid JSON
    server.malformed_body()        # the next HTTP body is not JSON at all
Scripted behaviours are used up in order; then every request gets a normal answer.
"""

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answerer = Callable[[dict[str, Any]], str]


@dataclass(frozen=True)
class Recorded:
    """One request as the server saw it; header names are lower-case."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def system_prompt(self) -> str:
        return next(m["content"] for m in self.body["messages"] if m["role"] == "system")

    @property
    def user_prompt(self) -> str:
        return next(m["content"] for m in self.body["messages"] if m["role"] == "user")

    @property
    def json_schema(self) -> dict[str, Any]:
        return self.body["response_format"]["json_schema"]  # type: ignore[no-any-return]


@dataclass(frozen=True)
class _Behaviour:
    kind: str  # "answer", "fail", "stall", "malformed_content", "malformed_body"
    status: int = 200
    seconds: float = 0.0
    error_text: str = "scripted failure"


class FakeOpenAI:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._script: list[_Behaviour] = []
        self._answerer: Answerer = lambda body: "Fake answer."
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        # A short poll interval so that stopping (once per test) is quick.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def answer_with(self, answerer: Answerer) -> None:
        self._answerer = answerer

    def answer_text(self, text: str) -> None:
        self._answerer = lambda body: text

    def answer_json(self, answer: Any) -> None:
        self._answerer = lambda body: json.dumps(answer)

    def fail(self, status: int = 503, times: int = 1, error_text: str = "scripted failure") -> None:
        self._add(_Behaviour("fail", status=status, error_text=error_text), times)

    def stall(self, seconds: float, times: int = 1) -> None:
        self._add(_Behaviour("stall", seconds=seconds), times)

    def malformed_content(self, times: int = 1) -> None:
        self._add(_Behaviour("malformed_content"), times)

    def malformed_body(self, times: int = 1) -> None:
        self._add(_Behaviour("malformed_body"), times)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()  # ends stalls at once
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def _add(self, behaviour: _Behaviour, times: int) -> None:
        with self._lock:
            self._script += [behaviour] * times

    def _next(self, recorded: Recorded) -> _Behaviour:
        with self._lock:
            self.requests.append(recorded)
            return self._script.pop(0) if self._script else _Behaviour("answer")

    def _completion(self, body: dict[str, Any], malformed: bool) -> dict[str, Any]:
        content = '{"results": {"unterminated' if malformed else self._answerer(body)
        message = {"role": "assistant", "content": content, "refusal": None}
        return {
            "id": f"chatcmpl-fake-{len(self.requests)}",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": body.get("model", "fake"),
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }


@contextmanager
def running_fake_openai() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _handler_for(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # the name http.server looks up
            length = int(self.headers.get("content-length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            headers = {name.lower(): value for name, value in self.headers.items()}
            behaviour = fake._next(Recorded(self.path, headers, body))
            if not self.path.endswith("/chat/completions"):
                self._send(404, b'{"error": {"message": "not found"}}')
            elif behaviour.kind == "fail":
                error = {"error": {"message": behaviour.error_text}}
                self._send(behaviour.status, json.dumps(error).encode())
            elif behaviour.kind == "malformed_body":
                self._send(200, b"<html>not json</html>")
            else:
                if behaviour.kind == "stall" and fake._stopping.wait(behaviour.seconds):
                    return
                malformed = behaviour.kind == "malformed_content"
                self._send(200, json.dumps(fake._completion(body, malformed)).encode())

        def _send(self, status: int, payload: bytes) -> None:
            try:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test): nobody to answer

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

    return Handler
