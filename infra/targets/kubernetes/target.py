"""The Kubernetes side of the lifecycle `Target`: the stack's objects, read and removed through kubectl.

kubectl is the client (it speaks every kubeconfig auth: certificates, tokens, exec plugins for EKS and
GKE). The GPU preflight reads the engine pod's node from the API: its GPU product label (GPU feature
discovery) and its allocatable GPUs; engine health reads the pod's status, events and logs; the API and
load checks go through `kubectl port-forward` to the stack's Service. What is billed is every object
labelled `app.kubernetes.io/part-of=deepseek-v4-infra,app.kubernetes.io/instance=<stack>`.

In a rehearsal kwok runs no containers: the checks go to a stand-in engine that the rehearsal's
`local_engines` (infra.targets.base.StandIns) starts locally from the Deployment's own command, args and env.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from infra.catalog import load_catalog
from infra.errors import NotFoundError, ProviderError, TransientError
from infra.targets.base import (
    Billed,
    Endpoint,
    EngineLaunch,
    LineSource,
    LocalEngine,
    LocalEngines,
    TargetContext,
)
from infra.targets.kubernetes.manifests import (
    API_KEY_KEY,
    API_KEY_SECRET,
    MANAGED_BY,
    PART_OF,
    SERVICE_PORT,
    service_name,
)
from infra.validate.gpu_preflight import GpuExpectation, GpuInfo, check_gpus
from infra.validate.stages import Finding, StageResult

ENGINE_CONTAINER = "vllm"
GPU_RESOURCE = "nvidia.com/gpu"
# GPU feature discovery's labels (NVIDIA gpu-feature-discovery README): product, memory in MiB, count.
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
GPU_MEMORY_LABEL = "nvidia.com/gpu.memory"
# The driver: nvidia.com/cuda.driver-version.full, or nvidia.com/cuda.driver.{major,minor,rev} (older GFD).
# How long the preflight waits for the engine pod to be placed on a node.
SCHEDULE_WAIT_SECONDS = 600.0
# What `billed` lists, as kubectl names them; pods only when nothing owns them (owned ones go with their owner).
KINDS: dict[str, str] = {
    "Namespace": "namespaces",
    "Deployment": "deployments.apps",
    "Job": "jobs.batch",
    "Service": "services",
    "ConfigMap": "configmaps",
    "Secret": "secrets",
    "PersistentVolumeClaim": "persistentvolumeclaims",
    "NetworkPolicy": "networkpolicies.networking.k8s.io",
    "ServiceAccount": "serviceaccounts",
    "Role": "roles.rbac.authorization.k8s.io",
    "RoleBinding": "rolebindings.rbac.authorization.k8s.io",
    "Pod": "pods",
}
# CRDs a stack may use; a cluster without them simply has none.
OPTIONAL_KINDS: dict[str, str] = {"NodePool": "nodepools.karpenter.sh"}
# Kept between runs with the weight cache (keepCache): the PVC and the namespace that holds it.
CACHE_KINDS = ("PersistentVolumeClaim", "Namespace")
_TRANSIENT = re.compile(
    r"connection refused|i/o timeout|timed out|TLS handshake timeout|ServiceUnavailable|TooManyRequests"
    r"|the server is currently unable|etcdserver|EOF",
    re.IGNORECASE,
)


def _driver_version(labels: Mapping[str, str]) -> str | None:
    """The driver version GPU feature discovery labels the node with (full, or major.minor.rev)."""
    full = labels.get("nvidia.com/cuda.driver-version.full")
    if full:
        return full
    parts = [labels.get(f"nvidia.com/cuda.driver.{p}") for p in ("major", "minor", "rev")]
    return ".".join(p for p in parts if p) if parts[0] else None


class Kubectl:
    """kubectl with the stack's kubeconfig and context; errors become one-line ProviderErrors."""

    def __init__(self, env: Mapping[str, str], context: str | None) -> None:
        from infra.targets.kubernetes.cluster_check import kubectl_binary

        self.binary = kubectl_binary()
        self.env = dict(env)
        self.context = context

    def argv(self, *args: str) -> list[str]:
        return [self.binary, *([f"--context={self.context}"] if self.context else []), *args]

    def __call__(self, *args: str, timeout: float = 120.0) -> str:
        try:
            done = subprocess.run(
                self.argv(*args), capture_output=True, text=True, timeout=timeout, env=self.env
            )
        except subprocess.TimeoutExpired:
            raise TransientError(
                f"kubectl {args[0]} timed out after {timeout:.0f} s", provider="kubernetes"
            ) from None
        if done.returncode != 0:
            line = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
            what = f"kubectl {' '.join(a for a in args[:3] if not a.startswith('-'))}: {line}"
            if "NotFound" in line or "not found" in line:
                raise NotFoundError(what, provider="kubernetes")
            cls = TransientError if _TRANSIENT.search(line) else ProviderError
            raise cls(what, provider="kubernetes")
        return done.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "-o", "json"))


@dataclass
class PortForward:
    """`kubectl port-forward` to the stack's Service on a fixed local port, restarted whenever it ends
    (the engine pod not running yet, or replaced), until closed."""

    kubectl: Kubectl
    namespace: str
    service: str
    port: int = field(default_factory=lambda: _free_port())
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class EnginePod:
    """The engine pod as its status says (None fields while it is not scheduled or not started)."""

    name: str
    node: str | None
    phase: str
    restarts: int
    waiting: str | None
    terminated: str | None
    gpus: int

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> EnginePod:
        spec, status = item.get("spec") or {}, item.get("status") or {}
        container: Mapping[str, Any] = next(
            (c for c in spec.get("containers") or [] if c.get("name") == ENGINE_CONTAINER), {}
        )
        limits = (container.get("resources") or {}).get("limits") or {}
        state: Mapping[str, Any] = next(
            (s for s in status.get("containerStatuses") or [] if s.get("name") == ENGINE_CONTAINER), {}
        )
        current = state.get("state") or {}
        last = (state.get("lastState") or {}).get("terminated")
        ended = current.get("terminated") or last
        return cls(
            name=str(item["metadata"]["name"]),
            node=spec.get("nodeName"),
            phase=str(status.get("phase") or "Pending"),
            restarts=int(state.get("restartCount") or 0),
            waiting=(current.get("waiting") or {}).get("reason"),
            terminated=None
            if not ended
            else f"{ended.get('reason') or 'exited'} (exit code {ended.get('exitCode', '?')})",
            gpus=int(limits.get(GPU_RESOURCE) or 0),
        )

    @property
    def dead(self) -> bool:
        """The engine stopped: it exited or crashed (vLLM's start failures repeat; a restart is no cure)."""
        return (
            self.phase in ("Failed", "Succeeded")
            or self.terminated is not None
            or (
                self.waiting
                in ("CrashLoopBackOff", "ErrImagePull", "ImagePullBackOff", "CreateContainerConfigError")
            )
        )


class PodLogs:
    """New lines of the engine pod's log and its Warning events (`event Reason: message`)."""

    def __init__(self, target: KubernetesTarget) -> None:
        self.target = target
        self.seen_lines: dict[str, int] = {}
        self.seen_events: set[str] = set()

    def read_new(self) -> list[str]:
        lines = self._events()
        pod = self.target.engine_pod()
        if pod is None or pod.phase == "Pending":
            return lines
        kubectl, ns = self.target.kubectl, self.target.namespace
        for previous in ([True] if pod.restarts else []) + [False]:
            key = f"{pod.name}/{pod.restarts - 1 if previous else pod.restarts}"
            try:
                text = kubectl(
                    "logs", "-n", ns, pod.name, "-c", ENGINE_CONTAINER, *(["--previous"] if previous else [])
                )
            except ProviderError:
                continue  # not started yet, or the runtime kept no log
            all_lines = text.splitlines()
            lines += all_lines[self.seen_lines.get(key, 0) :]
            self.seen_lines[key] = len(all_lines)
        return lines

    def _events(self) -> list[str]:
        try:
            found = self.target.kubectl.json(
                "get", "events", "-n", self.target.namespace, "--field-selector", "type=Warning"
            )
        except ProviderError:
            return []
        lines = []
        for event in found.get("items") or []:
            uid = str(event["metadata"].get("uid"))
            involved = (event.get("involvedObject") or {}).get("name", "")
            if uid in self.seen_events or not str(involved).startswith(self.target.deployment_name):
                continue
            self.seen_events.add(uid)
            lines.append(f"event {event.get('reason')}: {' '.join(str(event.get('message', '')).split())}")
        return lines


@dataclass
class KubeShell:
    """The 'shell' of a Kubernetes stack: its namespace through the API, and the port-forward to it."""

    forward: PortForward | None


class KubernetesTarget:
    """One stack on a Kubernetes cluster, as the lifecycle sees it."""

    up_steps = "namespace, weight cache, download Job, engine Deployment (awaited)"

    def __init__(self, context: TargetContext) -> None:
        self.context = context
        # In a rehearsal: where the stand-in engine runs, since kwok runs no containers.
        self.stand_ins: LocalEngines | None = context.rehearsal.local_engines if context.rehearsal else None
        self._stand_in: LocalEngine | None = None
        self._forward: PortForward | None = None
        self.schedule_wait_seconds = SCHEDULE_WAIT_SECONDS
        self.namespace = context.spec.namespace
        self.deployment_name = service_name(context.plan)
        self.kube_context = context.stack_config.get("kubernetes:context") or None
        self.provider = f"the cluster (context {self.kube_context})" if self.kube_context else "the cluster"

    @functools.cached_property
    def kubectl(self) -> Kubectl:
        return Kubectl(self.context.env, self.kube_context)

    def progress_line(self) -> str | None:
        return None

    # ---- the serving pod --------------------------------------------------------------------------------

    def engine_pod(self) -> EnginePod | None:
        selector = f"app.kubernetes.io/instance={self.context.spec.stack},app.kubernetes.io/component=server"
        found = self.kubectl.json("get", "pods", "-n", self.namespace, "-l", selector)
        pods = [
            EnginePod.from_api(p)
            for p in found.get("items") or []
            if not p["metadata"].get("deletionTimestamp")
        ]
        return pods[0] if pods else None

    @contextlib.contextmanager
    def shell(self, outputs: Mapping[str, Any]) -> Iterator[KubeShell]:
        if self.stand_ins is not None:
            with self.stand_ins.run(self._stand_in_launch(outputs)) as engine:
                self._stand_in = engine
                try:
                    yield KubeShell(forward=None)
                finally:
                    self._stand_in = None
            return
        self._forward = PortForward(self.kubectl, self.namespace, self.deployment_name).start()
        try:
            yield KubeShell(forward=self._forward)
        finally:
            self._forward.close()
            self._forward = None

    def endpoint(self, outputs: Mapping[str, Any]) -> Endpoint:
        api_key = str(outputs.get("api_key") or self._api_key())
        if self.stand_ins is not None:
            assert self._stand_in is not None, "the stand-in engine runs inside shell()"
            return Endpoint(self._stand_in.url, api_key)
        assert self._forward is not None, "the endpoint is reached through shell()'s port-forward"
        return Endpoint(self._forward.url, api_key)

    def _stand_in_launch(self, outputs: Mapping[str, Any]) -> EngineLaunch:
        """The engine as the Deployment the API server holds describes it, for the rehearsal's stand-in."""
        deployment = self.kubectl.json("get", "deployment", self.deployment_name, "-n", self.namespace)
        spec = deployment["spec"]["template"]["spec"]
        container = next(c for c in spec["containers"] if c["name"] == ENGINE_CONTAINER)
        pod = self.engine_pod()
        product = "NVIDIA-" + self.context.plan.gpu
        if pod is not None and pod.node:
            node = self.kubectl.json("get", "node", pod.node)
            product = node["metadata"]["labels"].get(GPU_PRODUCT_LABEL, product)
        return EngineLaunch(
            argv=(*container.get("command", [])[1:], *container.get("args", [])),
            env={e["name"]: e["value"] for e in container.get("env") or [] if "value" in e},
            image=container["image"],
            gpu_type=product.replace("-", " "),
            gpu_count=pod.gpus if pod is not None else self.context.plan.gpu_count,
            port=int(container["ports"][0]["containerPort"]),
            api_key=str(outputs.get("api_key") or self._api_key()),
        )

    def _api_key(self) -> str:
        import base64

        secret = self.kubectl.json("get", "secret", API_KEY_SECRET, "-n", self.namespace)
        return base64.b64decode(secret["data"][API_KEY_KEY]).decode()

    def gpu_preflight(self, shell: KubeShell, outputs: Mapping[str, Any]) -> StageResult:
        """The engine pod's node through the API: GPU product label and allocatable GPUs, against the plan."""
        started = time.monotonic()
        plan = self.context.plan
        gpu = load_catalog().gpu(plan.gpu)
        deadline = started + self.schedule_wait_seconds
        pod = self.engine_pod()
        while (pod is None or pod.node is None) and time.monotonic() < deadline:
            time.sleep(2.0)
            pod = self.engine_pod()
        if pod is None or pod.node is None:
            why = self._scheduling_event() or "no engine pod was placed on a node"
            return StageResult("gpu-preflight", False, time.monotonic() - started, why, {})
        node = self.kubectl.json("get", "node", pod.node)
        labels = node["metadata"].get("labels") or {}
        allocatable = int((node.get("status") or {}).get("allocatable", {}).get(GPU_RESOURCE) or 0)
        product = labels.get(GPU_PRODUCT_LABEL)
        memory = labels.get(GPU_MEMORY_LABEL)
        details: dict[str, object] = {
            "node": pod.node,
            "product_label": product,
            "allocatable_gpus": allocatable,
            "pod_gpus": pod.gpus,
            "memory_label_mib": memory,
        }
        findings: list[Finding] = []
        if product is None:
            findings.append(
                Finding(
                    "driver",
                    f"node {pod.node} has no {GPU_PRODUCT_LABEL} label (is GPU feature discovery running?)",
                )
            )
        if allocatable < plan.gpu_count:
            findings.append(
                Finding(
                    "count",
                    f"node {pod.node} offers {allocatable} allocatable {GPU_RESOURCE}; the plan needs {plan.gpu_count}",
                )
            )
        if product is not None:
            # The label is the product name with dashes: NVIDIA-H200 is "NVIDIA H200".
            driver = _driver_version(labels)
            size = int(memory) if memory and memory.isdigit() else gpu.memory_mib
            gpus = [GpuInfo(i, product.replace("-", " "), size, driver, None) for i in range(pod.gpus)]
            found = check_gpus(gpus, GpuExpectation(gpu.product_name, plan.gpu_count, gpu.memory_mib))
            # Without GFD's driver labels the device plugin's allocatable GPUs are the driver's evidence.
            findings += [f for f in found if f.check != "driver" or driver is not None]
            details["gpus"] = [asdict(g) for g in gpus]
            details["driver_version"] = driver
        details["findings"] = [f.message for f in findings]
        seconds = time.monotonic() - started
        if findings:
            more = f" (+{len(findings) - 1} more)" if len(findings) > 1 else ""
            return StageResult("gpu-preflight", False, seconds, findings[0].message + more, details)
        memory_note = f", {memory} MiB each" if memory else " (memory not labelled by the node)"
        memory_note += f", driver {details['driver_version']}" if details.get("driver_version") else ""
        return StageResult(
            "gpu-preflight",
            True,
            seconds,
            f"node {pod.node}: {pod.gpus}x {product}{memory_note}, {allocatable} allocatable",
            details,
        )

    def _scheduling_event(self) -> str | None:
        lines = [line for line in PodLogs(self)._events() if "FailedScheduling" in line]
        return lines[-1] if lines else None

    def logs(self, shell: KubeShell, outputs: Mapping[str, Any]) -> LineSource:
        if self.stand_ins is not None:
            assert self._stand_in is not None, "the stand-in engine runs inside shell()"
            return self._stand_in.log()
        return PodLogs(self)

    def alive(self, outputs: Mapping[str, Any]) -> bool:
        pod = self.engine_pod()
        if pod is None or pod.dead:
            return False
        return self.stand_ins is None or (self._stand_in is not None and self._stand_in.alive())

    # ---- what is billed, and removing it -----------------------------------------------------------------

    def billed(self, stack: str, include_cache: bool) -> list[Billed]:
        selector = f"app.kubernetes.io/part-of={PART_OF},app.kubernetes.io/instance={stack}"
        items = list(
            self.kubectl.json("get", ",".join(KINDS.values()), "-A", "-l", selector).get("items") or []
        )
        for kind in OPTIONAL_KINDS.values():
            with contextlib.suppress(ProviderError):
                items += self.kubectl.json("get", kind, "-A", "-l", selector).get("items") or []
        found = []
        for item in items:
            meta = item["metadata"]
            if (item["kind"] == "Pod" and meta.get("ownerReferences")) or meta.get("deletionTimestamp"):
                continue  # goes with its owner, or is already on its way out
            if (meta.get("labels") or {}).get("app.kubernetes.io/managed-by") not in (MANAGED_BY, None):
                continue
            namespace = meta.get("namespace")
            rid = f"{namespace}/{meta['name']}" if namespace else str(meta["name"])
            cache = item["kind"] in CACHE_KINDS and self.context.spec.keep_cache
            if include_cache or not cache:
                found.append(Billed(item["kind"], rid, str(meta["name"]), cache=cache))
        return found

    def contract_check(self, max_age_days: float, say: Callable[[str], None]) -> StageResult | None:
        # The cluster is the user's own: its API is the published Kubernetes one, checked by every apply.
        return None

    def remove(self, item: Billed) -> None:
        kind = KINDS.get(item.kind) or OPTIONAL_KINDS.get(item.kind) or item.kind
        namespace, _, name = item.id.rpartition("/")
        where = ["-n", namespace] if namespace else []
        self.kubectl("delete", kind, name, *where, "--ignore-not-found", "--wait=false")
