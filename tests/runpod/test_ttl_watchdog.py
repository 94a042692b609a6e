"""The pod's time-to-live: starts before anything slow and retries the terminate until RunPod says gone,
waiting what a 429's Retry-After asks (bounded by a cap), else a short jittered backoff."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from infra.catalog import load_catalog
from infra.emulator import Emulator, Faults
from infra.emulator.errors import NotFound
from infra.planner import PlanRequest, plan
from infra.ssh import generate_keypair
from infra.targets.runpod import naming
from infra.targets.runpod.client import RunPodClient
from infra.targets.runpod.start_script import (
    cpu_start_script,
    gpu_start_script,
    json_start_command,
    ttl_watchdog,
)
from infra.targets.runpod.types import PodRequest, RunPodSettings

POD_ID = "pod_ttl123"
API_KEY = "rpa_CANARY_TTL_KEY"


@dataclass
class FakeRunPod:
    """REST v2 `DELETE|GET /v2/pods/{id}` answering from scripted status lists (the last one repeats).

    A 429 carries `Retry-After: retry_after` when it is set, as RunPod's rate limit does (RFC 9110).
    """

    deletes: list[int]
    gets: list[int | str]
    seen: list[tuple[str, str, str]] = field(default_factory=list)
    retry_after: str | None = None

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
            if status == 429 and fake.retry_after is not None:
                self.send_header("Retry-After", fake.retry_after)
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


def run_watchdog(base_url: str, backoff: str = "0.01", cap: str = "0.05") -> subprocess.CompletedProcess[str]:
    """The rendered TTL block, as the start scripts run it, with bash; then wait for its subshell."""
    env = {
        **os.environ,
        "RUNPOD_API_BASE_URL": base_url,
        "RUNPOD_POD_ID": POD_ID,
        "RUNPOD_API_KEY": API_KEY,
        "V4INFRA_TTL_RETRY_SECONDS": backoff,
        "V4INFRA_TTL_RETRY_MAX_SECONDS": cap,
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


def waits(stdout: str) -> list[tuple[float, str]]:
    """(seconds, why) of each retry the TTL printed: `retrying in 1 s (Retry-After)`."""
    found = re.findall(r"retrying in ([0-9.e+-]+) s \((Retry-After|backoff)\)", stdout)
    return [(float(seconds), why) for seconds, why in found]


def test_a_429_waits_what_retry_after_says_not_the_backoff(runpod_v2) -> None:
    fake, url = runpod_v2
    fake.deletes, fake.gets, fake.retry_after = [429, 429, 429, 204], [404], "1"
    # A backoff far longer than RunPod asked for: only honouring Retry-After ends this within seconds.
    done = run_watchdog(url, backoff="300", cap="600")
    assert done.returncode == 0, done.stderr
    assert waits(done.stdout) == [(1.0, "Retry-After")] * 3
    assert [m for m, _, _ in fake.seen] == ["DELETE"] * 4 + ["GET"]


def test_no_wait_is_longer_than_the_cap_whatever_retry_after_asks(runpod_v2) -> None:
    fake, url = runpod_v2
    fake.deletes, fake.gets, fake.retry_after = [429, 429, 204], [404], "3600"
    done = run_watchdog(url, backoff="0.01", cap="0.05")
    assert done.returncode == 0, done.stderr
    assert waits(done.stdout) == [(0.05, "Retry-After")] * 2


def test_without_retry_after_the_backoff_is_jittered_doubling_and_capped(runpod_v2) -> None:
    fake, url = runpod_v2
    fake.deletes, fake.gets = [502] * 6 + [204], [404]
    done = run_watchdog(url, backoff="0.02", cap="0.1")
    assert done.returncode == 0, done.stderr
    seen = waits(done.stdout)
    assert [why for _, why in seen] == ["backoff"] * 6
    # Half fixed, half random below each doubling ceiling (0.02, 0.04, 0.08, then the cap 0.1).
    for (seconds, _), ceiling in zip(seen, [0.02, 0.04, 0.08, 0.1, 0.1, 0.1], strict=True):
        assert ceiling / 2 <= seconds <= ceiling
    assert len({seconds for seconds, _ in seen[3:]}) > 1, "jittered, not one fixed delay"


def test_three_429s_at_the_deadline_still_terminate_the_pod_within_seconds(emulator: Emulator) -> None:
    """Against the emulator, whose rate limit answers 429 with `Retry-After: 1` (Faults.rate_limit)."""
    client = RunPodClient(RunPodSettings.from_env(env=emulator.env()))
    name = naming.for_stack("ttl-test", backend="").name("prefill", naming.new_run_id())
    pod = client.create_cpu_pod(
        PodRequest(
            name=name,
            image="python:3.11-slim",
            args=json_start_command(cpu_start_script(stack="ttl-test", ttl_seconds=3)),
            ports=(),
            env={"PUBLIC_KEY": generate_keypair("ttl-test")[1]},
            container_disk_gb=5,
        )
    )
    # Once the script runs, its TTL sleeps; from then on nothing but the pod calls the API.
    wait_until(lambda: any("v4infra-hostkey" in line for line in emulator.state.log_tail(pod.id)))
    emulator.set_faults(Faults(rate_limit=3, retry_after_seconds=1))
    log: list[str] = []

    def terminated() -> bool:
        # The log is read while the pod lives (a terminated pod's sandbox is gone with it).
        if all(p["id"] != pod.id for p in emulator.inventory()["pods"]):
            return True
        with contextlib.suppress(NotFound):
            log[:] = emulator.state.log_tail(pod.id, 400)
        return False

    wait_until(terminated)
    # Three 429s, each waited for the second RunPod asked: gone about three seconds after the deadline,
    # by its own key (nothing else here deleted it).
    assert waits("\n".join(log)) == [(1.0, "Retry-After")] * 3, log
    assert emulator.faults.rate_limit == 0, "the pod met all three"
    [gone] = [p for p in emulator.inventory()["history"] if p["id"] == pod.id]
    assert gone["status"] == "TERMINATED"


def wait_until(condition: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


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
