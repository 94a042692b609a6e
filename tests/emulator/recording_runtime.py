"""Test doubles for the emulator's pod runtime, and waiting on conditions.

`RecordingRuntime` stands in for a container: it serves `PodHttp` on the port mapped for 8000
(22 maps to a closed port) and records the launch it was given; the pod runtime has its own tests.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from infra.emulator.clock import Clock


class PodHttp(BaseHTTPRequestHandler):
    """What a pod serves on its port 8000 in these tests: an echo and an SSE stream."""

    protocol_version = "HTTP/1.1"
    # Set by the test: the stream waits for the client to have seen the first event.
    first_event_seen = threading.Event()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/stream"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self._chunk(b"data: one\n\n")
            # Only a proxy that streams lets the client see event one before event two exists.
            seen = type(self).first_event_seen.wait(timeout=10)
            self._chunk(b"data: two\n\n" if seen else b"data: buffered\n\n")
            self._chunk(b"")
            return
        self._echo(b"")

    def do_POST(self) -> None:
        self._echo(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _echo(self, body: bytes) -> None:
        answer = json.dumps(
            {"method": self.command, "path": self.path, "auth": self.headers.get("Authorization"),
             "body": body.decode()}
        ).encode()  # fmt: skip
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


class RecordingRuntime:
    """A pod runtime double: serves `PodHttp` on the port mapped for 8000; 22 maps to a closed port."""

    def __init__(self, launch: Any, sandbox_dir: Path, clock: Clock, load_seconds: float, fault: str | None):
        self.launch = launch
        self.sandbox_dir = sandbox_dir
        self.load_seconds = load_seconds
        self.engine_fault = fault
        self.alive = False
        self.killed = False
        self._server: ThreadingHTTPServer | None = None
        self._ports: dict[int, int] = {}

    def start(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), PodHttp)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        closed = ThreadingHTTPServer(("127.0.0.1", 0), PodHttp)
        closed_port = closed.server_address[1]
        closed.server_close()
        self._ports = {8000: self._server.server_address[1], 22: closed_port}
        self.alive = True

    @property
    def port_map(self) -> dict[int, int]:
        return dict(self._ports)

    def is_alive(self) -> bool:
        return self.alive

    def kill(self) -> None:
        self.alive = False
        self.killed = True
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def log_tail(self, n: int = 50) -> list[str]:
        return [f"started {self.launch.name}"][-n:]

    def read_output(self) -> list[str]:
        return []


def wait_for(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")
