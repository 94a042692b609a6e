"""The RunPod side of the lifecycle `Target`: the one place outside the Pulumi program that calls RunPod.

The serving pod is reached over SSH (GPU preflight with nvidia-smi, the engine log file); what is
billed is every pod, Instant Cluster and network volume whose name says it belongs to the stack
(`naming`). On a cluster stack the serving pod is the leader (rank 0); the GPU preflight runs on every
member over SSH and reports each node's GPU facts, and the stack is alive while every member runs.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from infra.catalog import load_catalog
from infra.errors import NotFoundError, ProviderError
from infra.ssh import SshConnectError, SshSession, SshTarget, host_keys_in_log, pin_host_key, pod_known_hosts
from infra.targets.base import Billed, Endpoint, LineSource, TargetContext
from infra.targets.runpod import naming
from infra.targets.runpod.client import RunPodClient, RunPodSettings
from infra.targets.runpod.component import DEFAULT_DATA_CENTER
from infra.targets.runpod.crashloop import RestartWatch
from infra.targets.runpod.prefill import PROGRESS_FILE, ProgressFile, filler_source
from infra.validate.engine_health import LogSource
from infra.validate.gpu_preflight import GpuExpectation, GpuPreflight
from infra.validate.stages import StageResult

FILLER_ON_POD = "/tmp/v4infra-weights.py"
# sshd comes up a little after RunPod reports the pod running.
SSH_RETRIES, SSH_DELAY = 20, 1.0


class RunPodTarget:
    """One stack on RunPod, as the lifecycle sees it."""

    provider = "RunPod"

    def __init__(self, context: TargetContext) -> None:
        self.context = context
        nodes = context.plan.nodes
        last = f"Instant Cluster of {nodes} GPU pods start" if nodes > 1 else "GPU pod start"
        self.up_steps = f"volume, weight pre-fill on a CPU pod, {last}"
        # RunPod restarts a crashed container and keeps the pod RUNNING: a younger container is a dead engine.
        self._restarts = RestartWatch()
        self._member_restarts: dict[str, RestartWatch] = {}

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
        return Endpoint(str(outputs["endpoint"]), str(outputs["vllm_api_key"]))

    @contextlib.contextmanager
    def shell(self, outputs: Mapping[str, Any]) -> Iterator[SshSession]:
        """An SSH session on the GPU pod (a cluster's leader), with the cache checker uploaded."""
        address = SshTarget(str(outputs["ssh_host"]), int(outputs["ssh_port"]))
        with self.pod_shell(str(outputs["pod_id"]), address, outputs) as ssh:
            yield ssh

    @contextlib.contextmanager
    def pod_shell(self, pod_id: str, target: SshTarget, outputs: Mapping[str, Any]) -> Iterator[SshSession]:
        """An SSH session on one pod of the stack (the serving pod, or any member of its cluster)."""
        # One known_hosts per pod: a new pod on a reused address starts clean, a changed key on the same pod is refused.
        known_hosts = pod_known_hosts(self.context.state_dir, pod_id)
        self._pin_from_log(known_hosts, target, pod_id)
        session = SshSession(target, str(outputs["ssh_private_key"]), known_hosts)

        def stop_if_dead(attempt: int, error: SshConnectError) -> None:
            # A dead pod fails at once on its status, not after minutes of SSH retries.
            if not self.alive(outputs):
                raise SshConnectError(
                    f"pod {pod_id} stopped before its SSH port answered ({error})",
                    host=target.host,
                    port=target.port,
                    attempts=attempt,
                )

        with session.connect(retries=SSH_RETRIES, delay=SSH_DELAY, on_retry=stop_if_dead) as ssh:
            ssh.run(["bash", "-c", f"cat > {FILLER_ON_POD}"], stdin=filler_source())
            yield ssh

    def gpu_preflight(self, shell: SshSession, outputs: Mapping[str, Any]) -> StageResult:
        """nvidia-smi, df and the weight-cache check on the pod (on every member of a cluster), against the plan."""
        if outputs.get("cluster_id"):
            from infra.targets.runpod.cluster_target import cluster_preflight

            return cluster_preflight(self, shell, outputs)
        return self.preflight().run(shell)

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
                "/workspace/hf",
                "--repo",
                plan.model,
            ],
        )

    def logs(self, shell: SshSession, outputs: Mapping[str, Any]) -> LineSource:
        # The start script writes the engine's output here (templates/runpod/start-gpu.sh.j2).
        return LogSource(shell, f"/workspace/logs/{outputs['pod_name']}/engine.log")

    def _pin_from_log(self, known_hosts: Any, target: SshTarget, pod_id: str) -> None:
        """The start script prints the pod's host keys into its log (v2 streams it): pin them before first contact."""
        try:
            lines = [
                entry.line
                for entry in self.client.pod_logs(pod_id, tail=400, idle_seconds=0.5, max_seconds=5)
            ]
        except ProviderError:
            return  # no log stream: trust on first use, then pinned
        for key in host_keys_in_log(lines):
            pin_host_key(known_hosts, target, key)

    def alive(self, outputs: Mapping[str, Any]) -> bool:
        if outputs.get("cluster_id"):
            from infra.targets.runpod.cluster_target import cluster_alive

            return cluster_alive(self.client, str(outputs["cluster_id"]), self._member_restarts)
        pod = self.client.get_pod(str(outputs["pod_id"]))
        return pod is not None and pod.status == "RUNNING" and not self._restarts.observe(pod)

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

    def contract_check(self, max_age_days: float, say: Callable[[str], None]) -> StageResult | None:
        """The canary, unless it passed on this account, API and project version within `max_age_days`."""
        from infra.targets.runpod import canary
        from infra.workspace import state_root

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
