"""Engine health: /health polled while the engine log is tailed over SSH; failures explained in one line."""

from __future__ import annotations

import socket
import subprocess
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from infra.ssh import CommandResult
from infra.validate.engine_health import LogSource, wait_for_engine

PodFactory = Callable[..., Any]
# Stands for the stack's API key in tests that read a local log instead of a pod's.
API_KEY = "sk-local-CANARY-93c1e7"


class LocalShell:
    """A CommandRunner that runs commands with the local bash, for reading a local file as a pod would."""

    def run(
        self, cmd: Sequence[str] | str, timeout: float = 60.0, stdin: bytes | None = None
    ) -> CommandResult:
        assert isinstance(cmd, str)
        done = subprocess.run(["bash", "-c", cmd], input=stdin, capture_output=True, timeout=timeout)
        return CommandResult(done.returncode, done.stdout.decode(), done.stderr.decode())


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_healthy_engine_passes_and_its_log_lines_are_seen(launch_pod: PodFactory) -> None:
    pod = launch_pod()
    seen: list[str] = []
    result = wait_for_engine(
        pod.endpoint,
        pod.api_key,
        log=pod.engine_log(),
        budget_seconds=60,
        poll_seconds=0.1,
        engine_alive=pod.runtime.is_alive,
        on_log_line=seen.append,
    )
    assert result.passed, result.reason
    assert result.name == "engine-health"
    assert result.reason.startswith("engine healthy after")
    assert result.details["seconds_to_healthy"] is not None
    assert result.details["diagnosis"] is None
    assert seen[0] == "v4infra: starting vllm for deepseek-ai/DeepSeek-V4-Flash"
    assert any("Loading safetensors checkpoint shards: 100% Completed | 4/4" in line for line in seen)
    shown = result.details["last_log_lines"]
    assert isinstance(shown, list) and 0 < len(shown) <= 20


@pytest.mark.parametrize(
    ("fault", "signature", "cause"),
    [
        ("arch", "unsupported-architecture", "vLLM too old for DeepSeek V4"),
        (
            "keyerror",
            "v4-config-key",
            "partly knows the DeepSeek V4 config (KeyError 'compressed_sparse_attention')",
        ),
        ("oom", "cuda-oom", "the GPUs ran out of memory"),
        ("tp16", "tp-divisibility", "the tensor-parallel size does not divide the weights evenly"),
        ("pp", "pipeline-parallel", "vLLM cannot run DeepSeek V4 with pipeline parallelism"),
        ("hub401", "hub-auth", "the Hugging Face hub refused the download"),
    ],
)
def test_engine_fault_is_reported_as_one_line_cause_and_fix(
    launch_pod: PodFactory, fault: str, signature: str, cause: str
) -> None:
    pod = launch_pod(fault=fault)
    result = wait_for_engine(
        pod.endpoint, pod.api_key, log=pod.engine_log(), budget_seconds=60, poll_seconds=0.1,
        engine_alive=pod.runtime.is_alive,
    )  # fmt: skip
    assert not result.passed
    assert cause in result.reason
    assert " — " in result.reason and "\n" not in result.reason
    assert result.details["diagnosis"] == signature
    # The container stays up after the engine dies: the stage saw the start script's exit line.
    assert result.details["exit_status"] == 1
    assert pod.runtime.is_alive()


def test_old_image_is_diagnosed(launch_pod: PodFactory) -> None:
    pod = launch_pod(image="vllm/vllm-openai:v0.18.0")
    result = wait_for_engine(
        pod.endpoint, pod.api_key, log=pod.engine_log(), budget_seconds=60, poll_seconds=0.1,
        engine_alive=pod.runtime.is_alive,
    )  # fmt: skip
    assert not result.passed
    assert result.reason.startswith("vLLM too old for DeepSeek V4 — use vllm/vllm-openai:v0.20.0 or later")
    assert "DeepseekV4ForCausalLM" in str(result.details["diagnosis_line"])


def test_budget_running_out_fails_with_the_last_log_line(launch_pod: PodFactory) -> None:
    pod = launch_pod(load_seconds=120)
    result = wait_for_engine(
        pod.endpoint, pod.api_key, log=pod.engine_log(), budget_seconds=2.0, poll_seconds=0.1,
        engine_alive=pod.runtime.is_alive,
    )  # fmt: skip
    assert not result.passed
    assert result.reason.startswith("engine not healthy after 2 s (last log line: ")
    assert "Loading safetensors checkpoint shards" in result.reason
    assert result.details["exit_status"] is None


def test_pod_killed_mid_wait_fails_before_the_budget(launch_pod: PodFactory) -> None:
    pod = launch_pod(load_seconds=120)
    killer = threading.Timer(1.0, pod.runtime.kill)
    killer.start()
    try:
        result = wait_for_engine(
            pod.endpoint, pod.api_key, log=pod.engine_log(), budget_seconds=600, poll_seconds=0.1,
            engine_alive=pod.runtime.is_alive,
        )  # fmt: skip
    finally:
        killer.join()
    assert not result.passed
    assert result.reason.startswith("the pod stopped while the engine was loading")
    assert "not healthy" not in result.reason


def test_log_source_returns_complete_lines_and_survives_truncation(tmp_path: Path) -> None:
    log_file = tmp_path / "engine.log"
    source = LogSource(LocalShell(), str(log_file))
    assert source.read_new() == []
    log_file.write_bytes(b"first line\nsecond, unfinished")
    assert source.read_new() == ["first line"]
    with log_file.open("ab") as log:
        log.write(b" now done\nbad byte \xff here\n")
    assert source.read_new() == ["second, unfinished now done", "bad byte \ufffd here"]
    assert source.read_new() == []
    log_file.write_bytes(b"rotated\n")
    assert source.read_new() == ["rotated"]


def test_secrets_in_the_log_never_reach_the_result_or_the_progress_display(tmp_path: Path) -> None:
    log_file = tmp_path / "engine.log"
    log_file.write_text(
        f"INFO args: api_key={API_KEY}\n"
        "huggingface_hub.errors.GatedRepoError: 401 Client Error token hf_abcdefghijklmnopqrstu\n"
        "v4infra: engine exited with status 1\n"
    )
    seen: list[str] = []
    result = wait_for_engine(
        f"http://127.0.0.1:{closed_port()}", API_KEY, log=LogSource(LocalShell(), str(log_file)),
        budget_seconds=30, poll_seconds=0.05, on_log_line=seen.append,
    )  # fmt: skip
    assert not result.passed
    assert result.reason.startswith("the Hugging Face hub refused the download")
    everything = repr(result) + "\n".join(seen)
    assert API_KEY not in everything
    assert "hf_abcdefghijklmnopqrstu" not in everything
    assert "api_key=***" in seen[0]


def test_engine_that_exits_without_a_known_signature_shows_its_last_line(tmp_path: Path) -> None:
    log_file = tmp_path / "engine.log"
    log_file.write_text("loading\nSegmentation fault (core dumped)\nv4infra: engine exited with status 139\n")
    result = wait_for_engine(
        f"http://127.0.0.1:{closed_port()}", API_KEY, log=LogSource(LocalShell(), str(log_file)),
        budget_seconds=30, poll_seconds=0.05,
    )  # fmt: skip
    assert result.reason == "engine exited with status 139: Segmentation fault (core dumped)"
    assert result.details["exit_status"] == 139
