"""The pod's time-to-live: starts before anything slow and retries the terminate until RunPod says gone."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from infra.catalog import load_catalog
from infra.planner import PlanRequest, plan
from infra.targets.runpod.start_script import cpu_start_script, gpu_start_script, ttl_watchdog

POD_ID = "pod_ttl123"
API_KEY = "rpa_CANARY_TTL_KEY"


@dataclass
class FakeRunPod:
    """REST v2 `DELETE|GET /v2/pods/{id}` answering from scripted status lists (the last one repeats)."""

    deletes: list[int]
    gets: list[int | str]
    seen: list[tuple[str, str, str]] = field(default_factory=list)

    def answer(self, method: str) -> tuple[int, bytes]:
        script = self.deletes if method == "DELETE" else self.gets
        count = sum(1 for m, _, _ in self.seen if m == method)
        status = script[min(count - 1, len(script) - 1)]
        if isinstance(status, str):  # a 200 with this pod status
            return 200, json.dumps({"id": POD_ID, "status": status}).encode()
        return status, b"" if status == 204 else json.dumps({"error": "scripted"}).encode()


@pytest.fixture
def runpod_v2() -> Iterator[tuple[FakeRunPod, str]]:
    fake = FakeRunPod(deletes=[204], gets=[404])

    class Handler(BaseHTTPRequestHandler):
        def _reply(self) -> None:
            fake.seen.append((self.command, self.path, self.headers.get("Authorization", "")))
            status, body = fake.answer(self.command)
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_DELETE = do_GET = _reply

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def run_watchdog(base_url: str) -> subprocess.CompletedProcess[str]:
    """The rendered TTL block, as the start scripts run it, with bash; then wait for its subshell."""
    env = {
        **os.environ,
        "RUNPOD_API_BASE_URL": base_url,
        "RUNPOD_POD_ID": POD_ID,
        "RUNPOD_API_KEY": API_KEY,
        "V4INFRA_TTL_RETRY_SECONDS": "0.01",
        "V4INFRA_TTL_RETRY_MAX_SECONDS": "0.05",
    }
    script = ttl_watchdog(1) + "\nwait\n"
    # A generous ceiling for a busy machine; the script itself ends as soon as the pod is confirmed gone.
    return subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=300)


def test_api_errors_at_ttl_time_are_retried_until_the_pod_is_gone(runpod_v2) -> None:
    fake, url = runpod_v2
    fake.deletes, fake.gets = [429, 502, 503, 429, 204], [404]
    done = run_watchdog(url)
    assert done.returncode == 0, done.stderr
    assert [m for m, _, _ in fake.seen] == ["DELETE"] * 5 + ["GET"]
    assert {p for _, p, _ in fake.seen} == {f"/v2/pods/{POD_ID}"}
    assert {a for _, _, a in fake.seen} == {f"Bearer {API_KEY}"}
    assert "retrying" in done.stdout and done.stdout.rstrip().endswith("v4infra-ttl: pod terminated")
    assert API_KEY not in done.stdout + done.stderr


def test_an_accepted_terminate_is_not_trusted_until_the_pod_reads_terminated(runpod_v2) -> None:
    fake, url = runpod_v2
    fake.deletes, fake.gets = [204], [502, "RUNNING", "RUNNING", "TERMINATED"]
    done = run_watchdog(url)
    assert done.returncode == 0, done.stderr
    methods = [m for m, _, _ in fake.seen]
    assert methods == ["DELETE", "GET"] * 4, "it terminates again until RunPod confirms"


def test_an_unreachable_api_is_retried_too() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"  # nothing listens once the socket is closed
    env = {
        **os.environ,
        "RUNPOD_API_BASE_URL": closed,
        "RUNPOD_POD_ID": POD_ID,
        "RUNPOD_API_KEY": API_KEY,
        "V4INFRA_TTL_RETRY_SECONDS": "0.01",
        "V4INFRA_TTL_RETRY_MAX_SECONDS": "0.02",
    }
    proc = subprocess.Popen(
        ["bash", "-c", ttl_watchdog(1) + "\nwait\n"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, so the python child is stopped with it
    )
    try:
        assert proc.stdout is not None
        retries = 0
        for line in proc.stdout:
            retries += "retrying" in line
            if retries >= 3:
                break
        assert retries >= 3 and proc.poll() is None, "still trying, not given up"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)


def _plan():
    cat = load_catalog()
    return plan(PlanRequest(model="flash", gpu="H200", gpus_per_node=4, nodes=1, target="runpod"), cat)


@pytest.mark.parametrize("kind", ["gpu", "cpu"])
def test_the_ttl_starts_before_anything_slow(kind: str) -> None:
    script = (
        gpu_start_script(_plan(), stack="s", pod_name="v4i-s-0123456789-pod-abc123", ttl_seconds=600)
        if kind == "gpu"
        else cpu_start_script(stack="s", ttl_seconds=600)
    )
    ttl = script.index("sleep 600")
    for slow in (
        "timeout 300 apt-get",
        "ssh-keygen -A",
        "pip install -q",
        "export HF_HOME",
        'mkdir -p "$LOG_DIR"',
    ):
        if slow in script:
            assert ttl < script.index(slow), f"the TTL must start before {slow}"
    assert "timeout 300 apt-get update" in script and "timeout 600 apt-get install" in script
    assert "/v2/pods/" in script and "graphql" not in script


def test_a_permanent_pod_has_no_ttl() -> None:
    assert "v4infra-ttl" not in cpu_start_script(stack="s", ttl_seconds=None)
