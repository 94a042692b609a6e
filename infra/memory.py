"""The per-GPU memory model (pure arithmetic; the README explains each term).

    usable     = memory CUDA reports (nvidia-smi's total less ~615 MiB) x gpu-memory-utilization
    weights    = TP+EP: all weights / GPUs;  DP+EP: dense part (replicated) + experts / GPUs;
                 TP x DP + EP across nodes: dense part / TP (replicated per node) + experts / GPUs
    reserve    = CUDA context + NCCL buffers + activations for one batch + CUDA graphs (0 when eager)
                 + the long-context workspace of one max-length request
                 + the engine version's calibration (what a newer profiler reserves first; engines.yaml)
    KV cache   = usable - weights - reserve, in tokens at the FP8 per-token figure

A configuration runs when the KV cache holds at least one max-length sequence (vLLM refuses to
start otherwise) and nothing above is negative.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.catalog import GIB, MIB, Checkpoint, Gpu
from infra.plan import MemoryBreakdown

CUDA_CONTEXT_BYTES = int(0.75 * GIB)
# vLLM's gpu-memory-utilization applies to what CUDA reports, not nvidia-smi: on the measured H200,
# torch.cuda.mem_get_info() total is 150109880320 bytes against 143771 MiB (shared/fixtures/gpu/h200).
CUDA_HIDDEN_BYTES = 143771 * MIB - 150109880320
# One prefill chunk of max_num_batched_tokens; ~24 hidden-sized bf16 intermediates per token.
ACTIVATION_FACTOR = 24 * 2
CUDAGRAPH_BASE_BYTES = int(0.5 * GIB)
CUDAGRAPH_PER_SEQ_BYTES = 4 * MIB


@dataclass(frozen=True)
class Layout:
    """How the model is split over the GPUs."""

    strategy: str  # "tp-ep", "dp-ep", "tp-dp-ep" (TP inside a node, DP across nodes) or "tp"
    tensor_parallel: int
    data_parallel: int
    expert_parallel: bool


@dataclass(frozen=True)
class Settings:
    """Engine settings that change memory use."""

    gpu_memory_utilization: float
    max_model_len: int
    max_num_seqs: int
    enforce_eager: bool
    max_num_batched_tokens: int = 8192
    cudagraph_decode_only: bool = False
    # The engine version's calibration: memory it reserves per GPU before sizing the KV cache.
    engine_reserve_bytes: int = 0


def cuda_total_bytes(gpu: Gpu) -> int:
    """The memory CUDA (and so vLLM) sees on one GPU."""
    return gpu.memory_bytes - CUDA_HIDDEN_BYTES


def nccl_bytes(world: int, nodes: int) -> int:
    if world == 1:
        return 0
    if nodes > 1:
        return int(1.5 * GIB)
    return int(0.5 * GIB) if world <= 2 else GIB


def weights_per_gpu(ckpt: Checkpoint, layout: Layout) -> int:
    world = layout.tensor_parallel * layout.data_parallel
    if layout.data_parallel > 1 and layout.expert_parallel:
        # Data parallel replicates what tensor parallel splits (attention, shared expert); EP splits the experts.
        return ckpt.dense_bytes // layout.tensor_parallel + ckpt.expert_bytes // world
    return ckpt.weights_bytes // world


def kv_bytes_per_token(ckpt: Checkpoint) -> int:
    """vLLM stores V4's KV cache in FP8 (`--kv-cache-dtype fp8`): half the bf16 figure."""
    return ckpt.kv_bytes_per_token_bf16 // 2


def breakdown(ckpt: Checkpoint, gpu: Gpu, layout: Layout, settings: Settings, nodes: int) -> MemoryBreakdown:
    world = layout.tensor_parallel * layout.data_parallel
    usable = int(cuda_total_bytes(gpu) * settings.gpu_memory_utilization)
    weights = weights_per_gpu(ckpt, layout)
    activations = settings.max_num_batched_tokens * ckpt.hidden_size * ACTIVATION_FACTOR
    if settings.enforce_eager:
        graphs = 0
    else:
        per_seq = CUDAGRAPH_PER_SEQ_BYTES // (4 if settings.cudagraph_decode_only else 1)
        graphs = CUDAGRAPH_BASE_BYTES + settings.max_num_seqs * per_seq
    workspace = ckpt.workspace_bytes_per_token * settings.max_model_len
    kv_free = (
        usable
        - weights
        - CUDA_CONTEXT_BYTES
        - nccl_bytes(world, nodes)
        - activations
        - graphs
        - workspace
        - settings.engine_reserve_bytes
    )
    per_token = kv_bytes_per_token(ckpt)
    window = ckpt.window_bytes_per_seq_per_layer * ckpt.layers
    # Each running sequence also holds its sliding-window state.
    kv_tokens = max(0, (kv_free - window * settings.max_num_seqs) // per_token) if kv_free > 0 else 0
    return MemoryBreakdown(
        reported_bytes=gpu.memory_bytes,
        cuda_bytes=cuda_total_bytes(gpu),
        gpu_memory_utilization=settings.gpu_memory_utilization,
        usable_bytes=usable,
        weights_bytes=weights,
        cuda_context_bytes=CUDA_CONTEXT_BYTES,
        nccl_bytes=nccl_bytes(world, nodes),
        activation_bytes=activations,
        cudagraph_bytes=graphs,
        workspace_bytes=workspace,
        kv_cache_bytes=max(0, kv_free),
        kv_bytes_per_token=per_token,
        kv_tokens=int(kv_tokens),
        engine_reserve_bytes=settings.engine_reserve_bytes,
    )


def runs(mem: MemoryBreakdown, max_model_len: int) -> bool:
    """vLLM starts only if the KV cache holds one full-length sequence."""
    return mem.kv_tokens >= max_model_len
