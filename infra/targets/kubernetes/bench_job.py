"""The evaluation's serving machine on Kubernetes: `kubectl exec` in the engine pod, the benchmark in a Job.

The Job runs the engine's own client from the engine image in the stack's namespace, on the engine pod's
node (a ReadWriteOnce cache mounts only there; the tokenizer is read from it, offline), against the
stack's Service, so only the cluster's own network is measured. The API key reaches it from the stack's
Secret as OPENAI_API_KEY, never through the Job's spec. The script prints a marker line and then the
result file, which is read back from the Job's log; the Job is deleted afterwards (and, labelled for
the stack, removed by teardown as a stray if a run is cut short).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from infra.config import StackSpec
from infra.errors import ProviderError, ValidationFailed
from infra.plan import Plan
from infra.ssh import CommandResult
from infra.targets.kubernetes.engine_pods import ENGINE_CONTAINER, GPU_RESOURCE
from infra.targets.kubernetes.manifests import (
    API_KEY_KEY,
    API_KEY_SECRET,
    CACHE_MOUNT,
    CACHE_PVC,
    labels,
    service_name,
)
from infra.validate.benchmark import (
    STAGE,
    BenchResult,
    EngineUnderTest,
    Workload,
    job_script,
    parse_result,
    result_from_log,
)

BENCH_CONTAINER = "bench"
COMPONENT = "benchmark"
# In the Job's container: its own filesystem, nothing shared.
RESULT_DIR = "/tmp/v4infra-bench"
POLL_SECONDS = 5.0
# The finished Job stays this long for `kubectl logs` by hand, unless we delete it first (we do).
KEEP_FINISHED_SECONDS = 3600


def job_name(plan: Plan, workload: Workload) -> str:
    """A DNS-1123 name per workload: `<service>-bench-<slug>`, at most 63 characters."""
    raw = f"{service_name(plan)}-bench-{workload.slug}".lower()
    return re.sub(r"[^a-z0-9-]+", "-", raw)[:63].strip("-")


def bench_job(
    spec: StackSpec, plan: Plan, workload: Workload, target: EngineUnderTest, node: str | None, timeout: float
) -> dict[str, Any]:
    """The Job that runs one workload of the engine's benchmark next to the engine."""
    placement: dict[str, Any] = {
        # The engine's node: its cache volume is mounted there, and it carries the GPU taint.
        "tolerations": [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}],
    }
    if node:
        placement["nodeSelector"] = {"kubernetes.io/hostname": node}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(plan, workload),
            "namespace": spec.namespace,
            "labels": labels(spec, COMPONENT),
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": int(timeout),
            "ttlSecondsAfterFinished": KEEP_FINISHED_SECONDS,
            "template": {
                "metadata": {"labels": labels(spec, COMPONENT)},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    **placement,
                    "containers": [
                        {
                            "name": BENCH_CONTAINER,
                            "image": plan.engine.image,
                            # Values are quoted into the script by shlex (benchmark.job_script).
                            "command": ["bash", "-c", job_script(workload, target)],
                            "env": [
                                {
                                    "name": "OPENAI_API_KEY",
                                    "valueFrom": {
                                        "secretKeyRef": {"name": API_KEY_SECRET, "key": API_KEY_KEY}
                                    },
                                }
                            ],
                            "resources": {
                                "requests": {"cpu": "2", "memory": "4Gi"},
                                "limits": {"memory": "16Gi"},
                            },
                            "volumeMounts": [
                                {"name": "model-cache", "mountPath": CACHE_MOUNT, "readOnly": True}
                            ],
                        }
                    ],
                    "volumes": [{"name": "model-cache", "persistentVolumeClaim": {"claimName": CACHE_PVC}}],
                },
            },
        },
    }


class Kubectl(Protocol):
    """The stack's kubectl (infra.targets.kubernetes.target.Kubectl): its argv, its environment, its calls."""

    env: dict[str, str]

    def argv(self, *args: str) -> list[str]: ...

    def __call__(self, *args: str, timeout: float = 120.0) -> str: ...

    def json(self, *args: str) -> Any: ...


@dataclass
class ClusterMachine:
    """`ServingMachine` on a cluster: commands by `kubectl exec` in the engine pod, the benchmark as a Job."""

    kubectl: Kubectl
    spec: StackSpec
    plan: Plan
    pod: str
    node: str | None
    cache_dir: str = CACHE_MOUNT
    result_dir: str = RESULT_DIR

    @property
    def engine_host(self) -> str:
        return f"{service_name(self.plan)}.{self.spec.namespace}.svc"

    def run(
        self, cmd: Sequence[str] | str, timeout: float = 60.0, stdin: bytes | None = None
    ) -> CommandResult:
        words = ["bash", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        argv = self.kubectl.argv(
            "exec", "-i", "-n", self.spec.namespace, self.pod, "-c", ENGINE_CONTAINER, "--", *words
        )
        try:
            done = subprocess.run(
                argv, input=stdin or b"", capture_output=True, timeout=timeout, env=self.kubectl.env
            )
        except subprocess.TimeoutExpired:
            return CommandResult(124, "", f"kubectl exec timed out after {timeout:.0f} s")
        return CommandResult(
            done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")
        )

    def benchmark(
        self, workload: Workload, target: EngineUnderTest, api_key: str, timeout: float
    ) -> tuple[BenchResult, str]:
        """Run the workload as a Job and read its result from the Job's log (the key comes from the Secret)."""
        manifest = bench_job(self.spec, self.plan, workload, target, self.node, timeout)
        name = manifest["metadata"]["name"]
        ns = self.spec.namespace
        self.kubectl("delete", "job", name, "-n", ns, "--ignore-not-found", "--wait=true")
        applied = subprocess.run(
            self.kubectl.argv("apply", "-f", "-"),
            input=json.dumps(manifest).encode(),
            capture_output=True,
            env=self.kubectl.env,
            timeout=120,
        )
        if applied.returncode != 0:
            raise ProviderError(
                f"kubectl apply of Job {name}: {applied.stderr.decode(errors='replace').strip()[-200:]}",
                provider="kubernetes",
            )
        try:
            status = self._wait(name, timeout + 120)
            log = self.kubectl("logs", f"job/{name}", "-n", ns, "-c", BENCH_CONTAINER, timeout=120)
        finally:
            self.kubectl("delete", "job", name, "-n", ns, "--ignore-not-found", "--wait=false")
        raw = result_from_log(log)
        if status != "Complete" or not raw.strip():
            tail = " | ".join(log.strip().splitlines()[-3:]) or "no log"
            raise ValidationFailed(
                f"{STAGE}: the benchmark Job {name} ended {status.lower()}: {tail}", stage=STAGE
            )
        return parse_result(target.engine, raw, workload), raw

    def _wait(self, name: str, timeout: float) -> str:
        """`Complete` or `Failed` as the Job's conditions say, or `timed out` past the deadline."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.kubectl.json("get", "job", name, "-n", self.spec.namespace)
            for condition in (job.get("status") or {}).get("conditions") or []:
                if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
                    return str(condition["type"])
            time.sleep(POLL_SECONDS)
        return "timed out"
