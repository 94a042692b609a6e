"""What the download Job measured: the read-rate probe's records from the Job's own log.

The Job runs `infra/read_rate_probe.py` over the claim's checkpoint files after the fill (manifests.py) and
prints one JSON record. In a rehearsal kwok ran no container, so there is no log: the rehearsal's stand-in
runs the Job's probe command locally against a paced directory (infra/emulator/paced_claim.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from infra.errors import ProviderError

JOB = "model-download"
CONFIG_MAP = "weights-script"
PROBE_KEY = "read_rate_probe.py"
MARK = '"probe": "v4infra-read-rate"'


class Kubectl(Protocol):
    def __call__(self, *args: str, timeout: float = ...) -> str: ...

    def json(self, *args: str) -> Any: ...


StandIn = Callable[[str, str], str | None]
"""(the Job's command line, the probe's source) -> what it printed, on this machine."""


def job_rates(kubectl: Kubectl, namespace: str, stand_in: StandIn | None = None) -> tuple[str, ...]:
    """The probe records the Job printed; a log that cannot be read gives none (never blocks a run)."""
    try:
        lines = [
            ln.strip() for ln in kubectl("logs", f"job/{JOB}", "-n", namespace, "--tail=200").splitlines()
        ]
    except ProviderError:
        lines = []
    found = tuple(ln for ln in lines if MARK in ln)
    if found or stand_in is None:
        return found
    try:
        job = kubectl.json("get", "job", JOB, "-n", namespace)
        source = kubectl.json("get", "configmap", CONFIG_MAP, "-n", namespace)["data"][PROBE_KEY]
    except (ProviderError, KeyError):
        return ()
    command = job["spec"]["template"]["spec"]["containers"][0]["command"][2]
    printed = stand_in(command, source) or ""
    return tuple(ln.strip() for ln in printed.splitlines() if MARK in ln)
