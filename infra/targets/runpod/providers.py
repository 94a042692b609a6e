"""Pulumi dynamic providers for RunPod: the weight-cache volume, the cache pre-fill, the GPU pod.

Providers are pickled into the state, so they hold no clients or keys: every method builds a
`RunPodClient` from its (secret) inputs. Creates find by name first, so a retried or interrupted
`up` adopts what exists instead of renting it twice; deletes treat "already gone" as success.
"""

from __future__ import annotations

import secrets as token_source
import time
from pathlib import Path
from typing import Any

from pulumi.dynamic import CheckResult, CreateResult, DiffResult, ReadResult, ResourceProvider, UpdateResult

POD_REPLACE_KEYS = (
    "image",
    "gpu_type_ids",
    "gpu_count",
    "data_center_ids",
    "args",
    "env",
    "volume_id",
    "ports",
    "container_disk_gb",
)
CONNECTION_KEYS = ("api_key", "api_base_url", "proxy_url_template")
RUNTIME_WAIT_SECONDS = 900.0
POLL_SECONDS = 2.0
# A CPU pod downloads at roughly this rate (GB per minute) from the hub: the cost of a cold start elsewhere.
PREFILL_GB_PER_MINUTE = 6.0


def _client(props: dict[str, Any]) -> Any:
    from infra.targets.runpod.client import RunPodClient, RunPodSettings

    return RunPodClient(RunPodSettings.from_props(props))


def _changed(olds: dict[str, Any], news: dict[str, Any], keys: tuple[str, ...]) -> list[str]:
    return [k for k in keys if olds.get(k) != news.get(k)]


class NetworkVolumeProvider(ResourceProvider):
    """A network volume that holds the weight cache; found by its stable per-stack name."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        client = _client(props)
        existing = [v for v in client.list_volumes() if v.name == props["name"]]
        if existing:
            # A kept cache pins its data center: the next run is warm there, and only there.
            volume = existing[0]
            if volume.data_center_id not in props["data_center_ids"]:
                raise RuntimeError(
                    f"weight cache {volume.name} ({volume.id}) is in {volume.data_center_id}, which the stack no "
                    f"longer lists; add it back or purge the cache (`v4infra down --purge-cache`)"
                )
            if volume.size_gb < int(props["size_gb"]):
                volume = client.resize_volume(volume.id, int(props["size_gb"]))
        else:
            data_center, volume_type = choose_data_center(client, props)
            volume = client.create_volume(props["name"], int(props["size_gb"]), data_center, volume_type)
        return CreateResult(
            volume.id,
            {
                **props,
                "volume_id": volume.id,
                "data_center_id": volume.data_center_id,
                "volume_type": volume.type,
                "adopted": bool(existing),
            },
        )

    def diff(self, id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = _changed(olds, news, ("name",))
        if olds.get("data_center_id") not in news["data_center_ids"]:
            replaces.append("data_center_ids")
        if int(news["size_gb"]) < int(olds["size_gb"]):
            replaces.append("size_gb")  # RunPod volumes only grow
        changes = replaces or _changed(olds, news, ("size_gb", *CONNECTION_KEYS))
        return DiffResult(changes=bool(changes), replaces=replaces, delete_before_replace=True)

    def update(self, id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        if int(news["size_gb"]) > int(olds["size_gb"]):
            _client(news).resize_volume(id, int(news["size_gb"]))
        return UpdateResult(
            {
                **news,
                "volume_id": id,
                "data_center_id": olds.get("data_center_id"),
                "volume_type": olds.get("volume_type"),
                "adopted": olds.get("adopted", False),
            }
        )

    def read(self, id: str, props: dict[str, Any]) -> ReadResult:
        volume = _client(props).get_volume(id)
        if volume is None:
            return ReadResult(None, {})
        return ReadResult(
            id,
            {
                **props,
                "size_gb": volume.size_gb,
                "volume_id": id,
                "data_center_id": volume.data_center_id,
                "volume_type": volume.type,
            },
        )

    def delete(self, id: str, props: dict[str, Any]) -> None:
        _client(props).delete_volume(id)


def choose_data_center(client: Any, props: dict[str, Any]) -> tuple[str, str]:
    """(data center, volume tier): the first listed data center the catalog shows with enough GPUs of an
    acceptable type in stock, else the first listed; the tier per `volume_type` and what it offers.

    The cache volume decides where the GPU pod can run, so its data center is chosen by GPU stock.
    """
    # A cluster needs all its GPUs in this one data center: it asks the CLUSTER stock for the total.
    catalog = client.gpu_catalog(
        int(props["placement_gpu_count"]), product=str(props.get("placement_product") or "POD")
    )
    tiers = {dc.id: dc.volume_types for dc in client.data_centers()}
    wanted = str(props.get("volume_type") or "auto")
    allowed = [
        str(dc)
        for dc in props["data_center_ids"]
        if wanted != "HIGH_PERFORMANCE" or "HIGH_PERFORMANCE" in tiers.get(str(dc), ())
    ]
    if not allowed:
        raise RuntimeError(
            f"volumeType HIGH_PERFORMANCE: none of {', '.join(props['data_center_ids'])} offers it; "
            "set volumeType: auto (the fast tier where offered) or STANDARD"
        )
    offers = {offer.id: offer for offer in catalog}
    chosen = next(
        (
            dc
            for dc in allowed
            if any(offers[g].in_stock(dc) for g in props["placement_gpu_type_ids"] if g in offers)
        ),
        allowed[0],
    )
    if wanted == "auto":
        # The faster tier where the data center has it: weights load at volume speed on every start.
        return chosen, "HIGH_PERFORMANCE" if "HIGH_PERFORMANCE" in tiers.get(chosen, ()) else "STANDARD"
    return chosen, wanted


class PodProvider(ResourceProvider):
    """A RunPod pod (GPU, or CPU when gpu_count is 0) with failover across GPU types and data centers."""

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        return CheckResult(news, [])

    def create(self, props: dict[str, Any]) -> CreateResult:
        from infra.targets.runpod.client import PodRequest
        from infra.targets.runpod.failover import create_with_failover, placements_by_stock, stock_elsewhere

        client = _client(props)
        data_centers = list(props["data_center_ids"])
        request = PodRequest(
            name=props["name"],
            image=props["image"],
            gpu_type_id=props["gpu_type_ids"][0] if props["gpu_count"] else None,
            gpu_count=max(1, int(props["gpu_count"])),
            network_volume_id=props.get("volume_id"),
            data_center_id=data_centers[0] if data_centers else None,
            args=props["args"],
            ports=tuple(props["ports"]),
            env=dict(props["env"]),
            container_disk_gb=int(props["container_disk_gb"]),
        )
        if props["gpu_count"]:
            # Stock first, in the stack's order of preference; a warm cache pins the data center.
            catalog = client.gpu_catalog(int(props["gpu_count"]))
            placements = placements_by_stock(catalog, list(props["gpu_type_ids"]), data_centers)
            elsewhere = stock_elsewhere(catalog, list(props["gpu_type_ids"]), data_centers)
            note = ""
            if elsewhere:
                minutes = float(props.get("cache_gb") or 0) / PREFILL_GB_PER_MINUTE
                note = (
                    f"The catalog shows stock only elsewhere: {', '.join(elsewhere[:4])}. Moving there is a cold "
                    f"start: a new {props.get('cache_gb')} GB weight cache, about {minutes:.0f} min of CPU pre-fill "
                    "before any GPU is billed (dataCenters, then `v4infra down --purge-cache` for the old cache)"
                )
            pod = create_with_failover(client, request, placements, elsewhere=note).pod
        else:
            pod = client.create_cpu_pod(request)
        try:
            pod = wait_for_runtime(client, pod.id, needs_ssh="22/tcp" in props["ports"])
        except BaseException:
            # Never leave a pod that Pulumi does not record: a failed create is not in the state.
            client.terminate_pod(pod.id)
            raise
        return CreateResult(pod.id, {**props, **self._outputs(client, pod)})

    @staticmethod
    def _outputs(client: Any, pod: Any) -> dict[str, Any]:
        ssh_host, ssh_port = pod.ssh if pod.ssh else (None, None)
        return {
            "pod_id": pod.id,
            "gpu_type_id": pod.gpu_type_id,
            "data_center_id": pod.data_center_id,
            "endpoint": client.endpoint_url(pod.id, 8000),
            "ssh_host": ssh_host,
            "ssh_port": ssh_port,
            "usd_per_hour": pod.cost_per_hr,
        }

    def diff(self, id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = _changed(olds, news, POD_REPLACE_KEYS)
        changes = replaces or _changed(olds, news, (*CONNECTION_KEYS, "ttl_seconds"))
        # Delete first: two GPU pods of one stack would bill twice and compete for stock.
        return DiffResult(changes=bool(changes), replaces=replaces, delete_before_replace=True)

    def update(self, id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        keep: dict[str, Any] = {
            k: olds[k]
            for k in (
                "pod_id",
                "gpu_type_id",
                "data_center_id",
                "endpoint",
                "ssh_host",
                "ssh_port",
                "usd_per_hour",
            )
            if k in olds
        }
        return UpdateResult({**news, **keep})

    def read(self, id: str, props: dict[str, Any]) -> ReadResult:
        client = _client(props)
        pod = client.get_pod(id)
        if pod is None:
            return ReadResult(None, {})
        return ReadResult(id, {**props, **self._outputs(client, pod)})

    def delete(self, id: str, props: dict[str, Any]) -> None:
        _client(props).terminate_pod(id)


def wait_for_runtime(
    client: Any, pod_id: str, *, needs_ssh: bool, timeout: float = RUNTIME_WAIT_SECONDS
) -> Any:
    """The pod once it runs (with `ssh.direct` when asked); a pod that fails, stops or crash-loops raises."""
    from infra.targets.runpod.crashloop import RestartWatch

    deadline = time.monotonic() + timeout
    watch = RestartWatch()
    while True:
        pod = client.get_pod(pod_id)
        if pod is None or pod.status in ("EXITED", "ERROR", "TERMINATED"):
            state = "disappeared" if pod is None else f"is {pod.status}"
            raise RuntimeError(f"pod {pod_id} {state} while starting{_log_hint(client, pod_id)}")
        if watch.observe(pod):
            raise RuntimeError(crash_loop_diagnosis(client, pod_id, watch.restarts))
        if pod.status == "RUNNING" and (not needs_ssh or (pod.ssh is not None and _sshd_answers(*pod.ssh))):
            return pod
        if time.monotonic() > deadline:
            what = "an SSH port" if needs_ssh else "a running container"
            raise TimeoutError(f"pod {pod_id} had no {what} after {timeout:.0f} s{_log_hint(client, pod_id)}")
        time.sleep(POLL_SECONDS)


def _sshd_answers(host: str, port: int) -> bool:
    """Whether sshd itself greets on the published port (RunPod publishes it before the container listens)."""
    import socket

    try:
        with socket.create_connection((host, port), timeout=5) as conn:
            conn.settimeout(5)
            return conn.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def crash_loop_diagnosis(client: Any, pod_id: str, restarts: int) -> str:
    """The one-line crash-loop message, with the cause read from the pod's log (v2 SSE)."""
    from infra.errors import ProviderError
    from infra.targets.runpod.crashloop import crash_loop_message
    from infra.validate.diagnosis import diagnose

    try:
        lines = [entry.line for entry in client.pod_logs(pod_id, tail=500)]
    except ProviderError:
        lines = []
    last = next((line.strip() for line in reversed(lines) if line.strip()), None)
    return crash_loop_message(pod_id, restarts, diagnose(lines), last)


def _log_hint(client: Any, pod_id: str) -> str:
    from infra.errors import ProviderError
    from infra.validate.diagnosis import diagnose

    try:
        lines = [entry.line for entry in client.pod_logs(pod_id, tail=200)]
    except ProviderError:
        return "; see its logs on RunPod"
    diagnosis = diagnose(lines)
    if diagnosis is not None:
        return f": {diagnosis.one_line()}"
    last = next((line.strip() for line in reversed(lines) if line.strip()), None)
    return f" (last log line: {last[:200]})" if last else "; its log is empty"


class WeightPrefillProvider(ResourceProvider):
    """Fills the cache volume on a CPU pod over SSH, then terminates the pod; skips a complete copy."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        from infra.targets.runpod.prefill import run_prefill

        result = run_prefill(props)
        return CreateResult(f"prefill-{props['volume_id']}-{result['commit'][:12]}", {**props, **result})

    def diff(self, id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = _changed(olds, news, ("volume_id", "repo_id", "revision"))
        return DiffResult(changes=bool(replaces), replaces=replaces, delete_before_replace=True)

    def delete(self, id: str, props: dict[str, Any]) -> None:
        # The pre-fill pod is gone by the time create returns; the weights stay with the volume.
        return None


class GeneratedSecretProvider(ResourceProvider):
    """A random secret (vLLM API key) generated once and kept in the state as a Pulumi secret."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        value = token_source.token_urlsafe(int(props.get("bytes", 32)))
        return CreateResult(f"secret-{token_source.token_hex(4)}", {**props, "value": value})

    def diff(self, id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return DiffResult(changes=False)


class SshKeyProvider(ResourceProvider):
    """An ed25519 key pair for the stack's pods; the private half is a Pulumi secret."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        from infra.ssh import generate_keypair

        private, public = generate_keypair(f"deepseek-v4-infra {props['stack']}")
        return CreateResult(
            f"sshkey-{token_source.token_hex(4)}", {**props, "private_key": private, "public_key": public}
        )

    def diff(self, id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return DiffResult(changes=False)


def state_dir(stack: str) -> Path:
    """Per-stack local state (SSH known_hosts, pre-fill progress), created on first use."""
    from infra.workspace import state_root

    path = state_root() / stack
    path.mkdir(parents=True, exist_ok=True)
    return path
