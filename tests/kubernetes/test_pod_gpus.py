"""Judging what nvidia-smi in an engine pod lists, and a failed exec, as the preflight's findings (pure)."""

from __future__ import annotations

from paths import H200_FIXTURES

from infra.targets.kubernetes.engine_pods import EnginePod
from infra.targets.kubernetes.pod_gpus import exec_failure, judge_pod_gpus
from infra.validate.gpu_preflight import GpuExpectation, GpuInfo, parse_gpu_query

H200 = GpuExpectation("NVIDIA H200", 4, 143771, min_driver="580")


def pod(worker_index: int | None = None) -> EnginePod:
    name = "vllm-group-0-1" if worker_index else "vllm-0"
    return EnginePod(name, "kwok-h200-0", "Running", 0, None, None, 4, worker_index=worker_index)


def h200s(count: int, driver: str = "580.159.04") -> list[GpuInfo]:
    line = (H200_FIXTURES / "query-gpu-noheader.csv").read_text(encoding="utf-8").strip()
    text = "\n".join(line.replace("0, ", f"{i}, ", 1).replace("580.159.04", driver) for i in range(count))
    return parse_gpu_query(text)


def test_the_gpus_the_plan_wants_pass_with_what_nvidia_smi_said() -> None:
    seen = judge_pod_gpus(pod(), h200s(4), H200)
    assert seen.findings == []
    assert seen.summary == "nvidia-smi: 4x NVIDIA H200 (143771 MiB each), driver 580.159.04"
    assert [g["index"] for g in seen.details] == [0, 1, 2, 3]


def test_a_driver_older_than_the_images_cuda_needs_fails_naming_the_worker_pod_and_node() -> None:
    seen = judge_pod_gpus(pod(worker_index=1), h200s(4, driver="570.86.15"), H200)
    assert [f.message for f in seen.findings] == [
        "worker 1 pod vllm-group-0-1 on node kwok-h200-0: Driver 570.86.15 is older than the required 580."
    ]


def test_a_container_without_nvidia_smi_names_the_toolkit_as_the_fix() -> None:
    # containerd's answer when the container has no such binary (kubectl prints it on stderr).
    stderr = (
        "error: Internal error occurred: error executing command in container: failed to exec in container: "
        'OCI runtime exec failed: exec failed: unable to start container process: exec: "nvidia-smi": '
        "executable file not found in $PATH: unknown\n"
    )
    finding = exec_failure(pod(), 1, "", stderr)
    assert finding.message.startswith(
        "pod vllm-0 on node kwok-h200-0: the engine container has no nvidia-smi ("
    )
    assert "install the NVIDIA GPU Operator" in finding.message
    assert "\n" not in finding.message


def test_nvidia_smi_that_cannot_reach_the_driver_names_the_driver_as_the_fix() -> None:
    stdout = (
        "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
        "Make sure that the latest NVIDIA driver is installed and running.\n"
    )
    finding = exec_failure(pod(), 9, stdout, "command terminated with exit code 9\n")
    assert finding.message.startswith(
        "pod vllm-0 on node kwok-h200-0: nvidia-smi cannot reach the GPUs (NVIDIA-SMI"
    )
    assert "check the node's NVIDIA driver" in finding.message


def test_any_other_failed_exec_says_what_kubectl_said_and_where_to_look() -> None:
    finding = exec_failure(
        pod(), 1, "", 'error: unable to upgrade connection: container not found ("vllm")\n'
    )
    assert finding.message == (
        "pod vllm-0 on node kwok-h200-0: kubectl exec nvidia-smi failed (unable to upgrade connection: "
        'container not found ("vllm")); is the engine container running (kubectl describe pod vllm-0)?'
    )
