"""Host keys pinned from the pod's RunPod log before the first SSH contact, on every path; never TOFU.

The impostor: RunPod's log shows the key the pod printed, but what answers on the published port
presents another one (here the log is made to show an impostor's key, which is the same mismatch
seen from the client). On each path (the pre-fill's CPU pod, the GPU pod, a cluster member) the
session is refused before any command runs; after a refused pre-fill nothing else is rented.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sshd import SshServer

from infra.config import load_stack
from infra.emulator import Emulator
from infra.emulator.hub import FakeHub
from infra.errors import CarriedError, ProviderError, rebuilt
from infra.planner import PlanRequest, plan
from infra.ssh import (
    HostKeyChangedError,
    HostKeyNotPinnedError,
    SshSession,
    SshTarget,
    generate_keypair,
    pod_known_hosts,
)
from infra.targets import open_target
from infra.targets.base import Credentials, TargetContext
from infra.targets.runpod import host_keys, naming, providers, runtime
from infra.targets.runpod.client import RunPodClient
from infra.targets.runpod.cluster_providers import ClusterProvider
from infra.targets.runpod.cluster_target import RunPodClusterTarget
from infra.targets.runpod.props import ClusterStackOutputs, PodStackOutputs
from infra.targets.runpod.start_script import (
    cluster_start_script,
    cpu_start_script,
    gpu_start_script,
    json_start_command,
)
from infra.targets.runpod.target import RunPodTarget
from infra.targets.runpod.types import LogLine

REPO = "deepseek-ai/DeepSeek-V4-Flash"
HF_TOKEN = "hf_HOSTKEYtestTOKEN"
IMPOSTOR_KEY = generate_keypair("impostor")[1]


class ScriptedLogs:
    """`pod_logs` answering from a script of line lists (the last repeats), or raising a ProviderError."""

    def __init__(self, *answers: list[str] | ProviderError) -> None:
        self.answers = list(answers)
        self.reads = 0

    def pod_logs(self, pod_id: str, **_: object) -> list[LogLine]:
        answer = self.answers[min(self.reads, len(self.answers) - 1)]
        self.reads += 1
        if isinstance(answer, ProviderError):
            raise answer
        return [LogLine("", "container", line) for line in answer]


def _target(server: SshServer) -> SshTarget:
    return SshTarget(server.host, server.port, server.user)


def _printed(server: SshServer) -> str:
    """The line a pod's start script prints for this server's key."""
    return "v4infra-hostkey: " + Path(f"{server.host_key_path}.pub").read_text().strip()


def test_the_key_the_pod_printed_is_pinned_and_the_session_runs(
    sshd_server: SshServer, tmp_path: Path
) -> None:
    known_hosts = pod_known_hosts(tmp_path, "pod_abc")
    logs = ScriptedLogs(["starting", _printed(sshd_server), "sshd up"])
    fingerprints = host_keys.pin_from_log(logs, "pod_abc", _target(sshd_server), known_hosts)
    assert len(fingerprints) == 1 and fingerprints[0].startswith("SHA256:")
    with SshSession(_target(sshd_server), sshd_server.client_key, known_hosts) as ssh:
        assert ssh.run("true", timeout=60).ok


def test_key_lines_that_arrive_late_are_waited_for(sshd_server: SshServer, tmp_path: Path) -> None:
    waits: list[float] = []
    logs = ScriptedLogs([], ["apt-get ..."], [_printed(sshd_server)])
    known_hosts = pod_known_hosts(tmp_path, "pod_abc")
    host_keys.pin_from_log(logs, "pod_abc", _target(sshd_server), known_hosts, sleep=waits.append)
    assert logs.reads == 3 and waits == [host_keys.POLL_SECONDS] * 2
    assert known_hosts.exists()


@pytest.mark.parametrize(
    "answer", [[], ["v4infra: no keys here"], ProviderError("RunPod read the logs of pod pod_abc: HTTP 502")]
)
def test_no_key_in_the_log_is_waited_on_for_a_bounded_time_then_refused(
    answer: list[str] | ProviderError, tmp_path: Path
) -> None:
    known_hosts = pod_known_hosts(tmp_path, "pod_abc")
    with pytest.raises(HostKeyNotPinnedError) as caught:
        host_keys.pin_from_log(
            ScriptedLogs(answer),
            "pod_abc",
            SshTarget("127.0.0.1", 2222),
            known_hosts,
            wait_seconds=0.0,
            sleep=lambda _: None,
        )
    message = str(caught.value)
    assert message.startswith("pod pod_abc: no SSH host key to pin") and "\n" not in message
    assert "impostor" in message and "v4infra canary" in message, "it names the pod and what to do"
    assert not known_hosts.exists(), "nothing was trusted on first use"


def test_an_impostor_key_in_the_log_is_refused_at_first_contact(
    sshd_server: SshServer, tmp_path: Path
) -> None:
    known_hosts = pod_known_hosts(tmp_path, "pod_abc")
    logs = ScriptedLogs([f"v4infra-hostkey: {IMPOSTOR_KEY}"])
    host_keys.pin_from_log(logs, "pod_abc", _target(sshd_server), known_hosts)
    with pytest.raises(HostKeyChangedError, match="refusing to connect"):
        SshSession(_target(sshd_server), sshd_server.client_key, known_hosts).connect(retries=3, delay=0.01)


# ---- every product path, against the emulator ---------------------------------------------------


def impostor_on(monkeypatch: pytest.MonkeyPatch, chosen: Callable[[str], bool]) -> None:
    """RunPod's log of the chosen pods shows an impostor's host key instead of the one sshd presents."""
    real = RunPodClient.pod_logs

    def shown(self: RunPodClient, pod_id: str, **kwargs: Any) -> list[LogLine]:
        lines = real(self, pod_id, **kwargs)
        if not chosen(pod_id):
            return lines
        swap = f"v4infra-hostkey: {IMPOSTOR_KEY}"
        return [dataclasses.replace(e, line=re.sub(r"v4infra-hostkey:.*", swap, e.line)) for e in lines]

    monkeypatch.setattr(RunPodClient, "pod_logs", shown)


@pytest.fixture
def conn(emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("V4INFRA_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(runtime, "POLL_SECONDS", 0.05)
    monkeypatch.setattr(host_keys, "POLL_SECONDS", 0.05)
    return {
        "api_key": emulator.api_key,
        "api_base_url": emulator.url,
        "proxy_url_template": emulator.proxy_url_template,
    }


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with FakeHub(token=HF_TOKEN) as h:
        h.add_fake_checkpoint(REPO, shards=2, shard_bytes=2048)
        yield h


def test_an_impostor_on_the_prefill_pod_is_refused_and_nothing_is_downloaded_or_left(
    emulator: Emulator, conn: dict[str, Any], hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    private, public = generate_keypair("host-keys")
    names = naming.for_stack("hostkeys", backend="")
    volume = providers.NetworkVolumeProvider().create(
        {
            **conn,
            "name": names.name("cache", "v1"),
            "size_gb": 200,
            "data_center_ids": ["US-TX-3"],
            "placement_gpu_type_ids": ["NVIDIA H200"],
            "placement_gpu_count": 4,
        }
    )
    impostor_on(monkeypatch, lambda _: True)
    prefill = {
        **conn,
        "name": names.name("prefill", "abc123"),
        "stack": "hostkeys",
        "volume_id": volume.id,
        "data_center_id": volume.outs["data_center_id"],
        "repo_id": REPO,
        "revision": "main",
        "cache_dir": "/workspace/hf",
        "image": "python:3.11-slim",
        "args": json_start_command(cpu_start_script(stack="hostkeys", ttl_seconds=None)),
        "hf_token": HF_TOKEN,
        "hf_endpoint": hub.url,
        "private_key": private,
        "public_key": public,
    }
    with pytest.raises(CarriedError) as caught:
        providers.WeightPrefillProvider().create(prefill)
    error = rebuilt(str(caught.value))
    assert isinstance(error, HostKeyChangedError), caught.value
    assert "refusing to connect" in str(error)
    inventory = emulator.inventory()
    assert inventory["pods"] == [], "the CPU pod is terminated"
    assert [p["kind"] for p in inventory["history"]] == ["cpu"], "no GPU was ever rented"
    assert hub.bytes_served(REPO) == 0, "no filler ran: the impostor never saw a command"


def _context(stack: str, emulator: Emulator, state_dir: Path) -> TargetContext:
    spec = load_stack(stack)
    return TargetContext(
        spec=spec,
        plan=plan(spec.plan_request(), spec.catalog),
        env=emulator.env(),
        credentials=Credentials(runpod_api_key=emulator.api_key),
        state_dir=state_dir,
    )


def test_an_impostor_on_the_gpu_pod_is_refused_before_any_command(
    emulator: Emulator, conn: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    private, public = generate_keypair("host-keys")
    p = plan(PlanRequest("flash", "H200", 4))
    name = naming.for_stack("flash-4xh200", backend="").name("pod", "abc123")
    props = {
        **conn,
        "name": name,
        "image": p.engine.image,
        "gpu_type_ids": ["NVIDIA H200"],
        "gpu_count": 4,
        "data_center_ids": ["US-TX-3"],
        "args": json_start_command(
            gpu_start_script(p, stack="flash-4xh200", pod_name=name, ttl_seconds=None)
        ),
        "ports": ["8000/http", "22/tcp"],
        "container_disk_gb": 50,
        "env": {"PUBLIC_KEY": public, "VLLM_API_KEY": "sk-test"},
    }
    created = providers.PodProvider().create(props)
    outputs = PodStackOutputs(
        pod_id=created.id,
        pod_name=name,
        endpoint=created.outs["endpoint"],
        volume_id="unused",
        weights_skipped=True,
        weights_bytes_downloaded=0,
        vllm_api_key="sk-test",
        ssh_host=created.outs["ssh_host"],
        ssh_port=created.outs["ssh_port"],
        ssh_private_key=private,
    ).to_props()
    honest = open_target(_context("flash-4xh200", emulator, tmp_path / "honest"))
    assert isinstance(honest, RunPodTarget)
    with honest.shell(outputs) as ssh:
        assert ssh.run("true", timeout=60).ok, "the key the pod printed is the key it presents"

    impostor_on(monkeypatch, lambda pod_id: pod_id == created.id)
    target = open_target(_context("flash-4xh200", emulator, tmp_path / "fresh"))
    with pytest.raises(HostKeyChangedError, match="refusing to connect"), target.shell(outputs):
        pytest.fail("a session was opened with an impostor")
    providers.PodProvider().delete(created.id, created.outs)


def test_an_impostor_on_a_cluster_member_fails_that_node_without_a_session(
    emulator: Emulator, conn: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    private, public = generate_keypair("host-keys")
    p = plan(PlanRequest("pro", "H100-SXM", 8, nodes=2))
    name = naming.for_stack("pro-2x8xh100", backend="").name("cluster", "abc123")
    made = ClusterProvider().create(
        {
            **conn,
            "name": name,
            "image": p.engine.image,
            "gpu_type_ids": ["NVIDIA H100 80GB HBM3"],
            "gpu_count": 8,
            "pod_count": 2,
            "data_center_ids": ["US-TX-3"],
            "args": json_start_command(cluster_start_script(p, stack="pro-2x8xh100", cluster_name=name)),
            "ports": ["8000/http", "22/tcp"],
            "container_disk_gb": 50,
            "ttl_seconds": 3600,
            "env": {"PUBLIC_KEY": public, "VLLM_API_KEY": "sk-test"},
        }
    )
    outs = made.outs
    outputs = ClusterStackOutputs(
        pod_id=outs["leader_pod_id"],
        pod_name=f"{name}/node-0",
        endpoint=outs["endpoint"],
        volume_id="unused",
        weights_skipped=True,
        weights_bytes_downloaded=0,
        vllm_api_key="sk-test",
        ssh_host=outs["ssh_host"],
        ssh_port=outs["ssh_port"],
        ssh_private_key=private,
        cluster_id=made.id,
        member_pod_ids=outs["member_pod_ids"],
        member_ssh=outs["member_ssh"],
        usd_per_hour=outs["usd_per_hour"],
    ).to_props()
    worker = outs["member_pod_ids"][1]
    impostor_on(monkeypatch, lambda pod_id: pod_id == worker)
    target = open_target(_context("pro-2x8xh100", emulator, tmp_path / "state"))
    assert isinstance(target, RunPodClusterTarget)
    with target.shell(outputs) as leader:
        result = target.gpu_preflight(leader, outputs)
    nodes = {n["node_rank"]: n for n in result.details["nodes"]}
    assert not result.passed and not nodes[1]["passed"]
    assert "no SSH session" in nodes[1]["reason"] and "refusing to connect" in nodes[1]["reason"]
    assert "host key" not in nodes[0]["reason"], "the leader's key was its own, and pinned"
    ClusterProvider().delete(made.id, outs)
