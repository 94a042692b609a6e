"""The 'shell' of a Kubernetes stack: its namespace through the API, and a port-forward to its Service.

The Service selects the pod that serves the API (a group's leader alone), so the API and load checks
reach the engine through `kubectl port-forward` on a local port.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
from dataclasses import dataclass, field

from infra.targets.kubernetes.kubectl import Kubectl
from infra.targets.kubernetes.manifests import SERVICE_PORT


@dataclass
class PortForward:
    """`kubectl port-forward` to the stack's Service on a fixed local port, restarted whenever it ends
    (the engine pod not running yet, or replaced), until closed."""

    kubectl: Kubectl
    namespace: str
    service: str
    port: int = field(default_factory=lambda: free_port())
    _stop: threading.Event = field(default_factory=threading.Event)
    _proc: subprocess.Popen[bytes] | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> PortForward:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        argv = self.kubectl.argv(
            "port-forward", "-n", self.namespace, f"svc/{self.service}", f"{self.port}:{SERVICE_PORT}",
            "--address", "127.0.0.1",
        )  # fmt: skip
        while not self._stop.is_set():
            self._proc = subprocess.Popen(
                argv, env=self.kubectl.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            self._proc.wait()
            self._stop.wait(1.0)

    def close(self) -> None:
        self._stop.set()
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(10)
        if self._thread is not None:
            self._thread.join(15)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class KubeShell:
    """The 'shell' of a Kubernetes stack: its namespace through the API, and the port-forward to it."""

    forward: PortForward | None
