"""The RunPod side of the lifecycle `Target`: the one place outside the Pulumi program that calls RunPod.

`RunPodStack` holds what both stack shapes share: the client, what is billed (every pod, Instant
Cluster and network volume whose name says it belongs to the stack, `naming`), removal, the canary,
and SSH to a pod with its host keys pinned from the pod's log first. `RunPodTarget` is a single-pod
stack; `RunPodClusterTarget` (cluster_target.py) an Instant Cluster's. The registry in
infra/targets/__init__.py picks one by the plan's node count. Both read the stack's exports with
props.py's dataclasses.
"""

from __future__ import annotations

import abc
import contextlib
import functools
import os
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

from infra.catalog import load_catalog
from infra.errors import NotFoundError, V4InfraError
from infra.ssh import SshConnectError, SshError, SshSession, SshTarget, pod_known_hosts
from infra.targets.base import Billed, Endpoint, LineSource, ServingMachine, TargetContext
from infra.targets.runpod import canary, host_keys, naming
from infra.targets.runpod.client import BILLING_ROUTES, RunPodClient
from infra.targets.runpod.component import DEFAULT_DATA_CENTER
from infra.targets.runpod.crashloop import RestartWatch
from infra.targets.runpod.prefill import PROGRESS_FILE, ProgressFile, filler_source
from infra.targets.runpod.props import PodStackOutputs
from infra.targets.runpod.types import RunPodSettings
from infra.validate.engine_health import LogSource
from infra.validate.gpu_preflight import GpuExpectation, GpuPreflight
from infra.validate.machine import ShellMachine
from infra.validate.stages import StageResult
from infra.workspace import state_root

FILLER_ON_POD = "/tmp/v4infra-weights.py"
# HF_HOME on the weight-cache volume (templates/runpod: the engine serves from it).
CACHE_HF_HOME = "/workspace/hf"
# sshd comes up a little after RunPod reports the pod running.
SSH_RETRIES, SSH_DELAY = 20, 1.0


class RunPodStack(abc.ABC):
    """One stack on RunPod, as the lifecycle sees it, whatever its shape (see the two below)."""

    provider = "RunPod"
    up_steps = "volume, weight pre-fill on a CPU pod, GPU pod start"

    def __init__(self, context: TargetContext) -> None:
        self.context = context

    @functools.cached_property
    def client(self) -> RunPodClient:
        # A rehearsal's emulator lives in the workspace's environment, not this process's.
        env = {**os.environ, **self.context.env}
        # The key from the stack's secret config wins; the environment's is the fallback.
        return RunPodClient(RunPodSettings.from_env(self.context.credentials.runpod_api_key, env))

    @functools.cached_property
    def names(self) -> naming.StackIdentity:
        """This stack's identity: its resources are those whose names carry its digest, exactly."""
        return naming.for_stack(
            self.context.spec.stack, backend=self.context.env.get("PULUMI_BACKEND_URL", "")
        )

    def progress_line(self) -> str | None:
        # The pre-fill provider writes its progress to the stack's state dir (prefill.ProgressFile).
        event = ProgressFile(self.context.state_dir / PROGRESS_FILE).read()
        if not event or event.get("event") != "progress" or not event.get("total"):
            return None
        return f"weight pre-fill on a CPU pod: {event['bytes'] / 1e9:,.2f} of {event['total'] / 1e9:,.2f} GB"

    def endpoint(self, outputs: Mapping[str, Any]) -> Endpoint:
        exports = PodStackOutputs.from_props(outputs)
        return Endpoint(exports.endpoint, exports.vllm_api_key)

    @contextlib.contextmanager
    def shell(self, outputs: Mapping[str, Any]) -> Iterator[SshSession]:
        """An SSH session on the serving pod (a cluster's leader), with the cache checker uploaded."""
        exports = PodStackOutputs.from_props(outputs)
        if exports.ssh_host is None or exports.ssh_port is None:
            raise SshError(
                f"pod {exports.pod_id} publishes no SSH port (startCommand: plain runs no sshd); "
                "its checks that need a shell cannot run",
            )
        address = SshTarget(exports.ssh_host, exports.ssh_port)
        with self.pod_shell(exports.pod_id, address, exports.ssh_private_key, outputs) as ssh:
            yield ssh

    @contextlib.contextmanager
    def pod_shell(
        self, pod_id: str, address: SshTarget, private_key: str, outputs: Mapping[str, Any]
    ) -> Iterator[SshSession]:
        """An SSH session on one pod of the stack (the serving pod, or any member of its cluster).

        Its host keys are pinned from the pod's log before the first contact; a server whose key
        differs, or a pod that printed none, is refused (never trusted on first use).
        """
        # One known_hosts per pod: a new pod on a reused address starts clean, a changed key on the same pod is refused.
        known_hosts = pod_known_hosts(self.context.state_dir, pod_id)
        host_keys.pin_from_log(self.client, pod_id, address, known_hosts)
        session = SshSession(address, private_key, known_hosts)

        def stop_if_dead(attempt: int, error: SshConnectError) -> None:
            # A dead pod fails at once on its status, not after minutes of SSH retries.
            if not self.alive(outputs):
                raise SshConnectError(
                    f"pod {pod_id} stopped before its SSH port answered ({error})",
                    host=address.host,
                    port=address.port,
                    attempts=attempt,
                )

        with session.connect(retries=SSH_RETRIES, delay=SSH_DELAY, on_retry=stop_if_dead) as ssh:
            ssh.run(["bash", "-c", f"cat > {FILLER_ON_POD}"], stdin=filler_source())
            yield ssh

    @abc.abstractmethod
    def alive(self, outputs: Mapping[str, Any]) -> bool:
        """False once what serves (the pod, or any member of the cluster) died, restarted or vanished."""

    @abc.abstractmethod
    def gpu_preflight(self, shell: SshSession, outputs: Mapping[str, Any]) -> StageResult:
        """nvidia-smi, df and the weight-cache check against the plan, on every node that serves."""

    def preflight(self) -> GpuPreflight:
        """The checks one node passes: the plan's GPUs per node, the cache mounted and complete."""
        plan = self.context.plan
        gpu = load_catalog().gpu(plan.gpu)
        return GpuPreflight(
            GpuExpectation(gpu.product_name, plan.gpu_count, gpu.memory_mib),
            cache_path="/workspace",
            cache_check=[
                "python3",
                FILLER_ON_POD,
                "check",
                "--offline",
                "--cache-dir",
                CACHE_HF_HOME,
                "--repo",
                plan.model,
            ],
        )

    def machine(self, shell: SshSession, outputs: Mapping[str, Any]) -> ServingMachine:
        # The serving pod's shell; its weight cache (HF_HOME) holds the dataset beside the checkpoint.
        return ShellMachine(shell, CACHE_HF_HOME)

    def image_id(self, outputs: Mapping[str, Any]) -> str | None:
        # RunPod's v2 pod object names the image, not its digest (shared/reference/runpod-rest-v2-openapi.json).
        return None

    def logs(self, shell: SshSession, outputs: Mapping[str, Any]) -> LineSource:
        # The start script writes the engine's output here (templates/runpod/start-gpu.sh.j2).
        return LogSource(shell, f"/workspace/logs/{PodStackOutputs.from_props(outputs).pod_name}/engine.log")

    def billed(self, stack: str, include_cache: bool) -> list[Billed]:
        found = [
            Billed("pod", pod.id, pod.name)
            for pod in self.client.list_pods(naming.PREFIX)
            if self.names.owns(pod.name)
        ]
        # A cluster is billed as a whole (its members are hidden from GET /v2/pods) and removed as one.
        found += [
            Billed("cluster", cluster.id, cluster.name)
            for cluster in self.client.list_clusters(naming.PREFIX)
            if self.names.owns(cluster.name)
        ]
        for volume in self.client.list_volumes():
            if not self.names.owns(volume.name):
                continue
            parts = naming.parse_name(volume.name)
            cache = parts is not None and parts.kind == "cache"
            if include_cache or not cache:
                found.append(Billed("volume", volume.id, volume.name, cache=cache))
        return found

    def read_rates(self, outputs: Mapping[str, Any]) -> tuple[str, ...]:
        # The pre-fill's CPU pod measured them and its provider returned them as an output.
        return tuple(str(line) for line in outputs.get("read_rates") or ())

    def run_cost(self, outputs: Mapping[str, Any], since: datetime) -> tuple[float, str] | None:
        """The run's bill from RunPod's billing API: the GPU pod (or cluster), the pre-fill's CPU pod and
        the weight volume's storage, in hourly buckets since the run began; None when RunPod does not answer."""
        parts = [
            ("cluster", outputs.get("cluster_id"))
            if outputs.get("cluster_id")
            else ("pod", outputs.get("pod_id")),
            ("pod", outputs.get("prefill_pod_id")),
            ("network volume", outputs.get("volume_id")),
        ]
        try:
            usd = sum(self.client.billed_usd(kind, str(rid), since) for kind, rid in parts if rid)
        except V4InfraError:
            return None
        routes = sorted({BILLING_ROUTES[kind][0] for kind, rid in parts if rid})
        return round(usd, 4), f"RunPod billing API ({', '.join('/v2' + r for r in routes)}, hourly buckets)"

    def contract_check(self, max_age_days: float, say: Callable[[str], None]) -> StageResult | None:
        """The canary, unless it passed on this account, API and project version within `max_age_days`."""
        started = time.monotonic()
        key = self.client.settings.api_key
        rehearsal = self.context.rehearsal is not None
        record = (
            None if rehearsal or max_age_days <= 0 else canary.fresh_pass(state_root(), key, max_age_days)
        )
        if record is not None:
            reason = f"passed on {record['at']} on this account (within {max_age_days:g} days): not run again"
            return StageResult("canary", True, time.monotonic() - started, reason, {"record": record})
        spec = self.context.spec
        data_centers = list(spec.data_centers) or [DEFAULT_DATA_CENTER]
        gpus = [load_catalog().gpu(g).runpod_id for g in (spec.gpu, *spec.gpu_fallbacks)]
        say(
            f"canary: checking RunPod's behaviour on this account with a CPU pod in {data_centers[0]} (about a cent)"
        )
        report = canary.Canary(
            self.client, data_centers, gpus, self.context.plan.gpu_count, on_line=say
        ).run()
        if not rehearsal:
            canary.write_record(state_root(), key, report)
        details = {
            "checks": [c.line() for c in report.checks],
            "usd": report.usd,
            "leftover": report.leftover,
        }
        return StageResult("canary", report.passed, time.monotonic() - started, report.summary(), details)

    def remove(self, item: Billed) -> None:
        with contextlib.suppress(NotFoundError):
            if item.kind == "pod":
                self.client.terminate_pod(item.id)
            elif item.kind == "cluster":
                self.client.delete_cluster(item.id)
            else:
                self.client.delete_volume(item.id)


class RunPodTarget(RunPodStack):
    """A single-pod stack: the GPU pod serves, and the stack is alive while it runs unrestarted."""

    def __init__(self, context: TargetContext) -> None:
        super().__init__(context)
        # RunPod restarts a crashed container and keeps the pod RUNNING: a younger container is a dead engine.
        self._restarts = RestartWatch()

    def gpu_preflight(self, shell: SshSession, outputs: Mapping[str, Any]) -> StageResult:
        """nvidia-smi, df and the weight-cache check on the pod, against the plan."""
        return self.preflight().run(shell)

    def alive(self, outputs: Mapping[str, Any]) -> bool:
        pod = self.client.get_pod(PodStackOutputs.from_props(outputs).pod_id)
        return pod is not None and pod.status == "RUNNING" and not self._restarts.observe(pod)
