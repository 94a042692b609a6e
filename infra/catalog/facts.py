"""The catalog's facts besides the engines: checkpoints, GPUs, published recipes and their runs, throughput
points, DeepSeek API prices and each target's limits, one frozen record per row of their data files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

GIB = 1024**3
MIB = 1024**2


@dataclass(frozen=True)
class Checkpoint:
    key: str
    repo_id: str
    total_params_b: float
    active_params_b: float
    weights_bytes: int
    expert_bytes: int
    shards: int | None
    min_vllm: str
    min_sglang: str
    speculative: str  # "mtp", "dspark" or "none"
    context_length: int
    layers: int
    hidden_size: int
    attention_heads: int
    routed_experts: int
    expert_width: int
    kv_bytes_per_token_bf16: int
    window_bytes_per_seq_per_layer: int
    workspace_bytes_per_token: int
    load_minutes: int
    download_minutes: tuple[int, int]
    cache_pvc_gi: int
    vram_minimum_gb: int
    api_model: str
    speculative_note: str = ""
    note: str = ""
    custom: bool = False
    # Where weights_bytes comes from when it is not the hub's own file listing.
    size_note: str = ""
    # "fp4-fp8" (DeepSeek's MXFP4 experts, FP8 rest) or "nvfp4" (NVIDIA modelopt NVFP4 experts, FP8 rest).
    precision: str = "fp4-fp8"
    # GPU families the checkpoint runs on; empty: every family an engine supports.
    gpu_families: tuple[str, ...] = ()

    @property
    def dense_bytes(self) -> int:
        """Attention, shared expert, embeddings: replicated by data parallelism."""
        return self.weights_bytes - self.expert_bytes

    @property
    def family(self) -> str:
        return "pro" if self.routed_experts == 384 else "flash"


@dataclass(frozen=True)
class Gpu:
    key: str
    product_name: str
    memory_mib: int
    hbm_gbps: int
    compute_capability: str
    family: str
    runpod_id: str
    k8s_product_label: str
    usd_per_gpu_hour: float | None
    usd_per_gpu_hour_spot: float | None
    price_date: str
    max_gpus_per_node: int
    aws_instance_8x: str | None = None
    aws_instance_8x_alt: str | None = None
    aliases: tuple[str, ...] = ()
    # Where memory_mib and hbm_gbps come from (nvidia-smi as published, or a spec sheet, labelled).
    memory_source: str = ""
    hbm_source: str = ""

    @property
    def memory_bytes(self) -> int:
        return self.memory_mib * MIB


@dataclass(frozen=True)
class Run:
    """One public run behind a recipe: what it served (or failed at), at which context and concurrency."""

    what: str
    source: str
    context: int | None
    concurrency: int | None
    outcome: str  # "served", "failed" or "marked-verified" (the publisher's mark, no published numbers)
    read: str
    note: str = ""
    engine_version: str | None = None  # the engine version the run used, where the source says
    input_tokens: int | None = None  # the benchmark workload, where the run is a benchmark
    output_tokens: int | None = None
    marked_verified: bool = False  # the publisher marks this cell verified


@dataclass(frozen=True)
class Recipe:
    model: str
    gpu: str
    gpus_per_node: int
    nodes: int
    engine: str
    strategy: str
    source: str
    max_model_len: int | None = None
    max_num_seqs: int | None = None
    gpu_memory_utilization: float | None = None
    extra_args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    runs: tuple[Run, ...] = ()


@dataclass(frozen=True)
class ThroughputPoint:
    """A published output-throughput measurement."""

    model: str  # checkpoint family: "pro" or "flash"
    gpu: str
    gpus: int
    hbm_gbps: int
    concurrency: int
    input_tokens: int | None
    output_tokens: int | None
    output_tok_s: float
    source: str
    engine: str | None = None  # what the measurement ran; None: the source does not say
    engine_version: str | None = None
    derived: str = ""  # how output_tok_s was derived from the published figure, when it was
    ttft_ms: float | None = None  # the median time to first token, where the source publishes one


@dataclass(frozen=True)
class ApiPrice:
    """One DeepSeek API model's prices per 1M tokens, peak and off-peak."""

    name: str
    serves: str
    open_checkpoint: str | None
    peak_output: float
    off_peak_output: float
    peak_input: float
    off_peak_input: float
    read: str
    source: str
    peak_hours: str
    newer_open_weights: str | None = None


@dataclass(frozen=True)
class TargetLimits:
    key: str
    max_gpus_per_node: int
    deploys_multi_node: bool
    multi_node_note: str


def parse_checkpoints(raw: dict[str, dict[str, Any]]) -> dict[str, Checkpoint]:
    out: dict[str, Checkpoint] = {}
    for key, row in raw.items():
        merged = {**raw[row["based_on"]], **row} if "based_on" in row else dict(row)
        merged.pop("based_on", None)
        merged["download_minutes"] = tuple(merged["download_minutes"])
        merged["gpu_families"] = tuple(merged.get("gpu_families", ()))
        out[key] = Checkpoint(key=key, **merged)
    return out
