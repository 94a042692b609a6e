"""A pod's runtime as the providers and the pre-fill see it: the client they build, the wait until a pod
runs (with sshd greeting), and the one-line cause when it does not.

Providers are pickled into the state, so they hold no client: each method builds one with
`runpod_client` from its inputs' settings (tests replace this one function). A pod that fails, stops,
vanishes or crash-loops while starting raises `PodFailedError` with the cause read from its log; a
wait that runs out raises `StartTimeoutError`.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

from infra.errors import PodFailedError, ProviderError, StartTimeoutError
from infra.targets.runpod.client import RunPodClient
from infra.targets.runpod.crashloop import RestartWatch, crash_loop_message
from infra.targets.runpod.types import Pod, RunPodSettings
from infra.validate.diagnosis import diagnose

RUNTIME_WAIT_SECONDS = 900.0
POLL_SECONDS = 2.0


def runpod_client(settings: RunPodSettings[str]) -> RunPodClient:
    """The client a provider call uses (one per call: providers are pickled and hold none)."""
    return RunPodClient(settings)


def wait_for_runtime(
    client: RunPodClient,
    pod_id: str,
    *,
    needs_ssh: bool,
    timeout: float = RUNTIME_WAIT_SECONDS,
    what: str = "pod",
) -> Pod:
    """The pod once it runs (with sshd greeting when asked); a pod that fails, stops or crash-loops raises."""
    deadline = time.monotonic() + timeout
    watch = RestartWatch()
    while True:
        pod = client.get_pod(pod_id)
        if pod is None or pod.status in ("EXITED", "ERROR", "TERMINATED"):
            state = "disappeared" if pod is None else f"is {pod.status}"
            raise PodFailedError(
                f"{what} {pod_id} {state} while starting{log_hint(client, pod_id)}", resource=pod_id
            )
        if watch.observe(pod):
            raise PodFailedError(crash_loop_diagnosis(client, pod_id, watch.restarts), resource=pod_id)
        if pod.status == "RUNNING" and (not needs_ssh or (pod.ssh is not None and sshd_answers(*pod.ssh))):
            return pod
        if time.monotonic() > deadline:
            wanted = "SSH port answering" if needs_ssh else "running container"
            raise StartTimeoutError(
                f"{what} {pod_id} had no {wanted} after {timeout:.0f} s{log_hint(client, pod_id)}",
                resource=pod_id,
            )
        time.sleep(POLL_SECONDS)


def sshd_answers(host: str, port: int) -> bool:
    """Whether sshd itself greets on the published port (RunPod publishes it before the container listens)."""
    try:
        with socket.create_connection((host, port), timeout=5) as conn:
            conn.settimeout(5)
            return conn.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def crash_loop_diagnosis(client: RunPodClient, pod_id: str, restarts: int) -> str:
    """The one-line crash-loop message, with the cause read from the pod's log (v2 SSE)."""
    try:
        lines = [entry.line for entry in client.pod_logs(pod_id, tail=500)]
    except ProviderError:
        lines = []
    last = next((line.strip() for line in reversed(lines) if line.strip()), None)
    return crash_loop_message(pod_id, restarts, diagnose(lines), last)


def log_hint(client: RunPodClient, pod_id: str) -> str:
    """What the pod's log says went wrong, as the end of a one-line message."""
    try:
        lines = [entry.line for entry in client.pod_logs(pod_id, tail=200)]
    except ProviderError:
        return "; see its logs on RunPod"
    diagnosis = diagnose(lines)
    if diagnosis is not None:
        return f": {diagnosis.one_line()}"
    last = next((line.strip() for line in reversed(lines) if line.strip()), None)
    return f" (last log line: {last[:200]})" if last else "; its log is empty"


def state_dir(stack: str) -> Path:
    """Per-stack local state (SSH known_hosts, pre-fill progress), created on first use."""
    # Imported here: infra.workspace loads Pulumi's Automation API, which a provider host never needs.
    from infra.workspace import state_root

    path = state_root() / stack
    path.mkdir(parents=True, exist_ok=True)
    return path
