"""The emulated RunPod account: stock, pods and their billing, network volumes, behind one lock.

The account model only: it raises `infra.emulator.errors` and returns the records of
`infra.emulator.resources`; the wire modules (`rest_v2`, `graphql_api`, `controls`) own status codes,
views and wording. Clusters (`clusters`) and the containers' life in simulated time (`containers`)
work on this account through its lock.

One re-entrant lock guards everything; pod runtimes are killed outside it because that reaps
processes.
"""

from __future__ import annotations

import json
import secrets
import shutil
import threading
from pathlib import Path
from typing import Any

from infra.emulator import catalog
from infra.emulator.clock import Clock
from infra.emulator.errors import (
    BalanceTooLow,
    Conflict,
    CreatedButFailed,
    Invalid,
    NoCapacity,
    NotFound,
)
from infra.emulator.faults import Faults, Timing
from infra.emulator.pod_log import CONTAINER, SYSTEM
from infra.emulator.resources import (
    ERROR,
    EXITED,
    HOLDING,
    RUNNING,
    TERMINATED,
    Cluster,
    Pod,
    PodRequest,
    PodRuntimeLike,
    Volume,
    new_id,
    parse_ports,
    parse_start_command,
)

# RunPod's own sentences, the same whichever API asked.
NO_CAPACITY = (
    "There are no longer any instances available with the requested specifications. "
    "Please refresh and try again."
)
BALANCE_TOO_LOW = "Your account balance is too low to rent a pod. Please add funds to your account."
RESUME_NO_GPUS = "There are not enough free GPUs on the host machine to start this pod."
SOMETHING_WENT_WRONG = "Something went wrong. Please try again later or contact support."


class Account:
    """Everything the emulated account holds, behind one lock."""

    def __init__(
        self,
        clock: Clock,
        timing: Timing,
        faults: Faults,
        state_dir: Path,
        persist_volumes: bool = False,
    ) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.timing = timing
        self.faults = faults
        self.state_dir = state_dir
        self.persist_volumes = persist_volumes
        self.api_base_url = ""
        self.pods: dict[str, Pod] = {}
        self.volumes: dict[str, Volume] = {}
        self.clusters: dict[str, Cluster] = {}
        self.ssh_keys: list[str] = []
        # What is gone but was billed: terminated pods and deleted volumes, as they ended.
        self.history: list[Pod] = []
        self.volume_history: list[Volume] = []
        self.stock: dict[str, dict[str, int]] = {dc: dict(gpus) for dc, gpus in catalog.DEFAULT_STOCK.items()}
        (state_dir / "volumes").mkdir(parents=True, exist_ok=True)
        (state_dir / "pods").mkdir(parents=True, exist_ok=True)
        if persist_volumes:
            self._load_volumes()

    def detach_runtimes(self) -> None:
        """Kill every pod's runtime and close the logs (the emulator is stopping)."""
        with self.lock:
            runtimes = [pod.runtime for pod in self.pods.values() if pod.runtime is not None]
            for pod in self.pods.values():
                pod.runtime = None
                pod.generation += 1
                pod.log.close()
        for runtime in runtimes:
            runtime.kill()

    def reset(self) -> None:
        """Forget every pod, cluster and volume, restore stock, clear faults and history."""
        with self.lock:
            runtimes = [pod.runtime for pod in self.pods.values() if pod.runtime is not None]
            sandboxes = [self.sandbox_dir(pod_id) for pod_id in self.pods]
            directories = [volume.directory for volume in self.volumes.values()]
            for pod in self.pods.values():
                pod.log.close()
            self.pods.clear()
            self.volumes.clear()
            self.clusters.clear()
            self.ssh_keys = []
            self.history.clear()
            self.volume_history.clear()
            self.stock = {dc: dict(gpus) for dc, gpus in catalog.DEFAULT_STOCK.items()}
            self.faults = Faults()
            self.save_volumes()
        for runtime in runtimes:
            runtime.kill()
        for directory in [*sandboxes, *directories]:
            shutil.rmtree(directory, ignore_errors=True)

    def sandbox_dir(self, pod_id: str) -> Path:
        return self.state_dir / "pods" / pod_id

    def set_stock(self, stock: dict[str, dict[str, int]]) -> None:
        """Replace what is free: `{data center: {GPU type: count}}`; places left out have none."""
        for dc, gpus in stock.items():
            if dc not in catalog.DATA_CENTERS:
                raise Invalid(f"unknown data center {dc!r}; known: {', '.join(catalog.DATA_CENTERS)}")
            for gpu_id, count in gpus.items():
                if gpu_id not in catalog.GPU_TYPES:
                    raise Invalid(f"unknown GPU type {gpu_id!r}; known: {', '.join(catalog.GPU_TYPES)}")
                if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                    raise Invalid(f"stock of {gpu_id} in {dc} must be a count >= 0, got {count!r}")
        with self.lock:
            self.stock = {dc: dict(stock.get(dc, {})) for dc in catalog.DATA_CENTERS}

    # ---- faults consumed per request ---------------------------------------------------

    def take_edge_fault(self) -> str | None:
        """`rate_limit` or `server_errors` for this API request, consuming one."""
        with self.lock:
            if self.faults.rate_limit > 0:
                self.faults.rate_limit -= 1
                return "rate_limit"
            if self.faults.server_errors > 0:
                self.faults.server_errors -= 1
                return "server_error"
            return None

    def check_create_faults(self, gpu_type_id: str | None) -> None:
        """The faults any create consumes first: an empty balance, a GPU type or a count out of stock."""
        if self.faults.balance_too_low:
            raise BalanceTooLow(BALANCE_TOO_LOW)
        if gpu_type_id is not None and gpu_type_id in self.faults.capacity_gpu_types:
            raise NoCapacity(NO_CAPACITY)
        if self.faults.capacity_errors > 0:
            self.faults.capacity_errors -= 1
            raise NoCapacity(NO_CAPACITY)

    # ---- pods ---------------------------------------------------------------------------

    def create_pod(self, request: PodRequest) -> Pod:
        with self.lock:
            pod = self.new_pod(request, cluster=None)
            if self.faults.error_after_create > 0:
                self.faults.error_after_create -= 1
                raise CreatedButFailed(SOMETHING_WENT_WRONG)
            return pod

    def new_pod(self, request: PodRequest, cluster: tuple[str, int] | None) -> Pod:
        """Check, place and bill one pod (a cluster member when `cluster` is (id, rank)); lock held."""
        now = self.clock.now()
        kind = "gpu" if request.gpu_type_id is not None else "cpu"
        if not request.image_name and not request.template_id:
            raise Invalid("imageName is required")
        if request.cloud_type not in ("ALL", "SECURE", "COMMUNITY"):
            raise Invalid(f"Invalid cloudType {request.cloud_type!r}: expected ALL, SECURE or COMMUNITY")
        for port in parse_ports(request.ports):
            number, _, protocol = port.partition("/")
            if not number.isdigit() or protocol not in ("http", "tcp", "udp"):
                raise Invalid(f"Invalid port {port!r}: expected NUMBER/http or NUMBER/tcp")
        if self.faults.json_start_command == "refuse" and parse_start_command(request.docker_args):
            raise Invalid(
                'args: the JSON start-command form {"entrypoint": [...], "cmd": [...]} is not accepted; '
                "pass plain arguments for the image's ENTRYPOINT"
            )
        wanted = list(request.data_center_ids) or ([request.data_center_id] if request.data_center_id else [])
        for dc in wanted:
            if dc not in catalog.DATA_CENTERS:
                raise Invalid(f"Invalid data center id: {dc}")
        volume = None
        if request.network_volume_id is not None:
            volume = self.volumes.get(request.network_volume_id)
            if volume is None:
                raise Invalid(f"Network volume {request.network_volume_id} not found")
            if wanted and volume.data_center_id not in wanted:
                raise Invalid(
                    f"Network volume {volume.id} is in data center {volume.data_center_id}; "
                    f"a pod that mounts it must be created there, not in {', '.join(wanted)}"
                )
            wanted = [volume.data_center_id]
            if kind == "gpu" and request.cloud_type == "COMMUNITY":
                raise Invalid("Network volumes can only be attached to Secure Cloud pods")
        if kind == "gpu":
            pod = self._new_gpu_pod(request, wanted, volume is not None, now)
        else:
            pod = self._new_cpu_pod(request, wanted, now)
        if cluster is not None:
            pod.cluster_id, pod.cluster_rank = cluster
        self.pods[pod.id] = pod
        pod.log.append(SYSTEM, f"Pod {pod.id} scheduled in {pod.data_center_id}", now)
        return pod

    def _cuda_version(self, gpu: catalog.GpuType, request: PodRequest) -> str:
        offered = set(gpu.cuda_versions)
        if request.allowed_cuda_versions:
            offered &= set(request.allowed_cuda_versions)
        if request.min_cuda_version:
            floor = _version(request.min_cuda_version)
            offered = {v for v in offered if _version(v) >= floor}
        if not offered:
            # An exact CUDA set no machine reports is a capacity error, not a fallback (REST v2 CreateGpuConfig).
            raise NoCapacity(NO_CAPACITY)
        return max(offered, key=_version)

    def _new_gpu_pod(self, request: PodRequest, wanted: list[str], secure_only: bool, now: float) -> Pod:
        assert request.gpu_type_id is not None
        gpu = catalog.GPU_TYPES.get(request.gpu_type_id)
        if gpu is None:
            raise Invalid(f"Invalid GPU type id: {request.gpu_type_id!r}")
        if request.gpu_count < 1:
            raise Invalid("gpuCount must be at least 1")
        self.check_create_faults(gpu.id)
        cloud = "SECURE" if secure_only and request.cloud_type == "ALL" else request.cloud_type
        price = _gpu_price(gpu, cloud)
        if price is None or request.gpu_count > gpu.max_gpu_count:
            raise NoCapacity(NO_CAPACITY)
        cuda = self._cuda_version(gpu, request)
        chosen = self.place(gpu.id, request.gpu_count, wanted or list(catalog.DATA_CENTERS))
        self.stock[chosen][gpu.id] -= request.gpu_count
        used_cloud = "SECURE" if cloud == "ALL" and gpu.secure_price is not None else cloud
        pod = self._register(request, "gpu", gpu.id, request.gpu_count, used_cloud, chosen, price, now)
        pod.cuda_version = cuda
        return pod

    def place(self, gpu_id: str, count: int, candidates: list[str]) -> str:
        """The first candidate data center with `count` free GPUs of the type (the scheduler's pick)."""
        for dc in candidates:
            if dc in self.faults.capacity_data_centers:
                continue
            if self.stock.get(dc, {}).get(gpu_id, 0) >= count:
                return dc
        raise NoCapacity(NO_CAPACITY)

    def _new_cpu_pod(self, request: PodRequest, wanted: list[str], now: float) -> Pod:
        flavor = request.instance_id or catalog.DEFAULT_CPU_FLAVOR
        if flavor not in catalog.CPU_FLAVORS:
            known = ", ".join(f for f in catalog.CPU_FLAVORS if f.endswith(("-2-4", "-2-8")))
            raise Invalid(f"Invalid instance id: {flavor!r}; e.g. {known}")
        self.check_create_faults(None)
        usable = [dc for dc in wanted or catalog.DATA_CENTERS if dc not in self.faults.capacity_data_centers]
        if not usable:
            raise NoCapacity(NO_CAPACITY)
        price = catalog.CPU_FLAVORS[flavor]
        return self._register(request, "cpu", None, 0, "SECURE", usable[0], price, now)

    def _register(
        self,
        request: PodRequest,
        kind: str,
        gpu_type_id: str | None,
        gpu_count: int,
        cloud: str,
        data_center_id: str,
        unit_price: float,
        now: float,
    ) -> Pod:
        pod_id = new_id(14)
        while pod_id in self.pods:
            pod_id = new_id(14)
        pod = Pod(
            id=pod_id,
            request=request,
            kind=kind,
            gpu_type_id=gpu_type_id,
            gpu_count=gpu_count,
            cloud_type=cloud,
            data_center_id=data_center_id,
            price_per_hour=round(unit_price * max(gpu_count, 1), 4),
            machine_id=new_id(12),
            pod_key="rpa_" + secrets.token_hex(20),
            created_at=now,
            status_reason="Rented by User",
            running_since=now,
        )
        pod.schedule_start(now, self.timing.start_seconds + self.faults.slow_start_seconds)
        return pod

    def get_pod(self, pod_id: str) -> Pod | None:
        with self.lock:
            return self.pods.get(pod_id)

    def pod(self, pod_id: str) -> Pod:
        with self.lock:
            pod = self.pods.get(pod_id)
            if pod is None:
                raise NotFound("pod", pod_id)
            return pod

    def terminate_pod(self, pod_id: str) -> None:
        with self.lock:
            pod = self.pods.pop(pod_id, None)
            if pod is None:
                raise NotFound("Pod", pod_id)
            now = self.clock.now()
            runtime = self.release(pod, now)
            pod.status = TERMINATED
            pod.terminated_at = now
            pod.log.close()
            self.history.append(pod)
        if runtime is not None:
            runtime.kill()
        shutil.rmtree(self.sandbox_dir(pod_id), ignore_errors=True)

    def stop_pod(self, pod_id: str) -> Pod:
        return self._exit(pod_id, "Stopped by User")

    def resume_pod(self, pod_id: str, gpu_count: int | None) -> Pod:
        with self.lock:
            pod = self.pod(pod_id)
            if pod.status not in (EXITED, ERROR):
                return pod
            count = pod.gpu_count if gpu_count is None or pod.kind == "cpu" else gpu_count
            if pod.kind == "gpu" and not pod.holds_compute:
                assert pod.gpu_type_id is not None
                gpu = catalog.GPU_TYPES[pod.gpu_type_id]
                if count < 1 or count > gpu.max_gpu_count:
                    raise Invalid(f"gpuCount must be between 1 and {gpu.max_gpu_count}")
                self.check_create_faults(pod.gpu_type_id)
                if (
                    pod.data_center_id in self.faults.capacity_data_centers
                    or self.stock[pod.data_center_id].get(pod.gpu_type_id, 0) < count
                ):
                    raise NoCapacity(RESUME_NO_GPUS)
                self.stock[pod.data_center_id][pod.gpu_type_id] -= count
                pod.price_per_hour = round(pod.price_per_hour / pod.gpu_count * count, 4)
                pod.gpu_count = count
            now = self.clock.now()
            pod.holds_compute = True
            pod.changed("Resumed by User")
            if pod.running_since is None:
                pod.running_since = now
            pod.generation += 1
            pod.schedule_start(now, self.timing.resume_seconds + self.faults.slow_start_seconds)
            pod.log.append(SYSTEM, "Pod start requested", now)
            return pod

    def restart_pod(self, pod_id: str) -> Pod:
        """Restart a RUNNING pod's container in place: same machine and ports, uptime from 0."""
        with self.lock:
            pod = self.pod(pod_id)
            if pod.status != RUNNING:
                raise Conflict(f"pod {pod_id} is {pod.status}; only a RUNNING pod can be restarted")
            runtime = pod.runtime if pod.container_up else None
            generation = pod.generation
            pod.container_up = False
            pod.restart_due = None
            pod.die_at = None
            pod.log.append(SYSTEM, "Container restart requested", self.clock.now())
        if runtime is not None:
            runtime.kill()
        with self.lock:
            if self.pods.get(pod_id) is pod and pod.generation == generation and pod.status == RUNNING:
                pod.restart_due = self.clock.now()
            return pod

    def kill_container(self, pod_id: str) -> Pod:
        """The container's process dies out of band (`POST /_emulator/pods/<id>/die`); RunPod restarts it."""
        with self.lock:
            pod = self.pod(pod_id)
            runtime = pod.runtime if pod.container_up else None
        if runtime is not None:
            runtime.kill()
        return pod

    def _exit(self, pod_id: str, why: str) -> Pod:
        """The pod stops: GPUs released, billing stops, EXITED."""
        with self.lock:
            pod = self.pod(pod_id)
            runtime = None
            if pod.status in HOLDING:
                now = self.clock.now()
                runtime = self.release(pod, now)
                pod.status = EXITED
                pod.changed(why)
                pod.log.append(SYSTEM, f"Pod stopped ({why.lower()})", now)
        if runtime is not None:
            runtime.kill()
        return pod

    def release(self, pod: Pod, now: float) -> PodRuntimeLike | None:
        """Stop billing, give the GPUs back, detach the runtime (the caller kills it outside the lock)."""
        pod.accrue(now)
        pod.running_since = None
        pod.pull_at = None
        pod.start_due = None
        pod.restart_due = None
        pod.die_at = None
        pod.starting = False
        pod.container_up = False
        pod.generation += 1
        if pod.holds_compute and pod.kind == "gpu" and pod.gpu_type_id is not None:
            self.stock[pod.data_center_id][pod.gpu_type_id] = (
                self.stock[pod.data_center_id].get(pod.gpu_type_id, 0) + pod.gpu_count
            )
        pod.holds_compute = False
        runtime, pod.runtime = pod.runtime, None
        return runtime

    def pod_for_key(self, key: str) -> Pod | None:
        """The pod whose own RUNPOD_API_KEY this is (None when `Faults.reject_pod_key`)."""
        with self.lock:
            if self.faults.reject_pod_key:
                return None
            return next((pod for pod in self.pods.values() if secrets.compare_digest(pod.pod_key, key)), None)

    def log_tail(self, pod_id: str, n: int = 200) -> list[str]:
        """The container's last `n` lines (the runtime's own file while it runs, else the pod log)."""
        with self.lock:
            pod = self.pod(pod_id)
            runtime = pod.runtime
        if runtime is not None:
            return runtime.log_tail(n)
        return pod.log.tail(n, CONTAINER)

    # ---- network volumes ----------------------------------------------------------------

    def save_volumes(self) -> None:
        """Write `volumes.json` when the emulator keeps its volumes across runs."""
        if not self.persist_volumes:
            return
        data = [_volume_entry(volume) for volume in self.volumes.values()]
        (self.state_dir / "volumes.json").write_text(json.dumps(data, indent=2))

    def _load_volumes(self) -> None:
        path = self.state_dir / "volumes.json"
        if not path.exists():
            return
        now = self.clock.now()
        for item in json.loads(path.read_text()):
            directory = self.state_dir / "volumes" / item["id"]
            directory.mkdir(parents=True, exist_ok=True)
            self.volumes[item["id"]] = Volume(
                item["id"],
                item["name"],
                int(item["size"]),
                item["dataCenterId"],
                directory,
                now,
                item.get("type", catalog.STANDARD),
                billed_until=now,
            )

    # ---- the bill -------------------------------------------------------------------------

    def accrue_all(self) -> float:
        """Bill every live pod and volume up to now (lock held); returns now."""
        now = self.clock.now()
        for pod in self.pods.values():
            pod.accrue(now)
        for volume in self.volumes.values():
            volume.accrue(now)
        return now


def _volume_entry(volume: Volume) -> dict[str, Any]:
    """One volume in `volumes.json`, the file a persistent emulator reloads its volumes from."""
    return {
        "id": volume.id,
        "name": volume.name,
        "size": volume.size,
        "dataCenterId": volume.data_center_id,
        "type": volume.volume_type,
    }


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def _gpu_price(gpu: catalog.GpuType, cloud: str) -> float | None:
    if cloud == "SECURE":
        return gpu.secure_price
    if cloud == "COMMUNITY":
        return gpu.community_price
    return gpu.secure_price if gpu.secure_price is not None else gpu.community_price
