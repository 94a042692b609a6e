"""The stand-in vLLM's start before it serves: the model and parallel config checks vLLM makes, then the engine
core's TP sharding, weight loading, memory profiling and CUDA-graph capture, failing with vLLM's own lines.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from infra.emulator import fake_compile
from infra.emulator.fake_nvidia_smi import GPU_STATE_FILE
from infra.emulator.models import GIB, MIB, CheckpointSpec, GpuSpec, version_text
from infra.emulator.vllm_checkpoint import missing_shards
from infra.emulator.vllm_launch import Launch
from infra.emulator.vllm_log import (
    API_FRAMES,
    LaunchFailed,
    api_failed,
    emit,
    engine_failed,
    engine_log,
    log,
    site_path,
    traceback,
)

# Torch, NCCL and CUDA-graph memory per GPU besides weights and workspace (emulator heuristic);
# eager mode captures no graphs, which is what makes Flash on 2x H100 a tight fit rather than none.
RUNTIME_RESERVE_BYTES = 4 * GIB
EAGER_RESERVE_BYTES = int(2.5 * GIB)
FP8_BLOCK = 128
# The graph capture time the stand-in reports (a V4-Flash start logged 22 s, vllm-project/vllm#50576; the
# emulator keeps its own shorter figure).
GRAPH_SECONDS = 12.0


def _oom(gpu: GpuSpec, budget: float, allocate: int) -> str:
    total = gpu.cuda_total_bytes
    in_use = min(total, int(budget))
    return (
        f"torch.OutOfMemoryError: CUDA out of memory. Tried to allocate {allocate / GIB:.2f} GiB. "
        f"GPU 0 has a total capacity of {total / GIB:.2f} GiB of which {(total - in_use) / MIB:.2f} MiB is free. "
        f"Including non-PyTorch memory, this process has {in_use / GIB:.2f} GiB memory in use. "
        f"Of the allocated memory {in_use / GIB - 1.52:.2f} GiB is allocated by PyTorch, and 1.02 GiB is "
        "reserved by PyTorch but unallocated. If reserved but unallocated memory is large try setting "
        "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation.  See documentation for "
        "Memory Management  (https://pytorch.org/docs/stable/notes/cuda.html#environment-variables)"
    )


def check_config(launch: Launch, spec: CheckpointSpec) -> int:
    """Model and parallel config checks vLLM makes before starting the engine; the max model len."""
    args = launch.args
    if launch.fault == "keyerror":
        traceback(
            [*API_FRAMES, (site_path("vllm/transformers_utils/configs/deepseek_v4.py"), 88, "__init__",
                'self.compress_ratios = attn_config["compressed_sparse_attention"]["ratios"]')],
            "KeyError: 'compressed_sparse_attention'",
        )  # fmt: skip
        raise LaunchFailed("keyerror")
    if launch.fault == "arch" or launch.version < spec.min_vllm:
        log(
            "WARNING",
            "registry.py:581",
            f"Model architecture {spec.architecture} is not supported by this build.",
        )
        raise api_failed(f"ValueError: Model architecture '{spec.architecture}' is not supported")
    max_len = args.max_model_len or spec.max_model_len
    if max_len > spec.max_model_len and os.environ.get("VLLM_ALLOW_LONG_MAX_MODEL_LEN") != "1":
        raise api_failed(
            f"ValueError: User-specified max_model_len ({max_len}) is greater than the derived max_model_len "
            f"(max_position_embeddings={spec.max_model_len} or model_max_length=None in model's config.json). "
            "To allow overriding this maximum, set the env var VLLM_ALLOW_LONG_MAX_MODEL_LEN=1. VLLM_ALLOW_LONG_MAX_MODEL_LEN "
            "must be used with extreme caution. If the model uses relative position encoding (RoPE), positions "
            "exceeding derived_max_model_len lead to nan. If the model uses absolute position encoding, positions "
            "exceeding derived_max_model_len will cause a CUDA array out-of-bounds error."
        )
    if launch.fault == "pp" or args.pipeline_parallel_size > 1:
        raise api_failed(
            "NotImplementedError: Pipeline parallelism is not supported for this model. "
            "Supported models implement the `SupportsPP` interface."
        )
    if launch.world_size > launch.gpu_count:
        raise api_failed(
            f"ValueError: World size ({launch.world_size}) is larger than the number of available GPUs "
            f"({launch.gpu_count}) in this node. If this is intentional and you are using:\n"
            "- ray, set '--distributed-executor-backend ray'.\n"
            "- multiprocessing, set '--nnodes' appropriately."
        )
    if launch.world_size < launch.gpu_count:
        log("WARNING", "parallel.py:412", f"World size {launch.world_size} uses {launch.world_size} of "
            f"{launch.gpu_count} visible GPUs; the others stay idle.")  # fmt: skip
    speculative = json.loads(args.speculative_config) if args.speculative_config else None
    if speculative and speculative.get("method") == "mtp" and not spec.mtp:
        tokens = speculative.get("num_speculative_tokens", 1)
        raise api_failed(f"ValueError: num_speculative_tokens:{tokens} must be divisible by n_predict=0")
    return max_len


def start_engine(launch: Launch, spec: CheckpointSpec, folder: Path | None, max_len: int) -> int:
    """The engine core: TP sharding, weights loading, memory profiling. Returns MiB used per GPU."""
    args = launch.args
    gpu = launch.gpu
    assert gpu is not None
    engine_log(
        "INFO", "core.py:94",
        f"Initializing a V1 LLM engine (v{version_text(launch.version)}) with config: model='{args.model}', "
        f"tokenizer='{args.model}', trust_remote_code={args.trust_remote_code}, max_seq_len={max_len}, "
        f"download_dir={args.download_dir!r}, load_format=auto, tensor_parallel_size={args.tensor_parallel_size}, "
        f"pipeline_parallel_size={args.pipeline_parallel_size}, data_parallel_size={args.data_parallel_size}, "
        f"quantization=fp8, enforce_eager={args.enforce_eager}, kv_cache_dtype={args.kv_cache_dtype}",
    )  # fmt: skip
    state_path = Path(os.environ.get("EMULATOR_SANDBOX", "/nonexistent")) / GPU_STATE_FILE
    holder = _gpu_holder(state_path)
    if holder is not None:
        total = gpu.cuda_total_bytes
        raise engine_failed(
            f"ValueError: Free memory on device ({(total - holder * MIB) / GIB:.2f}/{total / GIB:.2f} GiB) on "
            f"startup is less than desired GPU memory utilization ({args.gpu_memory_utilization}, "
            f"{total * args.gpu_memory_utilization / GIB:.2f} GiB). Decrease GPU memory utilization or reduce "
            "GPU memory used by other processes."
        )
    shard_width = spec.expert_width // args.tensor_parallel_size
    if launch.fault == "tp16" or spec.expert_width % args.tensor_parallel_size or shard_width % FP8_BLOCK:
        time.sleep(min(launch.load_seconds, 0.3))
        width = spec.expert_width // 16 if launch.fault == "tp16" else shard_width
        raise engine_failed(
            f"ValueError: The output_size of gate's and up's weight = {width} is not divisible by "
            f"weight quantization block_n = {FP8_BLOCK}."
        )
    if launch.fault == "oom":
        time.sleep(min(launch.load_seconds, 0.3))
        raise engine_failed(_oom(gpu, gpu.cuda_total_bytes * args.gpu_memory_utilization, 2 * GIB))
    budget = gpu.cuda_total_bytes * args.gpu_memory_utilization
    reserve = EAGER_RESERVE_BYTES if args.enforce_eager else RUNTIME_RESERVE_BYTES
    # Expert parallel spreads the weights over every GPU of every node, not just this node's.
    weights_per_gpu = spec.weights_bytes // max(
        launch.args.tensor_parallel_size
        * launch.args.pipeline_parallel_size
        * launch.args.data_parallel_size,
        1,
    )
    missing, shard_count = missing_shards(folder) if folder is not None else ([], spec.shards)
    if folder is None:
        log("INFO", "weight_utils.py:313", f"Fetching {spec.shards} files from {args.model} (downloading)")
    _load_progress(launch.load_seconds, shard_count or spec.shards, missing)
    if missing:
        if missing == ["*.safetensors"]:
            raise engine_failed(f"RuntimeError: Cannot find any model weights with `{args.model}`")
        raise engine_failed(
            "ValueError: Following weights were not initialized from checkpoint: "
            f"{{'model.layers.0.mlp.experts.w13_weight' from {missing[0]}, ...}}"
        )
    if weights_per_gpu + reserve > budget:
        raise engine_failed(_oom(gpu, budget, int(weights_per_gpu + reserve - budget) + GIB))
    fake_compile.weights_loaded(engine_log, launch.load_seconds, weights_per_gpu / GIB)
    workspace = spec.workspace_bytes_per_token * max_len
    if weights_per_gpu + reserve + workspace > budget:
        raise engine_failed(_oom(gpu, budget, workspace))
    kv_bytes = budget - weights_per_gpu - reserve - workspace
    engine_log("INFO", "gpu_worker.py:298", f"Available KV cache memory: {kv_bytes / GIB:.2f} GiB")
    engine_log("INFO", "kv_cache_utils.py:1087", f"GPU KV cache size: {int(kv_bytes // 3500):,} tokens")
    compiled = fake_compile.compile_kernels(emit)
    graph = 0.0
    if not args.enforce_eager:
        graph = GRAPH_SECONDS
        engine_log(
            "INFO", "gpu_model_runner.py:3480", f"Graph capturing finished in {graph:.0f} secs, took 1.23 GiB"
        )
    fake_compile.engine_ready(engine_log, compiled, graph)
    return int(budget // MIB)


def _gpu_holder(state_path: Path) -> int | None:
    """MiB another live engine in this pod holds on each GPU, if one does."""
    try:
        state = json.loads(state_path.read_text())
        if int(state["pid"]) == os.getpid():
            return None
        os.kill(int(state["pid"]), 0)
    except (OSError, ValueError, KeyError):
        return None
    return int(state["used_mib"])


def _load_progress(seconds: float, shards: int, missing: list[str]) -> None:
    steps = max(1, min(shards, 10))
    started = time.monotonic()
    for step in range(steps + 1):
        done = shards * step // steps
        if missing and done >= shards - len(missing):
            return
        elapsed = time.monotonic() - started
        emit(
            f"(EngineCore_DP0 pid={os.getpid()}) Loading safetensors checkpoint shards: "
            f"{100 * done // shards:3d}% Completed | {done}/{shards} [{_mmss(elapsed)}<{_mmss(seconds - elapsed)}]"
        )
        if step < steps:
            time.sleep(seconds / steps)


def _mmss(seconds: float) -> str:
    whole = max(0, int(seconds))
    return f"{whole // 60:02d}:{whole % 60:02d}"
