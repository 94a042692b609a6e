"""Starting the LeaderWorkerSet stand-in controller with a local control plane: LWS's CRD installed and
Established, then the controller as one of the control plane's processes (stopped with it)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Protocol

from infra.emulator.lws_names import CRD_NAME, FIELD_MANAGER


class ControlPlane(Protocol):
    """What starting the stand-in needs of a local control plane (infra's LocalCluster has it)."""

    workdir: Path
    processes: dict[str, Any]

    @property
    def kubeconfig(self) -> Path: ...

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> Any: ...

    def _spawn(self, name: str, argv: list[str]) -> Any: ...


PROCESS_NAME = "lws-controller"
# The module `python -m` runs as the controller (lws_controller.main).
CONTROLLER_MODULE = "infra.emulator.lws_controller"


def start(cluster: ControlPlane, crd: Path, timeout_s: float = 120.0) -> None:
    """Install LWS's CRD (its schema judges every LeaderWorkerSet) and start the stand-in controller as
    one of the control plane's processes (stopped with it). Does nothing when it already runs."""
    if PROCESS_NAME in cluster.processes and cluster.processes[PROCESS_NAME].poll() is None:
        return
    # Server-side: the CRD is 1.3 MB, past the client-side last-applied annotation's 256 KiB limit.
    cluster.kubectl("apply", "--server-side", "--field-manager", FIELD_MANAGER, "-f", str(crd))
    deadline = time.monotonic() + timeout_s
    while not _established(cluster):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the LeaderWorkerSet CRD was not Established within {timeout_s:.0f}s")
        time.sleep(0.2)
    # Its own process, importing only the stand-ins (infra.emulator), never the product it judges.
    argv = [sys.executable, "-m", CONTROLLER_MODULE, "--kubeconfig", str(cluster.kubeconfig)]
    cluster._spawn(PROCESS_NAME, argv)
    # Recorded with the other components: `kube-local.sh stop` and a later rehearsal stop it by its pid.
    save = getattr(cluster, "_save_state", None)
    if callable(save):
        save()


def _established(cluster: ControlPlane) -> bool:
    done = cluster.kubectl("get", "crd", CRD_NAME, "-o", "json", check=False)
    if done.returncode != 0:
        return False
    conditions = json.loads(done.stdout).get("status", {}).get("conditions") or []
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)
