"""What the emulated account holds: pod requests, pods, network volumes and clusters (domain records).

No API wording here: the wire modules (`rest_v2_views`, `graphql_api`, `controls`) turn these into
their own shapes. A pod's statuses are the account's; each API maps them to its own vocabulary.
"""

from __future__ import annotations

import json
import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from infra.emulator import catalog
from infra.emulator.clock import Clock
from infra.emulator.pod import PodLaunch, PodRuntime
from infra.emulator.pod_log import PodLog

PROVISIONING = "PROVISIONING"
STARTING = "STARTING"
RUNNING = "RUNNING"
EXITED = "EXITED"
ERROR = "ERROR"
TERMINATED = "TERMINATED"
# Statuses in which the pod holds its GPUs and bills (a pod in ERROR bills until stopped or
# terminated: REST v2 documents `cost` 0.0 only for EXITED and TERMINATED).
HOLDING = frozenset({PROVISIONING, STARTING, RUNNING, ERROR})


class PodRuntimeLike(Protocol):
    """What the account needs from `infra.emulator.pod.PodRuntime`."""

    def start(self) -> None: ...

    @property
    def port_map(self) -> dict[int, int]: ...

    def is_alive(self) -> bool: ...

    def kill(self) -> None: ...

    def log_tail(self, n: int = 50) -> list[str]: ...

    def read_output(self) -> list[str]: ...


RuntimeFactory = Callable[[PodLaunch, Path, Clock, float, "str | None"], PodRuntimeLike]


def real_runtime(
    launch: PodLaunch, sandbox_dir: Path, clock: Clock, load_seconds: float, engine_fault: str | None
) -> PodRuntimeLike:
    return PodRuntime(launch, sandbox_dir, clock, load_seconds, engine_fault)


def new_id(length: int) -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


@dataclass
class PodRequest:
    """What a create asks for, whichever API it came through."""

    name: str
    image_name: str
    gpu_type_id: str | None = None
    gpu_count: int = 1
    cloud_type: str = "ALL"
    data_center_id: str | None = None
    # REST v2 `dataCenterIds`: preferred data centers, tried in order; empty: any.
    data_center_ids: list[str] = field(default_factory=list)
    network_volume_id: str | None = None
    docker_args: str = ""
    env: dict[str, str] = field(default_factory=dict)
    ports: str = ""
    volume_in_gb: int = 0
    container_disk_in_gb: int = 10
    volume_mount_path: str = "/workspace"
    min_vcpu_count: int = 1
    min_memory_in_gb: int = 1
    instance_id: str | None = None
    template_id: str | None = None
    allowed_cuda_versions: list[str] | None = None
    min_cuda_version: str | None = None


@dataclass
class Volume:
    id: str
    name: str
    size: int
    data_center_id: str
    directory: Path
    created_at: float
    volume_type: str = catalog.STANDARD
    billed_usd: float = 0.0
    billed_until: float = 0.0

    def accrue(self, now: float) -> None:
        self.billed_usd += max(0.0, now - self.billed_until) * catalog.volume_usd_per_second(self.size)
        self.billed_until = now


@dataclass
class Pod:
    id: str
    request: PodRequest
    kind: str
    gpu_type_id: str | None
    gpu_count: int
    cloud_type: str
    data_center_id: str
    price_per_hour: float
    machine_id: str
    pod_key: str
    created_at: float
    cuda_version: str | None = None
    status: str = PROVISIONING
    # Why the status last changed ("Rented by User", "Stopped by User") and when, in wall-clock seconds.
    status_reason: str = ""
    status_changed_wall: float = field(default_factory=time.time)
    # When the image pull begins (STARTING) and when the container is due to run.
    pull_at: float | None = None
    start_due: float | None = None
    started_at: float | None = None
    first_started_at: float | None = None
    runtime: PodRuntimeLike | None = None
    # Whether the container's main process runs (False between a crash and its restart).
    container_up: bool = False
    restart_due: float | None = None
    restarts: int = 0
    # Bumped on every stop/resume so a runtime that finishes starting late is recognised as stale.
    generation: int = 0
    starting: bool = False
    die_at: float | None = None
    holds_compute: bool = True
    billed_seconds: float = 0.0
    running_since: float | None = None
    locked: bool = False
    cluster_id: str | None = None
    cluster_rank: int | None = None
    terminated_at: float | None = None
    log: PodLog = field(default_factory=PodLog)

    @property
    def name(self) -> str:
        return self.request.name

    def changed(self, reason: str) -> None:
        """Record why the status changed, now."""
        self.status_reason = reason
        self.status_changed_wall = time.time()

    def schedule_start(self, now: float, delay: float) -> None:
        """PROVISIONING for the first half of the delay, STARTING (image pull) for the second half."""
        self.status = PROVISIONING
        self.pull_at = now + delay / 2
        self.start_due = now + delay

    def accrue(self, now: float) -> None:
        if self.running_since is not None:
            self.billed_seconds += max(0.0, now - self.running_since)
            self.running_since = now

    @property
    def usd(self) -> float:
        return self.billed_seconds / 3600.0 * self.price_per_hour

    @property
    def gpu_seconds(self) -> float:
        return self.billed_seconds * self.gpu_count if self.kind == "gpu" else 0.0

    def uptime(self, now: float) -> int:
        return int(now - self.started_at) if self.container_up and self.started_at is not None else 0


@dataclass
class Cluster:
    """An Instant Cluster: `pod_count` identical pods in one data center on a private network."""

    id: str
    name: str
    cluster_type: str
    gpu_type_id: str
    gpu_count_per_pod: int
    pod_count: int
    data_center_id: str
    created_at: float
    pod_ids: list[str]
    cidr: str = "10.65.0.0/16"
    vxlan_id: int = 0


def member_ip(cluster: Cluster, rank: int) -> str:
    """A member's address on the cluster's private network (rank 0, the primary, is .2)."""
    return f"10.65.0.{rank + 2}"


def parse_ports(ports: str) -> list[str]:
    """`"8000/http, 22/tcp"` -> `["8000/http", "22/tcp"]`."""
    return [part.strip() for part in ports.split(",") if part.strip()]


def parse_start_command(args: str) -> tuple[list[str] | None, list[str] | None] | None:
    """(entrypoint, cmd) when `args` is RunPod's JSON start command `{"entrypoint": [...], "cmd": [...]}`.

    RunPod documents this form for a container's start command (pods/templates/manage-templates.mdx);
    that v2 `args` accepts it is the one unconfirmed assumption (shared/reference/runpod.md).
    Anything else is plain arguments for the image's ENTRYPOINT.
    """
    text = args.strip()
    if not text.startswith("{"):
        return None
    try:
        form = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(form, dict) or not form or set(form) - {"entrypoint", "cmd"}:
        return None
    parts: list[list[str] | None] = []
    for key in ("entrypoint", "cmd"):
        value = form.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            return None
        parts.append(value)
    return parts[0], parts[1]
