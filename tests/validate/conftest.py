"""Fixtures for the validation stages: an emulated GPU pod running the fake vLLM and sshd on loopback.

The pod's start script follows the project's RunPod start script: sshd with the stack's key, the
engine's output appended to a log on the volume, and a `v4infra: engine exited with status N` line
when the engine ends, after which the container stays up so the log can still be read over SSH.
"""

from __future__ import annotations

import json
import shlex
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from infra.emulator.clock import Clock
from infra.emulator.pod import PodLaunch, PodRuntime
from infra.ssh import SshSession, SshTarget, generate_keypair
from infra.validate.engine_health import LogSource

MODEL = "deepseek-ai/DeepSeek-V4-Flash"
SERVED_MODEL = "deepseek-v4-flash"
API_KEY = "sk-validate-CANARY-4f1d2a9b7c"
ENGINE_LOG = "/workspace/logs/engine.log"
FLAGS = "--data-parallel-size 4 --enable-expert-parallel --max-model-len 262144"

START_SCRIPT = """set -u
mkdir -p "$HOME/.ssh" /workspace/logs && chmod 700 "$HOME/.ssh"
printf '%s\\n' "$PUBLIC_KEY" >> "$HOME/.ssh/authorized_keys" && chmod 600 "$HOME/.ssh/authorized_keys"
ssh-keygen -A >/dev/null 2>&1 || true
/usr/sbin/sshd
LOG={log}
echo "v4infra: starting vllm for {model}" >> "$LOG"
vllm serve {model} --host 0.0.0.0 --port 8000 {flags} --served-model-name {served} \\
  --trust-remote-code --kv-cache-dtype fp8 --block-size 256 >> "$LOG" 2>&1 &
ENGINE_PID=$!
wait "$ENGINE_PID"
STATUS=$?
echo "v4infra: engine exited with status $STATUS" >> "$LOG"
exec sleep infinity
"""


def hf_cache(hub: Path, repo_id: str, shards: int = 4) -> None:
    """A tiny hub cache holding `repo_id` in huggingface_hub's layout (empty shard files)."""
    repo = hub / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    (snapshot / "config.json").write_text(json.dumps({"architectures": ["DeepseekV4ForCausalLM"]}))
    names = [f"model-{index:05d}-of-{shards:05d}.safetensors" for index in range(1, shards + 1)]
    weight_map = {f"model.layers.{index}.weight": name for index, name in enumerate(names)}
    (snapshot / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    for name in names:
        (snapshot / name).write_bytes(b"")


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
    script = START_SCRIPT.format(log=ENGINE_LOG, model=MODEL, flags=FLAGS, served=SERVED_MODEL)
    env = {"PUBLIC_KEY": public_key, "HF_HOME": "/workspace/hf", "HF_HUB_OFFLINE": "1"}
    if api_key is not None:
        env["VLLM_API_KEY"] = api_key
    launch = PodLaunch(
        pod_id=f"pod{uuid.uuid4().hex[:10]}",
        name="v4-validate-test",
        image=image,
        gpu_type_id="NVIDIA H200",
        gpu_count=4,
        docker_args="bash -c " + shlex.quote(script),
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
        session = SshSession(
            SshTarget("127.0.0.1", runtime.port_map[22]), private_key, known_hosts=root / "known_hosts"
        )
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


def wait_healthy(pod: EmulatedPod, timeout: float = 30.0) -> None:
    """Poll /health directly, independent of the code under test."""
    with httpx.Client(timeout=2) as client:
        for _ in range(int(timeout / 0.05)):
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
