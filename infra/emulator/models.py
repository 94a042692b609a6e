"""The emulator's own facts about checkpoints and GPUs.

Deliberately separate from `infra.catalog`: the emulator stands in for the real world, so it
must be able to disagree with the catalog when the catalog is wrong. Sources:
shared/reference/deepseek-v4.md and the H200 fixtures in shared/fixtures/gpu/h200.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

GIB = 1024**3
MIB = 1024**2

# The newest vLLM the emulator knows; `latest`/`nightly` images report it.
NEWEST_VLLM = (0, 25, 0)
# Day-0 DeepSeek V4 image tags carry no version number; they shipped as 0.20.0.
_NAMED_TAGS = {"deepseekv4-cu129": (0, 20, 0), "deepseekv4-cu130": (0, 20, 0)}


@dataclass(frozen=True)
class CheckpointSpec:
    """One Hugging Face checkpoint as vLLM meets it."""

    repo_id: str
    architecture: str
    weights_bytes: int
    shards: int
    min_vllm: tuple[int, int, int]
    mtp: bool
    max_model_len: int
    # Width of one routed/shared expert: TP splits it, FP8 blocks are 128 wide (vllm#40955).
    expert_width: int
    # Sizes the ITL of the fake engine (billions of active parameters).
    active_params_b: float
    # Emulator heuristic: per-GPU activation workspace grows with the context length.
    workspace_bytes_per_token: int


CHECKPOINTS: dict[str, CheckpointSpec] = {
    spec.repo_id: spec
    for spec in (
        CheckpointSpec(
            "deepseek-ai/DeepSeek-V4-Flash", "DeepseekV4ForCausalLM", int(148.66 * GIB), 46,
            (0, 20, 0), True, 1_048_576, 2048, 13.0, 32 * 1024,
        ),
        CheckpointSpec(
            "deepseek-ai/DeepSeek-V4-Flash-0731", "DeepseekV4ForCausalLM", int(148.66 * GIB), 46,
            (0, 25, 0), False, 1_048_576, 2048, 13.0, 32 * 1024,
        ),
        CheckpointSpec(
            "deepseek-ai/DeepSeek-V4-Pro", "DeepseekV4ForCausalLM", 865 * 10**9, 64,
            (0, 20, 0), True, 1_048_576, 3072, 49.0, 64 * 1024,
        ),
        CheckpointSpec(
            "deepseek-ai/DeepSeek-V4-Pro-0813", "DeepseekV4ForCausalLM", 893 * 10**9, 64,
            (0, 25, 0), True, 1_048_576, 3072, 49.0, 64 * 1024,
        ),
    )
}  # fmt: skip


@dataclass(frozen=True)
class GpuSpec:
    """One GPU type as nvidia-smi and CUDA report it."""

    type_id: str
    product_name: str
    memory_mib: int
    driver: str
    cuda_version: str
    compute_cap: str
    power_limit_w: int
    max_sm_mhz: int
    max_mem_mhz: int
    # Relative decode speed (H200 = 1.0), from memory bandwidth.
    speed: float

    @property
    def cuda_total_bytes(self) -> int:
        """What `torch.cuda.mem_get_info()` reports: nvidia-smi's total less 615 MiB (measured on H200)."""
        return (self.memory_mib - 615) * MIB


GPUS: dict[str, GpuSpec] = {
    spec.type_id: spec
    for spec in (
        GpuSpec("NVIDIA H200", "NVIDIA H200", 143771, "580.159.04", "13.0", "9.0", 700, 1980, 3201, 1.0),
        GpuSpec("NVIDIA H200 NVL", "NVIDIA H200 NVL", 143771, "580.159.04", "13.0", "9.0", 600, 1785, 3201, 1.0),
        GpuSpec("NVIDIA H100 80GB HBM3", "NVIDIA H100 80GB HBM3", 81559, "580.159.04", "13.0", "9.0", 700, 1980, 2619, 0.7),
        GpuSpec("NVIDIA H100 PCIe", "NVIDIA H100 PCIe", 81559, "580.159.04", "13.0", "9.0", 350, 1755, 1593, 0.42),
        GpuSpec("NVIDIA H100 NVL", "NVIDIA H100 NVL", 95830, "580.159.04", "13.0", "9.0", 400, 1785, 2619, 0.81),
        GpuSpec("NVIDIA A100 80GB PCIe", "NVIDIA A100 80GB PCIe", 81920, "580.159.04", "13.0", "8.0", 300, 1410, 1512, 0.4),
        GpuSpec("NVIDIA A100-SXM4-80GB", "NVIDIA A100-SXM4-80GB", 81920, "580.159.04", "13.0", "8.0", 400, 1410, 1593, 0.42),
    )
}  # fmt: skip


def vllm_version_of_image(image: str) -> tuple[int, int, int]:
    """The vLLM version an image ships, from its tag (`v0.20.0`, `deepseekv4-cu129`, `latest`)."""
    tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else "latest"
    if tag in _NAMED_TAGS:
        return _NAMED_TAGS[tag]
    match = re.search(r"(\d+)\.(\d+)\.(\d+)", tag)
    if match:
        major, minor, patch = (int(part) for part in match.groups())
        return (major, minor, patch)
    return NEWEST_VLLM


def version_text(version: tuple[int, int, int]) -> str:
    return ".".join(str(part) for part in version)


# ENTRYPOINT of images whose Dockerfile sets one; RunPod appends dockerArgs to it.
_ENTRYPOINTS = {"vllm/vllm-openai": ["vllm", "serve"]}


def image_entrypoint(image: str) -> list[str] | None:
    """The image's ENTRYPOINT, or None when it only has a CMD (runpod/* images)."""
    repository = image.split("@", 1)[0]
    if ":" in repository.rsplit("/", 1)[-1]:
        repository = repository.rsplit(":", 1)[0]
    repository = repository.removeprefix("docker.io/")
    return list(_ENTRYPOINTS[repository]) if repository in _ENTRYPOINTS else None
