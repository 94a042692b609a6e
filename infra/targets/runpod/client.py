"""The one place that talks to RunPod: pods through the `runpod` SDK, network volumes through REST v1.

Every call goes through `RunPodClient._call`, which maps SDK, requests and httpx exceptions to
`infra.errors` and retries only what is retryable, with bounded exponential backoff and jitter.
Creates are idempotent: before a retry the resource is looked up by its unique name and adopted.
The API key travels only in the `Authorization: Bearer` header and never appears in a message.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, TypeVar

import httpx

from infra.errors import (
    AuthError,
    BalanceError,
    CapacityError,
    ConfigError,
    NotFoundError,
    ProviderError,
    RateLimitError,
    TransientError,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

KEY_HINT = (
    "set it with `pulumi config set --secret deepseek-v4-infra:runpodApiKey <key>` or export RUNPOD_API_KEY"
)
# RunPod's smallest compute-optimised CPU flavour; the weight pre-fill is bound by the network.
DEFAULT_CPU_INSTANCE = "cpu3c-2-4"
REST_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
# The SDK reads `runpod.api_key` and $RUNPOD_API_BASE_URL globally, so SDK calls take turns.
_SDK_LOCK = threading.RLock()

_POD_FIELDS = """
    id name desiredStatus imageName costPerHr gpuCount dockerArgs env ports
    volumeMountPath networkVolumeId
    runtime { ports { ip isIpPublic privatePort publicPort type } }
    machine { gpuDisplayName gpuTypeId dataCenterId }
"""
_GPU_TYPES_QUERY = (
    "query GpuTypes { gpuTypes { id displayName memoryInGb securePrice communityPrice "
    "secureSpotPrice maxGpuCount } }"
)
_CAPACITY_MESSAGES = (
    "no longer any instances available",
    "no instances currently available",
    "does not have the resources to deploy",
    "not enough free gpus",
)
_TRANSIENT_MESSAGES = (
    "something went wrong",
    "internal server error",
    "bad gateway",
    "service unavailable",
    "gateway timeout",
)


@dataclass(frozen=True)
class RunPodSettings:
    """Where RunPod is and the key to it; picklable, holds no clients."""

    api_key: str = field(repr=False)
    graphql_base_url: str = "https://api.runpod.io"
    rest_base_url: str = "https://rest.runpod.io/v1"
    proxy_url_template: str = "https://{pod_id}-{port}.proxy.runpod.net"

    def __post_init__(self) -> None:
        if not self.api_key:
            raise AuthError(f"no RunPod API key: {KEY_HINT}")

    def __repr__(self) -> str:
        return (
            f"RunPodSettings(api_key='***', graphql_base_url={self.graphql_base_url!r}, "
            f"rest_base_url={self.rest_base_url!r}, proxy_url_template={self.proxy_url_template!r})"
        )

    @classmethod
    def from_env(cls, api_key: str | None = None) -> RunPodSettings:
        """Settings from $RUNPOD_* (the emulator sets these); `api_key` wins over $RUNPOD_API_KEY."""
        key = api_key or os.environ.get("RUNPOD_API_KEY", "")
        return cls(
            api_key=key,
            graphql_base_url=os.environ.get("RUNPOD_API_BASE_URL") or cls.graphql_base_url,
            rest_base_url=os.environ.get("RUNPOD_REST_BASE_URL") or cls.rest_base_url,
            proxy_url_template=os.environ.get("RUNPOD_PROXY_URL_TEMPLATE") or cls.proxy_url_template,
        )


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with jitter, for retryable errors only."""

    attempts: int = 4
    base_delay: float = 1.0
    max_delay: float = 20.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.base_delay < 0 or self.max_delay < self.base_delay:
            raise ConfigError(f"invalid retry policy {self}: attempts >= 1 and 0 <= base_delay <= max_delay")

    def delay(self, retry: int, rng: random.Random) -> float:
        """Seconds to wait before retry number `retry` (0-based): half fixed, half random."""
        ceiling = min(self.max_delay, self.base_delay * 2**retry)
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


@dataclass(frozen=True)
class GpuType:
    id: str
    display_name: str
    memory_gb: int
    secure_price: float | None
    community_price: float | None
    secure_spot_price: float | None
    max_gpu_count: int


@dataclass(frozen=True)
class Pod:
    id: str
    name: str
    desired_status: str
    """RUNNING, EXITED or TERMINATED."""
    gpu_type_id: str | None
    """None for CPU pods, and where RunPod has not said."""
    gpu_count: int
    cost_per_hr: float | None
    image: str
    data_center_id: str | None
    network_volume_id: str | None
    ssh: tuple[str, int] | None
    """(public ip, port) of the container's port 22, once the container runs."""
    http_ports: dict[int, str]
    """Declared `N/http` port -> its proxy URL."""
    env_keys: tuple[str, ...]
    """Names only: values can be secrets."""


@dataclass(frozen=True)
class Volume:
    id: str
    name: str
    size_gb: int
    data_center_id: str


@dataclass(frozen=True)
class PodRequest:
    """Everything a pod create needs. `gpu_type_id=None` makes a CPU pod."""

    name: str
    image: str
    gpu_type_id: str | None = None
    gpu_count: int = 1
    cloud_type: str = "SECURE"
    data_center_id: str | None = None
    network_volume_id: str | None = None
    volume_mount_path: str = "/workspace"
    container_disk_gb: int = 50
    docker_args: str = ""
    ports: str = "8000/http,22/tcp"
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    support_public_ip: bool = True
    start_ssh: bool = True
    min_vcpu: int = 1
    min_memory_gb: int = 1
    instance_id: str | None = None
    """CPU pods: RunPod's CPU flavour (default `DEFAULT_CPU_INSTANCE`)."""
    docker_entrypoint: tuple[str, ...] = ()
    """Replaces the image's ENTRYPOINT (REST v1 only); with it, `docker_start_cmd` is the argv it gets."""
    docker_start_cmd: tuple[str, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        problems = []
        if not self.name:
            problems.append("name is empty")
        if not self.image:
            problems.append("image is empty")
        if self.cloud_type not in ("SECURE", "COMMUNITY", "ALL"):
            problems.append(f"cloud_type {self.cloud_type!r} is not SECURE, COMMUNITY or ALL")
        if self.gpu_type_id is not None and self.gpu_count < 1:
            problems.append(f"gpu_count {self.gpu_count} must be at least 1 for a GPU pod")
        if self.network_volume_id and self.cloud_type == "COMMUNITY":
            problems.append("network volumes attach only to SECURE cloud pods")
        for port in _declared_ports(self.ports):
            number, _, kind = port.partition("/")
            if not number.isdigit() or kind not in ("http", "tcp"):
                problems.append(f"port {port!r} is not NUMBER/http or NUMBER/tcp")
        if problems:
            raise ConfigError(f"invalid pod request {self.name!r}: " + "; ".join(problems))

    def __repr__(self) -> str:
        return (
            f"PodRequest(name={self.name!r}, image={self.image!r}, gpu_type_id={self.gpu_type_id!r}, "
            f"gpu_count={self.gpu_count}, data_center_id={self.data_center_id!r}, "
            f"network_volume_id={self.network_volume_id!r}, env_keys={sorted(self.env)!r})"
        )


class _HttpStatus(Exception):
    """A REST answer that is not 2xx (mapped in `_map`)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class RunPodClient:
    """Typed RunPod operations; build one per use (it holds settings, not connections)."""

    def __init__(
        self,
        settings: RunPodSettings,
        retry: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.retry = retry
        self._sleep = sleep
        self._rng = random.Random()

    def __repr__(self) -> str:
        return f"RunPodClient({self.settings!r})"

    # ---- GPU types -----------------------------------------------------------------------------

    def gpu_types(self) -> list[GpuType]:
        data = self._graphql("list GPU types", _GPU_TYPES_QUERY)
        return [_gpu_type(item) for item in data["gpuTypes"] or []]

    def gpu_type(self, gpu_type_id: str, count: int = 1) -> GpuType:
        """One GPU type with its prices; an unknown id raises NotFoundError that lists the valid ones."""
        try:
            item = self._sdk(f"get GPU type {gpu_type_id!r}", lambda rp: rp.get_gpu(_lit(gpu_type_id), count))
        except NotFoundError:
            raise self._unknown_gpu(gpu_type_id) from None
        return _gpu_type(item)

    def free_gpus(self, gpu_type_id: str, count: int, data_center_id: str) -> int:
        """GPUs of a type free in one data center right now (RunPod's `maxUnreservedGpuCount`)."""
        query = (
            f"query Stock {{ gpuTypes(input: {{id: {_quote(gpu_type_id)}}}) {{ id lowestPrice(input: "
            f"{{gpuCount: {int(count)}, dataCenterId: {_quote(data_center_id)}, secureCloud: true}}) "
            f"{{ maxUnreservedGpuCount stockStatus }} }} }}"
        )
        data = self._graphql(f"stock of {gpu_type_id} in {data_center_id}", query)
        items = data.get("gpuTypes") or []
        lowest = (items[0].get("lowestPrice") or {}) if items else {}
        return int(lowest.get("maxUnreservedGpuCount") or 0)

    # ---- pods ----------------------------------------------------------------------------------

    def create_gpu_pod(self, request: PodRequest) -> Pod:
        """Rent a GPU pod; a retried create first adopts a pod that already carries the request's name."""
        if request.gpu_type_id is None:
            raise ConfigError(f"pod {request.name!r}: a GPU pod needs gpu_type_id")
        try:
            return self._create_pod(request)
        except NotFoundError as err:
            if err.resource == "gpu type":
                raise self._unknown_gpu(request.gpu_type_id) from None
            raise

    def create_cpu_pod(self, request: PodRequest) -> Pod:
        """Rent a CPU pod (`deployCpuPod`), e.g. for the weight pre-fill."""
        if request.gpu_type_id is not None:
            raise ConfigError(f"pod {request.name!r}: a CPU pod takes no gpu_type_id")
        return self._create_pod(request)

    def get_pod(self, pod_id: str) -> Pod | None:
        """The pod, or None when it is gone (terminated or unknown)."""
        try:
            data = self._graphql(
                f"get pod {pod_id}",
                f"query Pod {{ pod(input: {{podId: {_quote(pod_id)}}}) {{ {_POD_FIELDS} }} }}",
            )
        except NotFoundError:
            return None
        item = data.get("pod")
        if not item or item.get("desiredStatus") == "TERMINATED":
            return None
        return self._pod(item)

    def list_pods(self, prefix: str | None = None) -> list[Pod]:
        """Live pods of the account, those whose name starts with `prefix` when given."""
        data = self._graphql("list pods", f"query Pods {{ myself {{ pods {{ {_POD_FIELDS} }} }} }}")
        pods = [self._pod(item) for item in (data.get("myself") or {}).get("pods") or []]
        return [
            pod
            for pod in pods
            if pod.desired_status != "TERMINATED" and (prefix is None or pod.name.startswith(prefix))
        ]

    def pods_named(self, name: str) -> list[Pod]:
        """Live pods with exactly this name (RunPod does not make names unique; our names are)."""
        return [pod for pod in self.list_pods(name) if pod.name == name]

    def terminate_pod(self, pod_id: str) -> None:
        """Terminate; a pod that is already gone counts as terminated."""
        with contextlib.suppress(NotFoundError):
            self._sdk(f"terminate pod {pod_id}", lambda rp: rp.terminate_pod(_lit(pod_id)))

    def stop_pod(self, pod_id: str) -> None:
        """Stop the container (GPU billing stops; the pod's disk stays until terminated)."""
        self._sdk(f"stop pod {pod_id}", lambda rp: rp.stop_pod(_lit(pod_id)))

    def endpoint_url(self, pod_id: str, port: int = 8000) -> str:
        return self.settings.proxy_url_template.format(pod_id=pod_id, port=port)

    # ---- network volumes (REST v1) -------------------------------------------------------------

    def list_volumes(self) -> list[Volume]:
        return [_volume(item) for item in self._rest("list network volumes", "GET", "/networkvolumes") or []]

    def create_volume(self, name: str, size_gb: int, data_center_id: str) -> Volume:
        """Create a network volume; a retried create adopts the volume that already has this name."""
        body = {"name": name, "size": size_gb, "dataCenterId": data_center_id}

        def existing() -> Volume | None:
            return next((v for v in self.list_volumes() if v.name == name), None)

        return self._call(
            f"create network volume {name!r} ({size_gb} GB in {data_center_id})",
            lambda: _volume(self._rest_once("POST", "/networkvolumes", body)),
            recover=existing,
        )

    def get_volume(self, volume_id: str) -> Volume | None:
        """The volume, or None when it is gone."""
        try:
            return _volume(
                self._rest(f"get network volume {volume_id}", "GET", f"/networkvolumes/{volume_id}")
            )
        except NotFoundError:
            self._confirm_volume_gone(volume_id)
            return None

    def resize_volume(self, volume_id: str, size_gb: int) -> Volume:
        """Grow a volume (RunPod volumes only grow)."""
        answer = self._rest(
            f"resize network volume {volume_id} to {size_gb} GB",
            "PATCH",
            f"/networkvolumes/{volume_id}",
            {"size": size_gb},
        )
        return _volume(answer)

    def delete_volume(self, volume_id: str) -> None:
        """Delete; a volume that is already gone counts as deleted."""
        try:
            self._rest(f"delete network volume {volume_id}", "DELETE", f"/networkvolumes/{volume_id}")
        except NotFoundError:
            self._confirm_volume_gone(volume_id)

    def _confirm_volume_gone(self, volume_id: str) -> None:
        """A 404 means gone only if the volume list answers without it (not a wrong REST base URL)."""
        if any(volume.id == volume_id for volume in self.list_volumes()):
            raise ProviderError(f"RunPod answered 404 for network volume {volume_id}, yet lists it")

    # ---- the edge: every call to RunPod goes through _call ------------------------------------

    def _call(self, op: str, fn: Callable[[], T], *, recover: Callable[[], T | None] | None = None) -> T:
        """Run `fn`, mapping errors; retry retryable ones, asking `recover` first for what was made."""
        for attempt in range(1, self.retry.attempts + 1):
            try:
                return fn()
            except Exception as exc:  # mapped right here, at the edge
                error = self._map(op, exc)
            if not error.retryable or attempt == self.retry.attempts:
                if error.retryable:
                    error = type(error)(
                        f"{error} (gave up after {attempt} attempts)", resource=error.resource
                    )
                raise error from None
            delay = self.retry.delay(attempt - 1, self._rng)
            log.info(
                "%s; retrying in %.1f s (attempt %d of %d)", error, delay, attempt + 1, self.retry.attempts
            )
            self._sleep(delay)
            if recover is not None:
                found = recover()
                if found is not None:
                    log.info("RunPod %s: adopted what the failed attempt had created", op)
                    return found
        raise AssertionError("unreachable: RetryPolicy checks attempts >= 1")

    def _map(self, op: str, exc: Exception) -> ProviderError:
        """One exception from the SDK, requests or httpx -> the project's error tree."""
        if isinstance(exc, ProviderError):
            return exc
        rp_error = sys.modules.get("runpod.error")  # only set once the SDK has run
        detail = self._redact(str(exc)) or type(exc).__name__
        prefix = f"RunPod {op}"
        if rp_error is not None and isinstance(exc, rp_error.AuthenticationError):
            return AuthError(f"{prefix}: RunPod rejected the API key (401); {KEY_HINT}", resource=op)
        if isinstance(exc, _HttpStatus):
            return self._map_status(prefix, exc.status, self._redact(exc.message), op)
        if isinstance(exc, json.JSONDecodeError):
            return TransientError(
                f"{prefix}: RunPod answered with a page that is not JSON (an outage?)", resource=op
            )
        if isinstance(exc, httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError):
            return TransientError(f"{prefix}: {type(exc).__name__}: {detail}", resource=op)
        requests_exc = sys.modules.get("requests.exceptions")
        if requests_exc is not None and isinstance(
            exc, requests_exc.ConnectionError | requests_exc.Timeout | requests_exc.ChunkedEncodingError
        ):
            return TransientError(f"{prefix}: {type(exc).__name__}: {detail}", resource=op)
        if isinstance(exc, ValueError) and "no gpu found" in detail.lower():
            return NotFoundError(f"{prefix}: RunPod lists no such GPU type", resource="gpu type")
        if rp_error is not None and isinstance(exc, rp_error.QueryError):
            return _classify(prefix, detail, op)
        return ProviderError(f"{prefix}: {type(exc).__name__}: {detail}", resource=op)

    @staticmethod
    def _map_status(prefix: str, status: int, message: str, op: str) -> ProviderError:
        text = f"{prefix}: HTTP {status}: {message}"
        if status in (401, 403):
            return AuthError(f"{prefix}: RunPod rejected the API key ({status}); {KEY_HINT}", resource=op)
        if status == 404:
            return NotFoundError(text, resource=op)
        if status == 429:
            return RateLimitError(text, resource=op)
        classified = _classify(prefix, message, op)
        if type(classified) is not ProviderError or status < 500:
            return classified
        return TransientError(text, resource=op)

    def _redact(self, text: str) -> str:
        return text.replace(self.settings.api_key, "***")

    # ---- SDK and REST plumbing --------------------------------------------------------------

    @contextlib.contextmanager
    def _sdk_globals(self) -> Iterator[ModuleType]:
        """The SDK, pointed at these settings for the duration of one call, then restored."""
        import runpod

        _undo_sdk_logging()

        with _SDK_LOCK:
            saved_key, saved_url = runpod.api_key, os.environ.get("RUNPOD_API_BASE_URL")
            runpod.api_key = self.settings.api_key
            os.environ["RUNPOD_API_BASE_URL"] = self.settings.graphql_base_url
            try:
                yield runpod
            finally:
                runpod.api_key = saved_key
                if saved_url is None:
                    os.environ.pop("RUNPOD_API_BASE_URL", None)
                else:
                    os.environ["RUNPOD_API_BASE_URL"] = saved_url

    def _sdk_once(self, action: Callable[[ModuleType], Any]) -> Any:
        with self._sdk_globals() as runpod:
            return action(runpod)

    def _sdk(
        self, op: str, action: Callable[[ModuleType], Any], recover: Callable[[], Any] | None = None
    ) -> Any:
        return self._call(op, lambda: self._sdk_once(action), recover=recover)

    def _graphql(self, op: str, query: str) -> dict[str, Any]:
        """A query through the SDK's transport (its auth, base URL and error handling)."""

        def run(rp: ModuleType) -> dict[str, Any]:
            from runpod.api.graphql import run_graphql_query

            return dict(run_graphql_query(query)["data"])

        return dict(self._sdk(op, run))

    def _rest_once(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self.settings.api_key}", "Accept": "application/json"}
        with httpx.Client(
            base_url=self.settings.rest_base_url, headers=headers, timeout=REST_TIMEOUT
        ) as http:
            response = http.request(method, path, json=body)
        if response.status_code >= 400:
            raise _HttpStatus(response.status_code, _rest_error_text(response))
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def _rest(self, op: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._call(op, lambda: self._rest_once(method, path, body))

    # ---- pods: create and parse ---------------------------------------------------------------

    def _create_pod(self, request: PodRequest) -> Pod:
        where = request.data_center_id or "any data center"
        what = f"{request.gpu_count}x {request.gpu_type_id}" if request.gpu_type_id else "CPU"
        op = f"create pod {request.name!r} ({what} in {where})"

        def create(rp: ModuleType) -> dict[str, Any]:
            return dict(rp.create_pod(**_sdk_create_arguments(request)))

        def existing() -> Pod | None:
            return next(iter(self.pods_named(request.name)), None)

        made: Any
        if request.docker_entrypoint:
            # The SDK's GraphQL mutation cannot replace an ENTRYPOINT (the vLLM image's is `vllm serve`).
            made = self._call(
                op, lambda: self._rest_once("POST", "/pods", _rest_create_body(request)), recover=existing
            )
        else:
            made = self._sdk(op, create, recover=existing)
        if isinstance(made, Pod):
            return made
        pod_id = str(made["id"])
        # The create answer has only the id; the full view is best-effort (the pod exists either way).
        with contextlib.suppress(ProviderError):
            fresh = self.get_pod(pod_id)
            if fresh is not None:
                return fresh
        return Pod(
            id=pod_id,
            name=request.name,
            desired_status="RUNNING",
            gpu_type_id=request.gpu_type_id,
            gpu_count=request.gpu_count if request.gpu_type_id else 0,
            cost_per_hr=None,
            image=request.image,
            data_center_id=request.data_center_id,
            network_volume_id=request.network_volume_id,
            ssh=None,
            http_ports=self._http_ports(pod_id, request.ports),
            env_keys=tuple(sorted(request.env)),
        )

    def _pod(self, item: dict[str, Any]) -> Pod:
        machine = item.get("machine") or {}
        runtime_ports = (item.get("runtime") or {}).get("ports") or []
        ssh = next(
            (
                (str(p["ip"]), int(p["publicPort"]))
                for p in runtime_ports
                if p.get("privatePort") == 22 and p.get("isIpPublic") and p.get("ip") and p.get("publicPort")
            ),
            None,
        )
        cost = item.get("costPerHr")
        return Pod(
            id=str(item["id"]),
            name=str(item.get("name") or ""),
            desired_status=str(item.get("desiredStatus") or ""),
            gpu_type_id=machine.get("gpuTypeId"),
            gpu_count=int(item.get("gpuCount") or 0),
            cost_per_hr=float(cost) if cost is not None else None,
            image=str(item.get("imageName") or ""),
            data_center_id=machine.get("dataCenterId"),
            network_volume_id=item.get("networkVolumeId"),
            ssh=ssh,
            http_ports=self._http_ports(str(item["id"]), str(item.get("ports") or "")),
            env_keys=_env_keys(item.get("env")),
        )

    def _http_ports(self, pod_id: str, ports: str) -> dict[int, str]:
        return {
            int(number): self.endpoint_url(pod_id, int(number))
            for number, _, kind in (port.partition("/") for port in _declared_ports(ports))
            if kind == "http" and number.isdigit()
        }

    def _unknown_gpu(self, gpu_type_id: str) -> NotFoundError:
        try:
            known = ", ".join(sorted(g.id for g in self.gpu_types()))
        except ProviderError as err:
            known = f"(could not list them: {err})"
        return NotFoundError(
            f"RunPod has no GPU type {gpu_type_id!r}; valid ids: {known}", resource="gpu type"
        )


# ---- helpers ---------------------------------------------------------------------------------


def _classify(prefix: str, message: str, op: str) -> ProviderError:
    """A RunPod error message -> the error a user can act on."""
    lowered = message.lower()
    text = f"{prefix}: {message}"
    if any(marker in lowered for marker in _CAPACITY_MESSAGES):
        return CapacityError(text, resource=op)
    if "balance is too low" in lowered:
        return BalanceError(f"{text} (add funds in the RunPod console: Billing)", resource=op)
    if "too many requests" in lowered or "rate limit" in lowered:
        return RateLimitError(text, resource=op)
    if lowered.startswith("unauthorized") or "unauthenticated" in lowered:
        return AuthError(f"{text}; {KEY_HINT}", resource=op)
    if any(marker in lowered for marker in _TRANSIENT_MESSAGES):
        return TransientError(text, resource=op)
    if "not found" in lowered or "does not exist" in lowered:
        return NotFoundError(text, resource=op)
    return ProviderError(text, resource=op)


def _undo_sdk_logging() -> None:
    """`import runpod` runs logging.basicConfig(INFO); request lines would flood Pulumi's output and ours."""
    root = logging.getLogger()
    if root.level == logging.INFO:
        root.setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _rest_error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase or "no details"
    if isinstance(body, dict):
        return str(body.get("error") or body.get("message") or body)
    return str(body)


def _sdk_create_arguments(request: PodRequest) -> dict[str, Any]:
    """`runpod.create_pod` keyword arguments; strings pre-escaped, as the SDK pastes them into GraphQL."""
    arguments: dict[str, Any] = {
        "name": _lit(request.name),
        "image_name": _lit(request.image),
        "cloud_type": request.cloud_type,
        "support_public_ip": request.support_public_ip,
        "start_ssh": request.start_ssh,
        "data_center_id": _lit(request.data_center_id) if request.data_center_id else None,
        "container_disk_in_gb": request.container_disk_gb,
        "min_vcpu_count": request.min_vcpu,
        "min_memory_in_gb": request.min_memory_gb,
        "docker_args": _lit(request.docker_args),
        "ports": _lit(request.ports),
        "volume_mount_path": _lit(request.volume_mount_path),
        "env": {_lit(key): _lit(value) for key, value in request.env.items()},
        "network_volume_id": _lit(request.network_volume_id) if request.network_volume_id else None,
    }
    if request.gpu_type_id is not None:
        arguments.update(gpu_type_id=_lit(request.gpu_type_id), gpu_count=request.gpu_count)
    else:
        arguments["instance_id"] = _lit(request.instance_id or DEFAULT_CPU_INSTANCE)
    return arguments


def _rest_create_body(request: PodRequest) -> dict[str, Any]:
    """REST v1 `POST /pods` body (JSON, so no escaping by hand)."""
    body: dict[str, Any] = {
        "name": request.name,
        "imageName": request.image,
        "cloudType": request.cloud_type,
        "containerDiskInGb": request.container_disk_gb,
        "volumeMountPath": request.volume_mount_path,
        "ports": _declared_ports(request.ports),
        "env": dict(request.env),
        "supportPublicIp": request.support_public_ip,
        "dockerEntrypoint": list(request.docker_entrypoint),
        "dockerStartCmd": list(request.docker_start_cmd),
    }
    if request.gpu_type_id is not None:
        body.update(computeType="GPU", gpuTypeIds=[request.gpu_type_id], gpuCount=request.gpu_count)
    else:
        body["computeType"] = "CPU"
    if request.data_center_id:
        body["dataCenterIds"] = [request.data_center_id]
    if request.network_volume_id:
        body["networkVolumeId"] = request.network_volume_id
    return body


def _lit(value: str) -> str:
    """`value` escaped for the inside of a GraphQL string literal (JSON escapes are GraphQL escapes)."""
    return json.dumps(value)[1:-1]


def _quote(value: str) -> str:
    return json.dumps(value)


def _declared_ports(ports: str) -> list[str]:
    return [part.strip() for part in ports.split(",") if part.strip()]


def _env_keys(env: Any) -> tuple[str, ...]:
    """RunPod answers env as ["KEY=value", ...] (or [{key, value}]); keep the keys only."""
    keys = []
    for item in env or []:
        if isinstance(item, dict):
            keys.append(str(item.get("key") or ""))
        else:
            keys.append(str(item).partition("=")[0])
    return tuple(sorted(k for k in keys if k))


def _gpu_type(item: dict[str, Any]) -> GpuType:
    def price(key: str) -> float | None:
        value = item.get(key)
        return float(value) if value is not None else None

    return GpuType(
        id=str(item["id"]),
        display_name=str(item.get("displayName") or item["id"]),
        memory_gb=int(item.get("memoryInGb") or 0),
        secure_price=price("securePrice"),
        community_price=price("communityPrice"),
        secure_spot_price=price("secureSpotPrice"),
        max_gpu_count=int(item.get("maxGpuCount") or 0),
    )


def _volume(item: Any) -> Volume:
    if not isinstance(item, dict) or "id" not in item:
        raise TransientError(
            f"RunPod answered a network volume request with {type(item).__name__}, not a volume"
        )
    return Volume(
        id=str(item["id"]),
        name=str(item.get("name") or ""),
        size_gb=int(item.get("size") or 0),
        data_center_id=str(item.get("dataCenterId") or ""),
    )
