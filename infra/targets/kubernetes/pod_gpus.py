"""An engine pod's GPUs as nvidia-smi in its engine container reports them, through the API server's exec.

On a GPU node the NVIDIA container toolkit puts nvidia-smi and the container's GPUs into the container,
so `kubectl exec POD -c vllm -- nvidia-smi --query-gpu=...` (the query the RunPod preflight runs over SSH)
says what the engine will see: product, memory, count and driver, judged as on RunPod, and the driver
against the image's CUDA floor. A failed exec is one finding naming the pod, its node and the fix.
"""

from __future__ import annotations

import subprocess
from dataclasses import asdict, dataclass, field

from infra.targets.kubernetes.engine_pods import ENGINE_CONTAINER, EnginePod
from infra.targets.kubernetes.kubectl import Kubectl
from infra.validate.gpu_preflight import (
    GPU_QUERY_COMMAND,
    GpuExpectation,
    GpuInfo,
    GpuQueryError,
    check_gpus,
    parse_gpu_query,
)
from infra.validate.stages import Finding

EXEC_TIMEOUT_SECONDS = 60.0
# What a container without nvidia-smi answers: runc/containerd's exec error, or a shell's.
_NOT_FOUND = ("executable file not found", "no such file or directory", "not found in $path")
TOOLKIT_FIX = (
    "the node's NVIDIA container toolkit did not give the container its GPUs: install the NVIDIA GPU "
    "Operator (or the container toolkit as the node's default runtime) on it"
)


@dataclass
class PodGpus:
    """What nvidia-smi in one engine pod listed, and what is wrong with it for the plan."""

    gpus: list[GpuInfo] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    summary: str = ""

    @property
    def details(self) -> list[dict[str, object]]:
        return [asdict(g) for g in self.gpus]


def where(pod: EnginePod) -> str:
    role = "" if pod.worker_index is None else f"{pod.role} "
    return f"{role}pod {pod.name} on node {pod.node}"


def query_pod_gpus(kubectl: Kubectl, namespace: str, pod: EnginePod) -> list[GpuInfo] | Finding:
    """nvidia-smi's GPU list from the pod's engine container, or the one finding that says why not."""
    argv = ["exec", "-n", namespace, pod.name, "-c", ENGINE_CONTAINER, "--", *GPU_QUERY_COMMAND]
    try:
        done = kubectl.run(*argv, timeout=EXEC_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        return Finding(
            "driver",
            f"{where(pod)}: nvidia-smi did not answer within {EXEC_TIMEOUT_SECONDS:.0f} s "
            "(a hung driver or GPU): check the node's GPUs with nvidia-smi on the node",
        )
    if done.returncode != 0:
        return exec_failure(pod, done.returncode, done.stdout, done.stderr)
    try:
        return parse_gpu_query(done.stdout)
    except GpuQueryError as err:
        return Finding("driver", f"{where(pod)}: unreadable nvidia-smi output: {err}")


def exec_failure(pod: EnginePod, status: int, stdout: str, stderr: str) -> Finding:
    """One line for a failed exec: what failed, in which pod and node, and what fixes it."""
    lines = [line.strip() for line in (stdout + "\n" + stderr).splitlines() if line.strip()]
    said = next((line for line in lines if "NVIDIA-SMI has failed" in line), lines[-1] if lines else "")
    said = said.removeprefix("error: ") or f"exit status {status}"
    if any(marker in said.lower() for marker in _NOT_FOUND):
        return Finding(
            "driver", f"{where(pod)}: the engine container has no nvidia-smi ({said}): {TOOLKIT_FIX}"
        )
    if "NVIDIA-SMI has failed" in said:
        return Finding(
            "driver",
            f"{where(pod)}: nvidia-smi cannot reach the GPUs ({said}): check the node's NVIDIA driver "
            "(the GPU Operator's driver pod, or nvidia-smi on the node)",
        )
    return Finding(
        "driver",
        f"{where(pod)}: kubectl exec nvidia-smi failed ({said}); is the engine container running "
        f"(kubectl describe pod {pod.name})?",
    )


def judge_pod_gpus(pod: EnginePod, listed: list[GpuInfo] | Finding, expectation: GpuExpectation) -> PodGpus:
    """The GPUs the engine container sees against the plan; each finding names the pod and node."""
    if isinstance(listed, Finding):
        return PodGpus(findings=[listed], summary="nvidia-smi did not run")
    found = [Finding(f.check, f"{where(pod)}: {f.message}") for f in check_gpus(listed, expectation)]
    counts: dict[str, int] = {}
    for gpu in listed:
        counts[gpu.name] = counts.get(gpu.name, 0) + 1
    seen = ", ".join(f"{n}x {name}" for name, n in counts.items()) or "no GPUs"
    memory = ", ".join(sorted({f"{g.memory_mib} MiB" for g in listed}))
    drivers = ", ".join(sorted({g.driver_version or "unknown" for g in listed}))
    summary = f"nvidia-smi: {seen}" + (f" ({memory} each), driver {drivers}" if listed else "")
    return PodGpus(listed, found, summary)
