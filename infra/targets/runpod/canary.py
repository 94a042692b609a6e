"""The one-cent canary: prove on the user's own account, with a CPU pod, what the GPU path assumes of RunPod.

REST v1 was switched off on 2026-11-15 and every tool built on it broke at once; RunPod changes under
its users. Before a GPU that bills $10-60 an hour is rented, a CPU pod that bills cents checks each
assumption the GPU path rests on, one line each, and is always torn down. A passing record is kept
per account (a hash of the key, never the key), API version and project version.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

from infra import contracts
from infra.errors import ProviderError, RefusedError
from infra.targets.runpod.client import API_VERSION, PodRequest, RunPodClient
from infra.targets.runpod.crashloop import RestartWatch
from infra.targets.runpod.start_script import docker_args, json_start_command, render_template

CANARY_IMAGE = "python:3.11-slim"
# Not the default /workspace: the canary proves a network volume mounts where the create asks.
CANARY_MOUNT = "/v4infra-cache"
CANARY_VOLUME_GB = 10
# RunPod's network volume price under 1 TB: $0.07 per GB-month (shared/reference/runpod.md).
VOLUME_USD_PER_GB_HOUR = 0.07 / 730
DEFAULT_MAX_AGE_DAYS = 7
DEFAULT_TIMEOUT_SECONDS = 300.0


@dataclass(frozen=True)
class Assumption:
    key: str
    claim: str
    fallback: str | None = None
    """What the user can do when RunPod no longer behaves this way."""


ASSUMPTIONS = (
    Assumption("catalog", "the catalog shows the stack's GPU types with stock and price"),
    Assumption("create", "a v2 create body for a pod with a network volume is accepted"),
    Assumption("shapes", "RunPod's answers have the published field names and shapes"),
    Assumption(
        "start-command",
        "the JSON start command runs our script, not the image's entrypoint",
        "set `startCommand: plain` (stock vLLM image, plain `vllm serve` arguments, TTL by a CPU watchdog pod)",
    ),
    Assumption("logs", "pod logs stream (GET /v2/pods/{id}/logs): SSH host keys are pinned from them"),
    Assumption("volume", "a network volume mounts at the path asked for, is writable and outlives a restart"),
    Assumption("restart", "a command that exits is restarted, and the restart shows (uptime or logs)"),
    Assumption(
        "self-terminate",
        "the pod's own key terminates the pod (what the time-to-live relies on)",
        "set `startCommand: plain`: its TTL is kept by a CPU watchdog pod holding the stack's key",
    ),
)
BY_KEY = {a.key: a for a in ASSUMPTIONS}


@dataclass
class Check:
    key: str
    passed: bool | None = None
    """None: not determined (the canary ran out of time or an earlier step failed)."""
    detail: str = ""

    def line(self) -> str:
        mark = {True: "PASS", False: "FAIL", None: "----"}[self.passed]
        fallback = BY_KEY[self.key].fallback if self.passed is False else None
        return (
            f"{mark} {BY_KEY[self.key].claim}"
            + (f": {self.detail}" if self.detail else "")
            + (f" (fallback: {fallback})" if fallback else "")
        )


@dataclass
class CanaryReport:
    account: str
    """sha256 of the API key, first 16 hex digits: which account, never the key."""
    api_version: str
    project_version: str
    at: str
    checks: list[Check]
    usd: float = 0.0
    seconds: float = 0.0
    leftover: list[str] = field(default_factory=list)
    """What could not be removed (empty when teardown was confirmed)."""
    created: list[str] = field(default_factory=list)
    """What it made at RunPod, in order."""
    removed: list[str] = field(default_factory=list)
    cost_source: str = "uptime x rate"
    """Where `usd` comes from: RunPod's billing API when it answers, else uptime x the quoted rates."""

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks) and not self.leftover

    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def summary(self) -> str:
        if self.passed:
            return f"canary passed: {len(self.checks)} assumptions hold; it cost ${self.usd:.4f}"
        broken = self.failed()[0]
        fallback = BY_KEY[broken.key].fallback
        return f"canary failed: {BY_KEY[broken.key].claim} does not hold ({broken.detail or 'not seen'})" + (
            f"; fallback: {fallback}" if fallback else "; no documented fallback: do not rent GPUs"
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}

    def inventory(self) -> str:
        """One line, as validate ends: what was created and removed at RunPod, what is left, what it cost."""
        left = ", ".join(self.leftover) or "nothing"
        return (
            f"at RunPod: created {', '.join(self.created) or 'nothing'}; removed {', '.join(self.removed) or 'nothing'}; "
            f"left: {left}; cost ${self.usd:.4f} ({self.cost_source})"
        )


def account_id(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


def project_version() -> str:
    try:
        return metadata.version("deepseek-v4-infra")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def record_path(state_root: Path, api_key: str) -> Path:
    return state_root / "canary" / f"{account_id(api_key)}-{API_VERSION}-{project_version()}.json"


def fresh_pass(
    state_root: Path, api_key: str, max_age_days: float, now: datetime | None = None
) -> dict[str, Any] | None:
    """The last passing record for this account, API and project version, when younger than the window."""
    path = record_path(state_root, api_key)
    try:
        record = json.loads(path.read_text())
        at = datetime.fromisoformat(record["at"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    current = now or datetime.now(UTC)
    if not record.get("passed") or current - at > timedelta(days=max_age_days):
        return None
    return dict(record)


def write_record(state_root: Path, api_key: str, report: CanaryReport) -> Path:
    path = record_path(state_root, api_key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    return path


def canary_script(nonce: str) -> str:
    return render_template("runpod/canary.sh.j2", nonce=nonce, mount_path=CANARY_MOUNT)


@dataclass
class Canary:
    """One canary run on `client`'s account in the first of `data_centers` with CPU stock."""

    client: RunPodClient
    data_centers: list[str]
    gpu_type_ids: list[str]
    gpu_count: int
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    poll_seconds: float = 1.0
    start_grace_seconds: float = 90.0
    """How long a running pod may go without our script's first line before the start command is blamed."""
    on_line: Callable[[str], None] | None = None
    nonce: str = field(default_factory=lambda: secrets.token_hex(4))

    def run(self) -> CanaryReport:
        started = time.monotonic()
        checks = {a.key: Check(a.key) for a in ASSUMPTIONS}
        report = CanaryReport(
            account=account_id(self.client.settings.api_key),
            api_version=API_VERSION,
            project_version=project_version(),
            at=datetime.now(UTC).isoformat(timespec="seconds"),
            checks=list(checks.values()),
        )
        pod_id: str | None = None
        made_pod: str | None = None
        volume_id: str | None = None
        usd_per_hour = 0.0
        began = datetime.now(UTC)
        try:
            self._catalog(checks["catalog"], checks["shapes"])
            data_center, flavor, vcpus = self._cpu_placement()
            volume = self.client.create_volume(
                f"v4i-canary-{self.nonce}", CANARY_VOLUME_GB, data_center, "STANDARD"
            )
            volume_id = volume.id
            report.created.append(f"network volume {volume.id}")
            self._shape(checks["shapes"], f"/network-volumes/{volume.id}")
            request = PodRequest(
                name=f"v4i-canary-pod-{self.nonce}",
                image=CANARY_IMAGE,
                gpu_type_id=None,
                data_center_id=data_center,
                network_volume_id=volume.id,
                volume_mount_path=CANARY_MOUNT,
                container_disk_gb=5,
                args=json_start_command(canary_script(self.nonce)),
                ports=(),
                env={"V4INFRA_CANARY_NONCE": self.nonce},
                cpu_flavor=flavor,
                vcpu_count=vcpus,
            )
            try:
                pod = self.client.create_pod(request)
            except RefusedError as exc:
                if exc.status != 400:
                    checks["create"].passed, checks["create"].detail = False, str(exc)
                    raise
                # Refused for the JSON start command? The same pod with a plain command tells.
                pod = self.client.create_pod(replace(request, args=docker_args(canary_script(self.nonce))))
                checks["start-command"].passed = False
                checks["start-command"].detail = f"RunPod refused it at create ({exc})"
            except ProviderError as exc:
                checks["create"].passed, checks["create"].detail = False, str(exc)
                raise
            pod_id = made_pod = pod.id
            report.created.append(f"CPU pod {pod.id}")
            usd_per_hour = pod.cost_per_hr or 0.0
            checks["create"].passed = True
            checks["create"].detail = f"CPU pod {pod.id} ({flavor}, {vcpus} vCPU) in {data_center}"
            self._shape(checks["shapes"], f"/pods/{pod.id}")
            if self._watch(pod.id, checks):
                pod_id = None  # it terminated itself
                report.removed.append(f"CPU pod {pod.id} (it terminated itself)")
        except ProviderError as exc:
            self._say(f"canary stopped early: {exc}")
        finally:
            removed, report.leftover = self._teardown(pod_id, volume_id)
            report.removed += removed
            report.seconds = time.monotonic() - started
            hours = report.seconds / 3600
            report.usd = round(usd_per_hour * hours + CANARY_VOLUME_GB * VOLUME_USD_PER_GB_HOUR * hours, 6)
            self._billed(report, made_pod, volume_id, began)
        if checks["shapes"].passed is None:
            checks["shapes"].passed = True
        for check in report.checks:
            self._say(check.line())
        return report

    # ---- steps ---------------------------------------------------------------------------------

    def _catalog(self, check: Check, shapes: Check) -> None:
        params = {
            "include": "AVAILABILITY",
            "product": "POD",
            "count": str(self.gpu_count),
            "cloud": "SECURE",
        }
        self._shape(shapes, "/catalog/gpus", params)
        offers = {offer.id: offer for offer in self.client.gpu_catalog(self.gpu_count)}
        missing = [g for g in self.gpu_type_ids if g not in offers]
        unpriced = [g for g in self.gpu_type_ids if g in offers and not offers[g].secure_price]
        no_stock = [g for g in self.gpu_type_ids if g in offers and offers[g].availability is None]
        problems = (
            ([f"not listed: {', '.join(missing)}"] if missing else [])
            + ([f"no secure price: {', '.join(unpriced)}"] if unpriced else [])
            + ([f"no stock shown: {', '.join(no_stock)}"] if no_stock else [])
        )
        check.passed = not problems
        check.detail = "; ".join(problems) or ", ".join(
            f"{g} ${offers[g].secure_price}/GPU-h, {offers[g].availability}" for g in self.gpu_type_ids
        )

    def _cpu_placement(self) -> tuple[str, str, int]:
        """(data center, flavour, vCPUs): the cheapest CPU pod in the first listed data center with stock."""
        flavors = sorted(self.client.cpu_flavors(), key=lambda f: f.cheapest_usd_per_hour)
        for data_center in self.data_centers:
            for flavor in flavors:
                if flavor.stock.get(data_center, "NONE") != "NONE":
                    return data_center, flavor.id, flavor.smallest_vcpus
        fallback = flavors[0] if flavors else None
        return (
            self.data_centers[0],
            fallback.id if fallback else "cpu3c",
            fallback.smallest_vcpus if fallback else 2,
        )

    def _shape(self, check: Check, path: str, params: dict[str, str] | None = None) -> None:
        answer = self.client.get_raw(path, params)
        errors = contracts.response_errors("GET", "/v2" + path, 200, answer)
        if errors:
            check.passed = False
            check.detail = (check.detail + "; " if check.detail else "") + f"GET /v2{path}: {errors[0]}"

    def _watch(self, pod_id: str, checks: dict[str, Check]) -> bool:
        """Follow the pod until every check is settled; True when the pod terminated itself."""
        deadline = time.monotonic() + self.timeout_seconds
        restarts = RestartWatch()
        marker = f"v4infra-canary {self.nonce}: "
        seen: list[str] = []
        lines: list[str] = []
        running_since: float | None = None
        while time.monotonic() < deadline:
            pod = self.client.get_pod(pod_id)
            if pod is None:
                # Gone without our key: only the pod's own key can have done it.
                checks["self-terminate"].passed = True
                checks["self-terminate"].detail = "the pod deleted itself with its pod-scoped key"
                self._settle_after_exit(checks, seen)
                return True
            if pod.status in ("EXITED", "ERROR"):
                checks["restart"].passed = False
                checks["restart"].detail = f"the pod went {pod.status} instead of restarting its container"
                self._settle_after_exit(checks, seen)
                return False
            restarts.observe(pod)
            if pod.status == "RUNNING" and running_since is None:
                running_since = time.monotonic()
            try:
                lines = [
                    e.line for e in self.client.pod_logs(pod_id, tail=200, idle_seconds=0.5, max_seconds=5)
                ]
            except ProviderError as exc:
                checks["logs"].passed, checks["logs"].detail = False, str(exc)
                lines = []
            seen = [line.split(marker, 1)[1].strip() for line in lines if marker in line]
            if lines and checks["logs"].passed is None:
                checks["logs"].passed, checks["logs"].detail = True, f"{len(lines)} line(s) over SSE"
            if "start command ran" in seen and checks["start-command"].passed is None:
                checks["start-command"].passed = True
            if any(s.startswith("volume NOT writable") for s in seen):
                checks["volume"].passed = False
                checks["volume"].detail = f"could not write under {CANARY_MOUNT}"
                return False
            if "restarted" in seen:
                checks["volume"].passed = True
                checks["volume"].detail = f"{CANARY_MOUNT}, a file there outlived a restart"
            elif seen.count("start command ran") >= 2:
                # The flag file did not survive the restart: that path was container disk, not the volume.
                checks["volume"].passed = False
                checks[
                    "volume"
                ].detail = f"a file under {CANARY_MOUNT} did not outlive a restart: not the volume"
                return False
            if "restarted" in seen or restarts.restarts:
                checks["restart"].passed = True
                checks["restart"].detail = "seen in " + (
                    "the log" if "restarted" in seen else "runtime.uptime"
                )
            answered = [s for s in seen if s.startswith("self-terminate answered")]
            if answered and not answered[-1].endswith(("200", "204")):
                checks["self-terminate"].passed = False
                checks["self-terminate"].detail = f"RunPod refused the pod's own key: {answered[-1]}"
                return False
            silent = running_since is not None and time.monotonic() - running_since > self.start_grace_seconds
            if (restarts.restarts >= 2 or (silent and lines)) and "start command ran" not in seen:
                if checks["start-command"].passed is None:
                    last = lines[-1].strip()[:160] if lines else "nothing"
                    checks["start-command"].passed = False
                    checks["start-command"].detail = f"our script never ran; the container printed: {last}"
                return False
            time.sleep(self.poll_seconds)
        for key in ("start-command", "logs", "volume", "restart", "self-terminate"):
            if checks[key].passed is None:
                checks[key].passed, checks[key].detail = (
                    False,
                    f"not seen within {self.timeout_seconds:.0f} s",
                )
        return False

    @staticmethod
    def _settle_after_exit(checks: dict[str, Check], seen: list[str]) -> None:
        """A pod that deleted itself ran our script twice: its flag file outlived a restart on the volume."""
        if checks["logs"].passed is None:
            checks["logs"].passed, checks["logs"].detail = False, "no line arrived over the log stream"
        if checks["self-terminate"].passed:
            for key in ("start-command", "volume", "restart"):
                if checks[key].passed is None:
                    checks[key].passed, checks[key].detail = (
                        True,
                        "implied: the script reached its second start",
                    )

    def _billed(
        self, report: CanaryReport, pod_id: str | None, volume_id: str | None, since: datetime
    ) -> None:
        """The canary's cost from RunPod's billing API when it answers (else uptime x rate stays)."""
        try:
            usd = sum(
                self.client.billed_usd(kind, rid, since)
                for kind, rid in (("pod", pod_id), ("network volume", volume_id))
                if rid
            )
        except ProviderError:
            return
        report.usd, report.cost_source = round(usd, 6), "RunPod billing API, hourly buckets"

    def _teardown(self, pod_id: str | None, volume_id: str | None) -> tuple[list[str], list[str]]:
        """Remove the pod and the volume, and confirm it: (what was removed, what could not be)."""
        removed, left = [], []
        if pod_id is not None:
            try:
                self.client.terminate_pod(pod_id)
                if self.client.get_pod(pod_id) is not None:
                    left.append(f"pod {pod_id}")
                else:
                    removed.append(f"CPU pod {pod_id}")
            except ProviderError as exc:
                left.append(f"pod {pod_id} ({exc})")
        if volume_id is not None:
            try:
                self.client.delete_volume(volume_id)
                removed.append(f"network volume {volume_id}")
            except ProviderError as exc:
                left.append(f"network volume {volume_id} ({exc})")
        return removed, left

    def _say(self, line: str) -> None:
        if self.on_line is not None:
            self.on_line(line)
