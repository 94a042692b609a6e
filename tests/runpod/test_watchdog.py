"""The plain mode's TTL watchdog keeps deleting the GPU pod through 429s and 502s until it is gone."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from infra.targets.runpod import watchdog


class _FlakyRunPod(BaseHTTPRequestHandler):
    """DELETE answers 429 then 502 twice before it takes; GET shows the pod until then.

    A 429 carries `Retry-After: retry_after` when that is set, as RunPod's rate limit does.
    """

    answers: ClassVar[list[int]] = [429, 502, 502, 204]
    retry_after: ClassVar[str | None] = None
    deleted = False
    seen: ClassVar[list[tuple[str, str, str]]] = []

    def do_DELETE(self) -> None:
        status = _FlakyRunPod.answers.pop(0) if _FlakyRunPod.answers else 204
        _FlakyRunPod.seen.append(("DELETE", self.path, self.headers.get("Authorization", "")))
        _FlakyRunPod.deleted = _FlakyRunPod.deleted or status == 204
        self.send_response(status)
        if status == 429 and _FlakyRunPod.retry_after is not None:
            self.send_header("Retry-After", _FlakyRunPod.retry_after)
        self.end_headers()

    def do_GET(self) -> None:
        _FlakyRunPod.seen.append(("GET", self.path, self.headers.get("Authorization", "")))
        if _FlakyRunPod.deleted:
            body = json.dumps({"title": "Not Found", "status": 404, "detail": "pod not found"}).encode()
            self.send_response(404)
        else:
            body = json.dumps({"id": "gpu1", "status": "RUNNING"}).encode()
            self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def flaky_api() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FlakyRunPod)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v2"
    finally:
        server.shutdown()


def test_the_watchdog_retries_through_rate_limits_and_gateway_errors(flaky_api: str) -> None:
    waits: list[float] = []
    attempts = watchdog.terminate_until_gone(flaky_api, "gpu1", "rpa_watchdog_key", sleep=waits.append)
    assert attempts == 4
    # Backoff, not a hammer: doubling from 2 s, each wait jittered in the upper half of its step.
    for wait, ceiling in zip(waits, [2.0, 4.0, 8.0], strict=True):
        assert ceiling / 2 <= wait <= ceiling
    deletes = [entry for entry in _FlakyRunPod.seen if entry[0] == "DELETE"]
    assert all(path == "/v2/pods/gpu1" and auth == "Bearer rpa_watchdog_key" for _, path, auth in deletes)


def test_a_429_is_waited_as_its_retry_after_asks_and_no_wait_passes_the_cap(flaky_api: str) -> None:
    _FlakyRunPod.answers, _FlakyRunPod.deleted, _FlakyRunPod.seen = [429, 429, 429, 204], False, []
    _FlakyRunPod.retry_after = "1"
    waits: list[float] = []
    try:
        assert watchdog.terminate_until_gone(flaky_api, "gpu1", "rpa_watchdog_key", sleep=waits.append) == 4
        assert waits == [1.0, 1.0, 1.0], "what RunPod asked, not the 2-4-8 s backoff"
        _FlakyRunPod.answers, _FlakyRunPod.deleted, _FlakyRunPod.retry_after = [429, 204], False, "86400"
        waits.clear()
        watchdog.terminate_until_gone(flaky_api, "gpu1", "rpa_watchdog_key", sleep=waits.append)
        assert waits == [watchdog.ATTEMPT_CEILING_SECONDS]
    finally:
        _FlakyRunPod.retry_after = None
