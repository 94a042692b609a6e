"""Fixtures for the validation stages: an emulated GPU pod running the fake vLLM and sshd on loopback.

The pod runs the project's own RunPod start script (rendered from infra/templates/runpod): sshd with
the stack's key, the engine's output appended to a log on the volume, and a `v4infra: engine exited
with status N` line when the engine ends, after which the container stays up so the log can be read.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fake_hf_cache import hf_cache

from infra.emulator.clock import Clock
from infra.emulator.pod import PodLaunch, PodRuntime
from infra.planner import PlanRequest, plan
from infra.ssh import SshSession, SshTarget, generate_keypair, host_keys_in_log, pin_host_key
from infra.targets.runpod.start_script import docker_args, gpu_start_script
from infra.validate.engine_health import LogSource

MODEL = "deepseek-ai/DeepSeek-V4-Flash"
API_KEY = "sk-validate-CANARY-4f1d2a9b7c"

POD_NAME = "v4i-validate-pod-abc123"
# The project's own GPU start script (templates/runpod), so the stages are tested against what pods run.
PLAN = plan(PlanRequest("flash", "H200", 4, max_model_len=262144))
ENGINE_LOG = f"/workspace/logs/{POD_NAME}/engine.log"


@dataclass
class EmulatedPod:
    """A running emulated GPU pod and an open SSH session to it."""

    runtime: PodRuntime
    ssh: SshSession
    api_key: str | None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.runtime.port_map[8000]}"

    def engine_log(self) -> LogSource:
        return LogSource(self.ssh, ENGINE_LOG)


PodFactory = Callable[..., EmulatedPod]


def _launch(
    root: Path,
    private_key: str,
    public_key: str,
    *,
    fault: str | None = None,
    image: str = "vllm/vllm-openai:v0.20.0",
    load_seconds: float = 0.3,
    api_key: str | None = API_KEY,
) -> EmulatedPod:
    hf_cache(root / "volume" / "hf" / "hub", MODEL)
    script = gpu_start_script(PLAN, stack="validate-tests", pod_name=POD_NAME, ttl_seconds=None)
    env = {"PUBLIC_KEY": public_key}
    if api_key is not None:
        env["VLLM_API_KEY"] = api_key
    launch = PodLaunch(
        pod_id=f"pod{uuid.uuid4().hex[:10]}",
        name="v4-validate-test",
        image=image,
        gpu_type_id="NVIDIA H200",
        gpu_count=4,
        docker_args=docker_args(script),
        env=env,
        volume_dir=root / "volume",
        volume_mount_path="/workspace",
        ports=["8000/http", "22/tcp"],
    )
    runtime = PodRuntime(
        launch, root / "sandbox", Clock(time_scale=20.0), load_seconds=load_seconds, engine_fault=fault
    )
    runtime.start()
    try:
        target = SshTarget("127.0.0.1", runtime.port_map[22])
        # Pinned from the host keys the start script printed, before the first contact (as the product does).
        deadline = time.monotonic() + 120
        while not host_keys_in_log(runtime.log_tail(200)) and time.monotonic() < deadline:
            time.sleep(0.05)
        for key in host_keys_in_log(runtime.log_tail(200)):
            pin_host_key(root / "known_hosts", target, key)
        session = SshSession(target, private_key, known_hosts=root / "known_hosts")
        session.connect(retries=60, delay=0.1, max_delay=0.25)
    except BaseException:
        runtime.kill()
        raise
    return EmulatedPod(runtime, session, api_key)


@pytest.fixture(scope="session")
def pod_keypair() -> tuple[str, str]:
    """The stack's SSH key pair: (private PEM, authorized_keys line)."""
    return generate_keypair("validate-tests")


@pytest.fixture
def launch_pod(tmp_path: Path, pod_keypair: tuple[str, str]) -> Iterator[PodFactory]:
    """Start emulated pods (fault, image, load_seconds, api_key; healthy=True waits for /health); killed at teardown."""
    pods: list[EmulatedPod] = []

    def launch(
        *,
        fault: str | None = None,
        image: str = "vllm/vllm-openai:v0.20.0",
        load_seconds: float = 0.3,
        api_key: str | None = API_KEY,
        healthy: bool = False,
    ) -> EmulatedPod:
        root = tmp_path / f"pod{len(pods)}"
        pod = _launch(
            root, *pod_keypair, fault=fault, image=image, load_seconds=load_seconds, api_key=api_key
        )
        pods.append(pod)
        if healthy:
            wait_healthy(pod)
        return pod

    try:
        yield launch
    finally:
        for pod in pods:
            pod.ssh.close()
            pod.runtime.kill()


def wait_healthy(pod: EmulatedPod, timeout: float = 180.0) -> None:
    """Poll /health directly, independent of the code under test."""
    deadline = time.monotonic() + timeout  # a ceiling for a busy machine; healthy returns at once
    with httpx.Client(timeout=10) as client:
        while time.monotonic() < deadline:
            assert pod.runtime.is_alive(), "\n".join(pod.runtime.log_tail())
            try:
                if client.get(pod.endpoint + "/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    raise AssertionError("the emulated engine did not become healthy")


@pytest.fixture(scope="session")
def serving_pod(
    tmp_path_factory: pytest.TempPathFactory, pod_keypair: tuple[str, str]
) -> Iterator[EmulatedPod]:
    """One pod serving Flash behind API_KEY, healthy when yielded; shared by the API and load tests."""
    pod = _launch(tmp_path_factory.mktemp("serving"), *pod_keypair)
    try:
        wait_healthy(pod)
        yield pod
    finally:
        pod.ssh.close()
        pod.runtime.kill()
