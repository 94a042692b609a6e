"""The emulated RunPod account: pods, network volumes, stock, billing and the pods' lifecycle.

One re-entrant lock guards everything; pod runtimes are started and killed outside it because
that spawns and reaps processes. A ticker thread moves pods along in simulated time: a created
pod's container starts `Timing.start_seconds` later, a container whose main process ended makes
the pod EXITED, and `Faults.die_after_seconds` kills GPU containers.
"""

from __future__ import annotations

import json
import secrets
import shlex
import shutil
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from infra.emulator import catalog
from infra.emulator.clock import Clock
from infra.emulator.faults import Faults, Timing
from infra.emulator.pod import PodLaunch

NO_CAPACITY = (
    "There are no longer any instances available with the requested specifications. "
    "Please refresh and try again."
)
BALANCE_TOO_LOW = "Your account balance is too low to rent a pod. Please add funds to your account."
RESUME_NO_GPUS = "There are not enough free GPUs on the host machine to start this pod."
TICK_REAL_SECONDS = 0.02


class ApiError(Exception):
    """A request RunPod refuses; `status` is the REST status (GraphQL answers 200 with `errors`)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class CreatedButFailed(ApiError):
    """The pod exists but the create call answers 500 (`Faults.error_after_create`)."""


class PodRuntimeLike(Protocol):
    """What the server needs from `infra.emulator.pod.PodRuntime`."""

    def start(self) -> None: ...

    @property
    def port_map(self) -> dict[int, int]: ...

    def is_alive(self) -> bool: ...

    def kill(self) -> None: ...

    def log_tail(self, n: int = 50) -> list[str]: ...


RuntimeFactory = Callable[[PodLaunch, Path, Clock, float, "str | None"], PodRuntimeLike]


def real_runtime(
    launch: PodLaunch, sandbox_dir: Path, clock: Clock, load_seconds: float, engine_fault: str | None
) -> PodRuntimeLike:
    from infra.emulator.pod import PodRuntime

    return PodRuntime(launch, sandbox_dir, clock, load_seconds, engine_fault)


def new_id(length: int) -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


@dataclass
class PodRequest:
    """The inputs of `podFindAndDeployOnDemand` / `deployCpuPod` that the emulator acts on."""

    name: str
    image_name: str
    gpu_type_id: str | None = None
    gpu_count: int = 1
    cloud_type: str = "ALL"
    data_center_id: str | None = None
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
    # REST v1 only: replaces the image's ENTRYPOINT (and CMD), as `docker run --entrypoint` does.
    docker_entrypoint: list[str] | None = None
    docker_start_cmd: list[str] | None = None


@dataclass
class Volume:
    id: str
    name: str
    size: int
    data_center_id: str
    directory: Path
    created_at: float
    billed_usd: float = 0.0
    billed_until: float = 0.0

    def accrue(self, now: float) -> None:
        self.billed_usd += max(0.0, now - self.billed_until) * catalog.volume_usd_per_second(self.size)
        self.billed_until = now

    def view(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "size": self.size, "dataCenterId": self.data_center_id}


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
    desired_status: str = "RUNNING"
    last_status_change: str = ""
    start_due: float | None = None
    started_at: float | None = None
    runtime: PodRuntimeLike | None = None
    # Bumped on every stop/resume so a runtime that finishes starting late is recognised as stale.
    generation: int = 0
    starting: bool = False
    die_at: float | None = None
    billed_seconds: float = 0.0
    running_since: float | None = None
    last_logs: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.request.name

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

    def record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "gpuTypeId": self.gpu_type_id,
            "gpuCount": self.gpu_count,
            "dataCenterId": self.data_center_id,
            "desiredStatus": self.desired_status,
            "networkVolumeId": self.request.network_volume_id,
            "costPerHr": self.price_per_hour,
            "createdAt": round(self.created_at, 3),
            "seconds": round(self.billed_seconds, 3),
            "gpu_seconds": round(self.gpu_seconds, 3),
            "usd": round(self.usd, 6),
        }


class AccountState:
    """Everything the emulated account holds, behind one lock."""

    def __init__(
        self,
        clock: Clock,
        timing: Timing,
        faults: Faults,
        state_dir: Path,
        runtime_factory: RuntimeFactory,
        persist_volumes: bool = False,
    ) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.timing = timing
        self.faults = faults
        self.state_dir = state_dir
        self.runtime_factory = runtime_factory
        self.persist_volumes = persist_volumes
        self.api_base_url = ""
        self.pods: dict[str, Pod] = {}
        self.volumes: dict[str, Volume] = {}
        self.history: list[dict[str, Any]] = []
        self.volume_history: list[dict[str, Any]] = []
        self.stock: dict[str, dict[str, int]] = {dc: dict(gpus) for dc, gpus in catalog.DEFAULT_STOCK.items()}
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        (state_dir / "volumes").mkdir(parents=True, exist_ok=True)
        (state_dir / "pods").mkdir(parents=True, exist_ok=True)
        if persist_volumes:
            self._load_volumes()

    # ---- lifecycle of the state itself -------------------------------------------------

    def start(self) -> None:
        self._stop.clear()
        self._ticker = threading.Thread(target=self._tick_loop, name="emulator-ticker", daemon=True)
        self._ticker.start()

    def stop(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=5)
        with self.lock:
            runtimes = [pod.runtime for pod in self.pods.values() if pod.runtime is not None]
            for pod in self.pods.values():
                pod.runtime = None
                pod.generation += 1
        for runtime in runtimes:
            runtime.kill()

    def reset(self) -> None:
        """Forget every pod and volume, restore stock, clear faults and history."""
        with self.lock:
            runtimes = [pod.runtime for pod in self.pods.values() if pod.runtime is not None]
            sandboxes = [self.sandbox_dir(pod_id) for pod_id in self.pods]
            directories = [volume.directory for volume in self.volumes.values()]
            self.pods.clear()
            self.volumes.clear()
            self.history.clear()
            self.volume_history.clear()
            self.stock = {dc: dict(gpus) for dc, gpus in catalog.DEFAULT_STOCK.items()}
            self.faults = Faults()
            self._save_volumes()
        for runtime in runtimes:
            runtime.kill()
        for directory in [*sandboxes, *directories]:
            shutil.rmtree(directory, ignore_errors=True)

    def sandbox_dir(self, pod_id: str) -> Path:
        return self.state_dir / "pods" / pod_id

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

    # ---- pods ---------------------------------------------------------------------------

    def create_pod(self, request: PodRequest) -> Pod:
        with self.lock:
            now = self.clock.now()
            kind = "gpu" if request.gpu_type_id is not None else "cpu"
            if not request.image_name and not request.template_id:
                raise ApiError("imageName is required")
            if request.cloud_type not in ("ALL", "SECURE", "COMMUNITY"):
                raise ApiError(f"Invalid cloudType {request.cloud_type!r}: expected ALL, SECURE or COMMUNITY")
            for port in parse_ports(request.ports):
                number, _, protocol = port.partition("/")
                if not number.isdigit() or protocol not in ("http", "tcp", "udp"):
                    raise ApiError(f"Invalid port {port!r}: expected NUMBER/http or NUMBER/tcp")
            if request.data_center_id is not None and request.data_center_id not in catalog.DATA_CENTERS:
                raise ApiError(f"Invalid data center id: {request.data_center_id}")
            data_center_id = request.data_center_id
            volume = None
            if request.network_volume_id is not None:
                volume = self.volumes.get(request.network_volume_id)
                if volume is None:
                    raise ApiError(f"Network volume {request.network_volume_id} not found")
                if data_center_id is None:
                    data_center_id = volume.data_center_id
                elif data_center_id != volume.data_center_id:
                    raise ApiError(
                        f"Network volume {volume.id} is in data center {volume.data_center_id}; "
                        f"a pod that mounts it must be created there, not in {data_center_id}"
                    )
                if kind == "gpu" and request.cloud_type == "COMMUNITY":
                    raise ApiError("Network volumes can only be attached to Secure Cloud pods")
            if kind == "gpu":
                pod = self._new_gpu_pod(request, data_center_id, volume is not None, now)
            else:
                pod = self._new_cpu_pod(request, data_center_id, now)
            self.pods[pod.id] = pod
            if self.faults.error_after_create > 0:
                self.faults.error_after_create -= 1
                raise CreatedButFailed(
                    "Something went wrong. Please try again later or contact support.", 500
                )
            return pod

    def _check_create_faults(self, gpu_type_id: str | None, data_center_id: str | None) -> None:
        if self.faults.balance_too_low:
            raise ApiError(BALANCE_TOO_LOW)
        if gpu_type_id is not None and gpu_type_id in self.faults.capacity_gpu_types:
            raise ApiError(NO_CAPACITY, 500)
        if data_center_id is not None and data_center_id in self.faults.capacity_data_centers:
            raise ApiError(NO_CAPACITY, 500)
        if self.faults.capacity_errors > 0:
            self.faults.capacity_errors -= 1
            raise ApiError(NO_CAPACITY, 500)

    def _new_gpu_pod(
        self, request: PodRequest, data_center_id: str | None, secure_only: bool, now: float
    ) -> Pod:
        assert request.gpu_type_id is not None
        gpu = catalog.GPU_TYPES.get(request.gpu_type_id)
        if gpu is None:
            raise ApiError(f"Invalid GPU type id: {request.gpu_type_id!r}")
        if request.gpu_count < 1:
            raise ApiError("gpuCount must be at least 1")
        self._check_create_faults(gpu.id, data_center_id)
        cloud = "SECURE" if secure_only and request.cloud_type == "ALL" else request.cloud_type
        price = _gpu_price(gpu, cloud)
        if price is None or request.gpu_count > gpu.max_gpu_count:
            raise ApiError(NO_CAPACITY, 500)
        candidates = [data_center_id] if data_center_id is not None else list(catalog.DATA_CENTERS)
        chosen = next(
            (
                dc
                for dc in candidates
                if dc not in self.faults.capacity_data_centers
                and self.stock.get(dc, {}).get(gpu.id, 0) >= request.gpu_count
            ),
            None,
        )
        if chosen is None:
            raise ApiError(NO_CAPACITY, 500)
        self.stock[chosen][gpu.id] -= request.gpu_count
        used_cloud = "SECURE" if cloud == "ALL" and gpu.secure_price is not None else cloud
        return self._register(request, "gpu", gpu.id, request.gpu_count, used_cloud, chosen, price, now)

    def _new_cpu_pod(self, request: PodRequest, data_center_id: str | None, now: float) -> Pod:
        flavor = request.instance_id or catalog.DEFAULT_CPU_FLAVOR
        if flavor not in catalog.CPU_FLAVORS:
            raise ApiError(f"Invalid instance id: {flavor!r}; known: {', '.join(catalog.CPU_FLAVORS)}")
        self._check_create_faults(None, data_center_id)
        chosen = data_center_id or next(
            dc for dc in catalog.DATA_CENTERS if dc not in self.faults.capacity_data_centers
        )
        price = catalog.CPU_FLAVORS[flavor]
        return self._register(request, "cpu", None, 0, "SECURE", chosen, price, now)

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
            last_status_change=f"Rented by User: {_now_text()}",
            start_due=now + self.timing.start_seconds + self.faults.slow_start_seconds,
            running_since=now,
        )
        return pod

    def get_pod(self, pod_id: str) -> Pod | None:
        with self.lock:
            return self.pods.get(pod_id)

    def terminate_pod(self, pod_id: str) -> None:
        with self.lock:
            pod = self.pods.pop(pod_id, None)
            if pod is None:
                raise ApiError(f"Pod {pod_id} not found", 404)
            now = self.clock.now()
            runtime = self._release(pod, now)
            pod.desired_status = "TERMINATED"
            entry = pod.record()
            entry["terminatedAt"] = round(now, 3)
            self.history.append(entry)
        if runtime is not None:
            runtime.kill()
        shutil.rmtree(self.sandbox_dir(pod_id), ignore_errors=True)

    def stop_pod(self, pod_id: str) -> Pod:
        return self._exit(pod_id, "Stopped by User")

    def resume_pod(self, pod_id: str, gpu_count: int | None) -> Pod:
        with self.lock:
            pod = self._existing(pod_id)
            if pod.desired_status == "RUNNING":
                return pod
            count = pod.gpu_count if gpu_count is None or pod.kind == "cpu" else gpu_count
            if pod.kind == "gpu":
                assert pod.gpu_type_id is not None
                gpu = catalog.GPU_TYPES[pod.gpu_type_id]
                if count < 1 or count > gpu.max_gpu_count:
                    raise ApiError(f"gpuCount must be between 1 and {gpu.max_gpu_count}")
                self._check_create_faults(pod.gpu_type_id, pod.data_center_id)
                if self.stock[pod.data_center_id].get(pod.gpu_type_id, 0) < count:
                    raise ApiError(RESUME_NO_GPUS, 500)
                self.stock[pod.data_center_id][pod.gpu_type_id] -= count
                pod.price_per_hour = round(pod.price_per_hour / pod.gpu_count * count, 4)
                pod.gpu_count = count
            now = self.clock.now()
            pod.desired_status = "RUNNING"
            pod.last_status_change = f"Resumed by User: {_now_text()}"
            pod.running_since = now
            pod.start_due = now + self.timing.resume_seconds + self.faults.slow_start_seconds
            pod.generation += 1
            return pod

    def kill_container(self, pod_id: str) -> Pod:
        """The container dies out of band (`POST /_emulator/pods/<id>/die`)."""
        return self._exit(pod_id, "Exited")

    def _exit(self, pod_id: str, why: str) -> Pod:
        """A running pod's container ends (stopped or died): GPUs released, billing stops, EXITED."""
        with self.lock:
            pod = self._existing(pod_id)
            runtime = None
            if pod.desired_status == "RUNNING":
                runtime = self._release(pod, self.clock.now())
                pod.desired_status = "EXITED"
                pod.last_status_change = f"{why}: {_now_text()}"
        if runtime is not None:
            runtime.kill()
        return pod

    def _existing(self, pod_id: str) -> Pod:
        pod = self.pods.get(pod_id)
        if pod is None:
            raise ApiError(f"Pod {pod_id} not found", 404)
        return pod

    def _release(self, pod: Pod, now: float) -> PodRuntimeLike | None:
        """Stop billing, give the GPUs back, detach the runtime (the caller kills it outside the lock)."""
        pod.accrue(now)
        released = pod.desired_status == "RUNNING"
        pod.running_since = None
        pod.start_due = None
        pod.die_at = None
        pod.starting = False
        pod.generation += 1
        if released and pod.kind == "gpu" and pod.gpu_type_id is not None:
            self.stock[pod.data_center_id][pod.gpu_type_id] = (
                self.stock[pod.data_center_id].get(pod.gpu_type_id, 0) + pod.gpu_count
            )
        runtime, pod.runtime = pod.runtime, None
        if runtime is not None:
            pod.last_logs = runtime.log_tail(200)
        return runtime

    def pod_for_key(self, key: str) -> Pod | None:
        with self.lock:
            return next((pod for pod in self.pods.values() if secrets.compare_digest(pod.pod_key, key)), None)

    def log_tail(self, pod_id: str, n: int = 200) -> list[str]:
        with self.lock:
            pod = self._existing(pod_id)
            runtime = pod.runtime
            if runtime is None:
                return pod.last_logs[-n:]
        return runtime.log_tail(n)

    # ---- the ticker: containers start, exit and die in simulated time -------------------

    def _tick_loop(self) -> None:
        while not self._stop.wait(TICK_REAL_SECONDS):
            self.tick()

    def tick(self) -> None:
        to_start: list[tuple[Pod, int, PodLaunch]] = []
        watched: list[tuple[Pod, int, PodRuntimeLike, bool]] = []
        with self.lock:
            now = self.clock.now()
            for pod in self.pods.values():
                if pod.desired_status != "RUNNING":
                    continue
                if pod.runtime is not None:
                    watched.append(
                        (pod, pod.generation, pod.runtime, pod.die_at is not None and now >= pod.die_at)
                    )
                elif not pod.starting and pod.start_due is not None and now >= pod.start_due:
                    pod.starting = True
                    to_start.append((pod, pod.generation, self._launch(pod)))
        # is_alive() may reap a dead container's strays, which takes time: never under the lock.
        ended = [
            (pod, generation) for pod, generation, runtime, died in watched if died or not runtime.is_alive()
        ]
        to_kill: list[PodRuntimeLike] = []
        with self.lock:
            now = self.clock.now()
            for pod, generation in ended:
                if self.pods.get(pod.id) is not pod or pod.generation != generation:
                    continue
                runtime = self._release(pod, now)
                pod.desired_status = "EXITED"
                pod.last_status_change = f"Exited: {_now_text()}"
                if runtime is not None:
                    to_kill.append(runtime)
        for runtime in to_kill:
            runtime.kill()
        for pod, generation, launch in to_start:
            threading.Thread(
                target=self._start_runtime,
                args=(pod, generation, launch),
                name=f"start-{pod.id}",
                daemon=True,
            ).start()

    def _launch(self, pod: Pod) -> PodLaunch:
        request = pod.request
        volume = self.volumes.get(request.network_volume_id) if request.network_volume_id else None
        env = dict(request.env)
        env.update(
            {
                "RUNPOD_POD_ID": pod.id,
                "RUNPOD_POD_HOSTNAME": f"{pod.id}-{pod.machine_id[:8]}",
                "RUNPOD_API_KEY": pod.pod_key,
                "RUNPOD_PUBLIC_IP": "127.0.0.1",
                "RUNPOD_GPU_COUNT": str(pod.gpu_count),
                "RUNPOD_DC_ID": pod.data_center_id,
                "RUNPOD_API_BASE_URL": self.api_base_url,
                "EMULATOR_IMAGE": request.image_name,
                "EMULATOR_GPU_TYPE": pod.gpu_type_id or "",
                "EMULATOR_GPU_COUNT": str(pod.gpu_count),
                "EMULATOR_ENGINE_FAULT": self.faults.engine_fault or "",
                "EMULATOR_LOAD_SECONDS": f"{self.clock.real_seconds(self.timing.load_seconds):.3f}",
            }
        )
        overridden = bool(request.docker_entrypoint)
        command = request.docker_args
        if overridden:
            # The runtime runs a command line; exec'ing the joined argv is what the container would run.
            command = "exec " + shlex.join(
                [*(request.docker_entrypoint or []), *(request.docker_start_cmd or [])]
            )
        return PodLaunch(
            pod_id=pod.id,
            name=pod.name,
            image=request.image_name,
            gpu_type_id=pod.gpu_type_id,
            gpu_count=pod.gpu_count,
            docker_args=command,
            env=env,
            volume_dir=volume.directory if volume is not None else None,
            volume_mount_path=request.volume_mount_path or "/workspace",
            ports=parse_ports(request.ports),
            # RunPod passes dockerArgs to the image's ENTRYPOINT when it has one (runpod-python#338).
            image_entrypoint=not overridden,
        )

    def _start_runtime(self, pod: Pod, generation: int, launch: PodLaunch) -> None:
        sandbox = self.sandbox_dir(pod.id)
        sandbox.mkdir(parents=True, exist_ok=True)
        runtime: PodRuntimeLike | None = None
        failure = ""
        try:
            # The runtime takes the engine's load time in real seconds (it sets EMULATOR_LOAD_SECONDS).
            load_seconds = self.clock.real_seconds(self.timing.load_seconds)
            runtime = self.runtime_factory(
                launch, sandbox, self.clock, load_seconds, self.faults.engine_fault
            )
            runtime.start()
        except Exception as exc:  # a container that cannot start exits, as on RunPod
            failure = f"container failed to start: {exc}"
        stale = False
        with self.lock:
            current = self.pods.get(pod.id)
            if current is not pod or pod.generation != generation or pod.desired_status != "RUNNING":
                stale = True
            elif runtime is None or failure:
                self._release(pod, self.clock.now())
                pod.desired_status = "EXITED"
                pod.last_logs = [failure]
            else:
                now = self.clock.now()
                pod.runtime = runtime
                pod.starting = False
                pod.started_at = now
                if pod.kind == "gpu" and self.faults.die_after_seconds is not None:
                    pod.die_at = now + self.faults.die_after_seconds
        if stale and runtime is not None:
            runtime.kill()
        if stale and self.get_pod(pod.id) is None:
            # Terminated while starting: the sandbox this thread made is nobody's.
            shutil.rmtree(sandbox, ignore_errors=True)

    # ---- network volumes ----------------------------------------------------------------

    def create_volume(self, name: str, size: int, data_center_id: str) -> Volume:
        with self.lock:
            if data_center_id not in catalog.DATA_CENTERS:
                raise ApiError(
                    f"invalid data center id {data_center_id!r}; known: {', '.join(catalog.DATA_CENTERS)}"
                )
            _check_size(size)
            volume_id = new_id(10)
            directory = self.state_dir / "volumes" / volume_id
            directory.mkdir(parents=True, exist_ok=True)
            now = self.clock.now()
            volume = Volume(volume_id, name, size, data_center_id, directory, now, billed_until=now)
            self.volumes[volume_id] = volume
            self._save_volumes()
            return volume

    def get_volume(self, volume_id: str) -> Volume:
        with self.lock:
            volume = self.volumes.get(volume_id)
            if volume is None:
                raise ApiError(f"network volume {volume_id} not found", 404)
            return volume

    def update_volume(self, volume_id: str, name: str | None, size: int | None) -> Volume:
        with self.lock:
            volume = self.get_volume(volume_id)
            if size is not None:
                _check_size(size)
                if size < volume.size:
                    raise ApiError(f"network volume size can only grow: {volume.size} GB -> {size} GB")
                volume.accrue(self.clock.now())
                volume.size = size
            if name is not None:
                volume.name = name
            self._save_volumes()
            return volume

    def delete_volume(self, volume_id: str) -> None:
        with self.lock:
            volume = self.get_volume(volume_id)
            users = sorted(pod.id for pod in self.pods.values() if pod.request.network_volume_id == volume_id)
            if users:
                raise ApiError(
                    f"network volume {volume_id} is attached to pod(s) {', '.join(users)}; terminate them first"
                )
            volume.accrue(self.clock.now())
            del self.volumes[volume_id]
            self.volume_history.append({**volume.view(), "usd": round(volume.billed_usd, 6)})
            self._save_volumes()
        shutil.rmtree(volume.directory, ignore_errors=True)

    def _save_volumes(self) -> None:
        if not self.persist_volumes:
            return
        data = [volume.view() for volume in self.volumes.values()]
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
                billed_until=now,
            )

    # ---- the bill -------------------------------------------------------------------------

    def inventory(self) -> dict[str, Any]:
        with self.lock:
            now = self.clock.now()
            for pod in self.pods.values():
                pod.accrue(now)
            for volume in self.volumes.values():
                volume.accrue(now)
            pods = [pod.record() for pod in self.pods.values()]
            volumes = [
                {**v.view(), "createdAt": round(v.created_at, 3), "usd": round(v.billed_usd, 6)}
                for v in self.volumes.values()
            ]
            everything = [*pods, *self.history]
            usd = sum(item["usd"] for item in [*everything, *volumes, *self.volume_history])
            return {
                "now": round(now, 3),
                "pods": pods,
                "volumes": volumes,
                "history": list(self.history),
                "volume_history": list(self.volume_history),
                "stock": {dc: dict(gpus) for dc, gpus in self.stock.items()},
                "totals": {
                    "gpu_seconds": round(sum(item["gpu_seconds"] for item in everything), 3),
                    "usd": round(usd, 6),
                },
            }


def parse_ports(ports: str) -> list[str]:
    """`"8000/http, 22/tcp"` -> `["8000/http", "22/tcp"]`."""
    return [part.strip() for part in ports.split(",") if part.strip()]


def _gpu_price(gpu: catalog.GpuType, cloud: str) -> float | None:
    if cloud == "SECURE":
        return gpu.secure_price
    if cloud == "COMMUNITY":
        return gpu.community_price
    return gpu.secure_price if gpu.secure_price is not None else gpu.community_price


def _check_size(size: int) -> None:
    if not 1 <= size <= catalog.MAX_VOLUME_GB:
        raise ApiError(f"size must be between 1 and {catalog.MAX_VOLUME_GB} GB, got {size}")


def _now_text() -> str:
    return time.strftime("%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)", time.gmtime())
