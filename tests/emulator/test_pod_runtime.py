"""An emulated pod runs its real start command: sshd, nvidia-smi and vllm stand-ins over loopback."""

from __future__ import annotations

import io
import json
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from fake_hf_cache import hf_cache
from paths import H200_FIXTURES

from infra.emulator.clock import Clock
from infra.emulator.pod import PodLaunch, PodRuntime

FLASH = "deepseek-ai/DeepSeek-V4-Flash"
PRO = "deepseek-ai/DeepSeek-V4-Pro"
API_KEY = "sk-test-vllm"
NOHEADER_QUERY = (
    "--query-gpu=index,name,memory.total,driver_version,compute_cap --format=csv,noheader,nounits"
)
ARCH_ERROR = "ValueError: Model architecture 'DeepseekV4ForCausalLM' is not supported"


# Binds the port it is given and says so, then waits to be killed.
STRANGER_LISTENER = (
    "import socket, sys, time\n"
    "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind(('127.0.0.1', int(sys.argv[1]))); s.listen()\n"
    "print('listening', flush=True)\n"
    "time.sleep(600)\n"
)


def ed25519_key() -> paramiko.PKey:
    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    return paramiko.Ed25519Key.from_private_key(io.StringIO(pem.decode()))


START_SCRIPT = """set -e
mkdir -p ~/.ssh /workspace/logs
echo "$PUBLIC_KEY" >> ~/.ssh/authorized_keys
chmod 700 ~/.ssh && chmod 600 ~/.ssh/authorized_keys
ssh-keygen -A
/usr/sbin/sshd
vllm serve {model} --host 0.0.0.0 --port 8000 {flags} \\
  --trust-remote-code --kv-cache-dtype fp8 --block-size 256 2>&1 | tee /workspace/logs/vllm.log
exit ${{PIPESTATUS[0]}}
"""


def make_pod(
    root: Path,
    *,
    model: str = FLASH,
    flags: str = "--data-parallel-size 4 --enable-expert-parallel --max-model-len 262144",
    image: str = "vllm/vllm-openai:v0.20.0",
    gpu_type: str | None = "NVIDIA H200",
    gpu_count: int = 4,
    env: dict[str, str] | None = None,
    fault: str | None = None,
    public_key: str = "",
    docker_args: str | None = None,
) -> PodRuntime:
    volume = root / "volume"
    volume.mkdir(parents=True, exist_ok=True)
    script = START_SCRIPT.format(model=model, flags=flags)
    launch = PodLaunch(
        pod_id=f"pod{abs(hash(root)) % 10**8}",
        name="v4-test",
        image=image,
        gpu_type_id=gpu_type,
        gpu_count=gpu_count,
        docker_args=docker_args if docker_args is not None else "bash -c " + shlex.quote(script),
        env={"PUBLIC_KEY": public_key, "HF_HOME": "/workspace/hf", **(env or {})},
        volume_dir=volume,
        volume_mount_path="/workspace",
        ports=["8000/http", "22/tcp"],
    )
    return PodRuntime(launch, root / "sandbox", Clock(time_scale=20.0), load_seconds=0.2, engine_fault=fault)


def wait_until(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def run_to_exit(pod: PodRuntime) -> str:
    pod.start()
    try:
        wait_until(lambda: not pod.is_alive())
    finally:
        pod.kill()
    return "\n".join(pod.log_tail(400))


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def ssh_run(pod: PodRuntime, key: paramiko.PKey, command: str, stdin: bytes | None = None) -> tuple[int, str]:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect(
        "127.0.0.1", port=pod.port_map[22], username="root", pkey=key, look_for_keys=False, allow_agent=False
    )
    try:
        channel_in, channel_out, channel_err = client.exec_command(command, timeout=30)
        if stdin is not None:
            channel_in.write(stdin)
            channel_in.channel.shutdown_write()
        output = channel_out.read().decode()
        return channel_out.channel.recv_exit_status(), output + channel_err.read().decode()
    finally:
        client.close()


@pytest.fixture(scope="module")
def pod_key() -> paramiko.PKey:
    return ed25519_key()


@pytest.fixture(scope="module")
def rsa_key() -> paramiko.PKey:
    return paramiko.RSAKey.generate(2048)


@pytest.fixture(scope="module")
def flash_pod(
    tmp_path_factory: pytest.TempPathFactory, pod_key: paramiko.PKey, rsa_key: paramiko.PKey
) -> Iterator[PodRuntime]:
    """Flash on 4x H200, weights cached on the volume, served with an API key; ready when yielded."""
    root = tmp_path_factory.mktemp("flash")
    hf_cache(root / "volume" / "hf" / "hub", FLASH, shards=46)
    pod = make_pod(
        root,
        env={"VLLM_API_KEY": API_KEY, "HF_HUB_OFFLINE": "1"},
        public_key=f"{pod_key.get_name()} {pod_key.get_base64()} test@laptop\n"
        f"{rsa_key.get_name()} {rsa_key.get_base64()} ci@runner",
        flags="--data-parallel-size 4 --enable-expert-parallel --max-model-len 262144 "
        "--served-model-name deepseek-v4-flash",
    )
    pod.start()
    try:
        base = f"http://127.0.0.1:{pod.port_map[8000]}"

        def healthy() -> bool:
            assert pod.is_alive(), "\n".join(pod.log_tail())
            try:
                return httpx.get(f"{base}/health", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(healthy)
        yield pod
    finally:
        pod.kill()


def api(pod: PodRuntime) -> httpx.Client:
    return httpx.Client(
        base_url=f"http://127.0.0.1:{pod.port_map[8000]}",
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=30,
    )


def test_serves_the_model_with_answers_and_streaming(flash_pod: PodRuntime) -> None:
    with api(flash_pod) as client:
        models = client.get("/v1/models").json()["data"]
        assert [(model["id"], model["max_model_len"], model["owned_by"]) for model in models] == [
            ("deepseek-v4-flash", 262144, "vllm")
        ]
        answer = client.post(
            "/v1/chat/completions",
            json={"model": "deepseek-v4-flash", "messages": [{"role": "user", "content": "What is 17*19?"}]},
        ).json()
        assert answer["choices"][0]["message"]["content"].strip() == "323"
        body = {
            "model": "deepseek-v4-flash",
            "messages": [{"role": "user", "content": "Write a poem"}],
            "max_tokens": 8,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        with client.stream("POST", "/v1/chat/completions", json=body) as response:
            events = [
                line.removeprefix("data: ") for line in response.iter_lines() if line.startswith("data: ")
            ]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    text = "".join(chunk["choices"][0]["delta"].get("content") or "" for chunk in chunks if chunk["choices"])
    assert len(text.split()) == 8
    assert chunks[-1]["usage"]["completion_tokens"] == 8
    metrics = httpx.get(f"http://127.0.0.1:{flash_pod.port_map[8000]}/metrics").text
    assert "vllm:generation_tokens_total" in metrics


def test_api_key_is_enforced(flash_pod: PodRuntime) -> None:
    base = f"http://127.0.0.1:{flash_pod.port_map[8000]}"
    refused = httpx.post(
        f"{base}/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]}
    )
    assert refused.status_code == 401
    assert refused.json() == {"error": "Unauthorized"}
    assert httpx.get(f"{base}/v1/models", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_ssh_runs_commands_in_the_pod(flash_pod: PodRuntime, pod_key: paramiko.PKey) -> None:
    status, output = ssh_run(flash_pod, pod_key, f"nvidia-smi {NOHEADER_QUERY}")
    assert status == 0
    expected = (H200_FIXTURES / "query-gpu-noheader.csv").read_text().strip()
    assert output.splitlines() == [expected.replace("0,", f"{index},", 1) for index in range(4)]
    status, log = ssh_run(flash_pod, pod_key, "cat /workspace/logs/vllm.log")
    assert status == 0
    assert "Application startup complete." in log
    assert "Loading safetensors checkpoint shards: 100% Completed | 46/46" in log
    status, output = ssh_run(
        flash_pod, pod_key, "python3 -", stdin=b"import os\nprint(os.path.isdir('/workspace/hf/hub'))\n"
    )
    assert (status, output.strip()) == (0, "True")
    assert ssh_run(flash_pod, pod_key, "exit 3")[0] == 3


def test_ssh_accepts_rsa_keys(flash_pod: PodRuntime, rsa_key: paramiko.PKey) -> None:
    assert ssh_run(flash_pod, rsa_key, "nvidia-smi -L | wc -l") == (0, "4\n")


def test_ssh_refuses_unknown_keys_and_passwords(flash_pod: PodRuntime) -> None:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    port = flash_pod.port_map[22]
    with pytest.raises(paramiko.AuthenticationException):
        client.connect("127.0.0.1", port=port, username="root", pkey=ed25519_key(), look_for_keys=False)
    with pytest.raises(paramiko.AuthenticationException):
        client.connect(
            "127.0.0.1", port=port, username="root", password="root", look_for_keys=False, allow_agent=False
        )
    client.close()


def host_key(port: int) -> str:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        transport = paramiko.Transport(sock)
        transport.start_client(timeout=10)
        key = transport.get_remote_server_key().get_base64()
        transport.close()
    return key


def test_kill_stops_everything_and_restart_keeps_the_host_key(tmp_path: Path, flash_pod: PodRuntime) -> None:
    pod = make_pod(tmp_path)
    pod.start()
    ports = pod.port_map
    wait_until(lambda: port_open(ports[8000]) and port_open(ports[22]))
    first_key = host_key(ports[22])
    pod.kill()
    pod.kill()
    assert not pod.is_alive()
    assert not port_open(ports[8000])
    assert not port_open(ports[22])
    pod.start()
    try:
        wait_until(lambda: port_open(pod.port_map[22]))
        assert host_key(pod.port_map[22]) == first_key
        assert host_key(flash_pod.port_map[22]) != first_key
    finally:
        pod.kill()


def test_kill_leaves_alone_a_listener_that_is_not_the_pods(tmp_path: Path) -> None:
    """A port the pod let go may be handed by the kernel to anyone (another test's Pulumi engine)."""
    pod = make_pod(tmp_path)
    pod.start()
    ports = pod.port_map
    wait_until(lambda: port_open(ports[8000]))
    pod.kill()
    wait_until(lambda: not port_open(ports[8000]))
    stranger = subprocess.Popen(
        [sys.executable, "-c", STRANGER_LISTENER, str(ports[8000])], stdout=subprocess.PIPE, text=True
    )
    try:
        assert stranger.stdout is not None and stranger.stdout.readline().strip() == "listening"
        pod.kill()  # idempotent, and the second call scans the pod's ports again
        assert stranger.poll() is None, "the pod's kill() took down a process that was not the pod's"
        assert port_open(ports[8000])
    finally:
        stranger.kill()
        stranger.wait()


def test_old_image_cannot_load_v4(tmp_path: Path) -> None:
    log = run_to_exit(make_pod(tmp_path, image="vllm/vllm-openai:v0.18.0"))
    assert ARCH_ERROR in log


def test_pro_on_eight_h100_runs_out_of_memory(tmp_path: Path) -> None:
    pod = make_pod(
        tmp_path, model=PRO, gpu_type="NVIDIA H100 80GB HBM3", gpu_count=8,
        flags="--tensor-parallel-size 8 --enable-expert-parallel --max-model-len 200000",
    )  # fmt: skip
    assert "torch.OutOfMemoryError: CUDA out of memory" in run_to_exit(pod)


def test_offline_with_empty_cache_fails(tmp_path: Path) -> None:
    log = run_to_exit(make_pod(tmp_path, env={"HF_HUB_OFFLINE": "1"}))
    assert "Cannot find the requested files in the disk cache and outgoing traffic has been disabled" in log


@pytest.mark.parametrize(
    ("fault", "line"),
    [
        ("arch", ARCH_ERROR),
        ("keyerror", "KeyError: 'compressed_sparse_attention'"),
        ("oom", "torch.OutOfMemoryError: CUDA out of memory"),
        ("tp16", "is not divisible by weight quantization block_n = 128"),
        ("pp", "Pipeline parallelism is not supported for this model"),
        ("hub401", "huggingface_hub.errors.GatedRepoError: 401 Client Error"),
    ],
)
def test_engine_faults_print_their_signature(tmp_path: Path, fault: str, line: str) -> None:
    assert line in run_to_exit(make_pod(tmp_path, fault=fault))


def test_cpu_pod_has_no_gpu_tools(tmp_path: Path) -> None:
    pod = make_pod(
        tmp_path, gpu_type=None, gpu_count=0, image="runpod/base:0.6.2",
        docker_args="bash -c 'command -v nvidia-smi vllm; echo checked'",
    )  # fmt: skip
    log = run_to_exit(pod)
    assert log.strip() == "checked"


def test_image_entrypoint_swallows_a_bash_start_command(tmp_path: Path) -> None:
    pod = make_pod(tmp_path)
    pod.launch.image_entrypoint = True
    log = run_to_exit(pod)
    assert "vllm serve: error: unrecognized arguments: -c" in log
    assert pod.exit_code == 2
