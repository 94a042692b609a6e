"""A stand-in `vllm` CLI: checks a launch like vLLM would, then serves an OpenAI-compatible API.

`vllm serve MODEL [flags]` (or `python3 -m vllm.entrypoints.openai.api_server --model MODEL`)
prints vLLM-like log lines, fails with vLLM's real error lines where a real launch would
(old image, too few GPUs, weights not in an offline cache, pipeline parallelism, TP16, injected
faults), otherwise "loads" for EMULATOR_LOAD_SECONDS and serves on 127.0.0.1:$EMULATOR_PORT_<port>.
`vllm bench serve ...` is the stand-in benchmark client (infra/emulator/fake_bench.py).

Serving faults (EMULATOR_ENGINE_FAULT): `garbled` answers GSM8K wrongly, `slow` decodes SLOW_FACTOR
times slower (infra/emulator/vllm_api.py); the others stop the launch with vLLM's own error lines.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from infra.emulator import fake_compile
from infra.emulator.fake_nvidia_smi import GPU_STATE_FILE
from infra.emulator.models import (
    CHECKPOINTS,
    GIB,
    GPUS,
    MIB,
    CheckpointSpec,
    GpuSpec,
    version_text,
    vllm_version_of_image,
)
from infra.emulator.vllm_api import ServedModel, serve, stream_time_scale

# Torch, NCCL and CUDA-graph memory per GPU besides weights and workspace (emulator heuristic);
# eager mode captures no graphs, which is what makes Flash on 2x H100 a tight fit rather than none.
RUNTIME_RESERVE_BYTES = 4 * GIB
EAGER_RESERVE_BYTES = int(2.5 * GIB)
FP8_BLOCK = 128
# The graph capture time the stand-in reports (a V4-Flash start logged 22 s, vllm-project/vllm#50576; the
# emulator keeps its own shorter figure).
GRAPH_SECONDS = 12.0
LAUNCH_FAULTS = ("arch", "keyerror", "oom", "tp16", "pp", "hub401")
SERVING_FAULTS = ("garbled", "slow")
FAULTS = LAUNCH_FAULTS + SERVING_FAULTS
# Decode step at concurrency 1 on H200, linear in active parameters through the SGLang cookbook's two
# H200 FP4 low-latency cells: Flash (13B active) TPOT 3.37 ms, Pro (49B) 5.64 ms, random 8,192/1,024
# (sgl-project/sglang docs_new/src/snippets/configs/deepseek-ai/deepseek-v4-benchmarks.jsx, read 2026-12-02).
_TPOT_BASE_SECONDS = 0.00255
_TPOT_PER_ACTIVE_B_SECONDS = 0.0000631


def decode_seconds(spec: CheckpointSpec, gpu: GpuSpec) -> float:
    """The stand-in's decode step for one stream, in simulated seconds (slower GPUs by their speed)."""
    return (_TPOT_BASE_SECONDS + _TPOT_PER_ACTIVE_B_SECONDS * spec.active_params_b) / gpu.speed


class LaunchFailed(Exception):
    """The fake engine stops here; the log already says why."""


@dataclass
class Launch:
    args: argparse.Namespace
    version: tuple[int, int, int]
    gpu: GpuSpec | None
    gpu_count: int
    fault: str | None
    load_seconds: float
    pid: int = field(default_factory=os.getpid)

    @property
    def world_size(self) -> int:
        # GPUs on this node: a multi-node data-parallel rank runs only its local share (vLLM's
        # --data-parallel-size-local, docs/serving/data_parallel_deployment.md).
        return (
            self.args.tensor_parallel_size
            * self.args.pipeline_parallel_size
            * (self.args.data_parallel_size_local or self.args.data_parallel_size)
        )


def _timestamp() -> str:
    return time.strftime("%m-%d %H:%M:%S")


def emit(text: str) -> None:
    print(text, flush=True)


def log(level: str, source: str, message: str, process: str = "APIServer") -> None:
    emit(f"({process} pid={os.getpid()}) {level} {_timestamp()} [{source}] {message}")


def engine_log(level: str, source: str, message: str) -> None:
    log(level, source, message, process="EngineCore_DP0")


def traceback(frames: list[tuple[str, int, str, str]], final: str, process: str = "APIServer") -> None:
    """Print a Python traceback the way a crashing vLLM process does, ending in `final`."""
    prefix = f"({process} pid={os.getpid()}) "
    emit(prefix + "Traceback (most recent call last):")
    for path, line, function, code in frames:
        emit(prefix + f'  File "{path}", line {line}, in {function}')
        emit(prefix + f"    {code}")
    for final_line in final.splitlines():
        emit(prefix + final_line)


def _site(path: str) -> str:
    return f"/usr/local/lib/python3.12/dist-packages/{path}"


_API_FRAMES = [
    ("/usr/local/bin/vllm", 10, "<module>", "sys.exit(main())"),
    (_site("vllm/entrypoints/cli/main.py"), 73, "main", "args.dispatch_function(args)"),
    (_site("vllm/entrypoints/cli/serve.py"), 60, "cmd", "uvloop.run(run_server(args))"),
    (_site("vllm/entrypoints/openai/api_server.py"), 1941, "run_server", "await run_server_worker(listen_address, sock, args, **uvicorn_kwargs)"),
    (_site("vllm/entrypoints/openai/api_server.py"), 1961, "run_server_worker", "async with build_async_engine_client("),
    (_site("vllm/engine/arg_utils.py"), 1161, "create_engine_config", "model_config = self.create_model_config()"),
]  # fmt: skip
_ENGINE_FRAMES = [
    (_site("vllm/v1/engine/core.py"), 699, "run_engine_core", "engine_core = EngineCoreProc(*args, **kwargs)"),
    (_site("vllm/v1/engine/core.py"), 498, "__init__", "super().__init__(vllm_config, executor_class, log_stats,"),
    (_site("vllm/v1/engine/core.py"), 83, "__init__", "self.model_executor = executor_class(vllm_config)"),
    (_site("vllm/v1/worker/gpu_model_runner.py"), 2555, "load_model", "self.model = model_loader.load_model("),
]  # fmt: skip


def engine_failed(final: str) -> LaunchFailed:
    """An engine-core crash: its traceback, then the API server's summary line."""
    engine_log("ERROR", "core.py:708", "EngineCore failed to start.")
    traceback(_ENGINE_FRAMES, final, process="EngineCore_DP0")
    traceback(
        _API_FRAMES[:5],
        "RuntimeError: Engine core initialization failed. See root cause above. "
        "Failed core proc(s): {'EngineCore_DP0': 1}",
    )
    return LaunchFailed(final)


def api_failed(final: str) -> LaunchFailed:
    traceback(_API_FRAMES, final)
    return LaunchFailed(final)


def _human_int(text: str) -> int:
    """vLLM's human-readable integers: `200k` = 200000, `1K` = 1024, `1m`, `1M`."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmMgG]?)", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}")
    number, suffix = float(match.group(1)), match.group(2)
    scale = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "K": 2**10, "M": 2**20, "G": 2**30}[suffix]
    return int(number * scale)


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(prog="vllm serve", add_help=True)
    cli.add_argument("model_tag", nargs="?")
    cli.add_argument("--model")
    cli.add_argument("--host")
    cli.add_argument("--port", type=int, default=8000)
    cli.add_argument("--tensor-parallel-size", "-tp", type=int, default=1)
    cli.add_argument("--data-parallel-size", "-dp", type=int, default=1)
    cli.add_argument("--data-parallel-size-local", type=int)
    cli.add_argument("--pipeline-parallel-size", "-pp", type=int, default=1)
    cli.add_argument("--enable-expert-parallel", "-ep", action="store_true")
    cli.add_argument("--max-model-len", type=_human_int)
    cli.add_argument("--max-num-seqs", type=int, default=256)
    cli.add_argument("--max-num-batched-tokens", type=_human_int)
    cli.add_argument("--gpu-memory-utilization", type=float, default=0.9)
    cli.add_argument("--kv-cache-dtype", default="auto")
    cli.add_argument("--block-size", type=int)
    cli.add_argument("--served-model-name", nargs="+")
    cli.add_argument("--api-key")
    cli.add_argument("--enforce-eager", action="store_true")
    cli.add_argument("--trust-remote-code", action="store_true")
    cli.add_argument("--speculative-config")
    cli.add_argument("--compilation-config", "-O")
    cli.add_argument("--download-dir")
    cli.add_argument("--revision")
    cli.add_argument("--tokenizer-mode")
    cli.add_argument("--tool-call-parser")
    cli.add_argument("--reasoning-parser")
    cli.add_argument("--enable-auto-tool-choice", action="store_true")
    cli.add_argument("--moe-backend")
    cli.add_argument("--no-enable-flashinfer-autotune", action="store_true")
    cli.add_argument("--enable-prefix-caching", action=argparse.BooleanOptionalAction)
    cli.add_argument("--distributed-executor-backend")
    cli.add_argument("--dtype")
    cli.add_argument("--seed", type=int)
    cli.add_argument("--disable-log-requests", action="store_true")
    cli.add_argument("--uvicorn-log-level")
    return cli


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    cli = parser()
    args, unknown = cli.parse_known_args(argv)
    args.model = args.model_tag or args.model
    if not args.model:
        cli.error("the following arguments are required: model_tag")
    # Unknown long flags pass (the stand-in knows few of vLLM's); stray words and short flags do not.
    if unknown and (not unknown[0].startswith("--") or any(re.match(r"-[^-]", token) for token in unknown)):
        cli.error(f"unrecognized arguments: {' '.join(unknown)}")
    return args, unknown


def _nondefault(args: argparse.Namespace) -> dict[str, object]:
    defaults = vars(parser().parse_args([]))
    hidden = {"api_key", "model_tag"}
    return {
        key: ("******" if key in hidden else value)
        for key, value in vars(args).items()
        if key not in hidden and defaults.get(key) != value
    }


def hub_cache_dir(args: argparse.Namespace) -> Path:
    if args.download_dir:
        return Path(args.download_dir)
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    hf_home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    return Path(hf_home) / "hub"


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in ("1", "ON", "YES", "TRUE")


def snapshot_dir(cache: Path, repo_id: str, revision: str | None) -> Path | None:
    """The cached snapshot holding config.json, in huggingface_hub's cache layout."""
    repo_dir = cache / ("models--" + repo_id.replace("/", "--"))
    ref = repo_dir / "refs" / (revision or "main")
    candidates: list[Path] = []
    if ref.is_file():
        candidates.append(repo_dir / "snapshots" / ref.read_text().strip())
    elif revision:
        candidates.append(repo_dir / "snapshots" / revision)
    elif (repo_dir / "snapshots").is_dir():
        candidates.extend(sorted((repo_dir / "snapshots").iterdir()))
    return next((path for path in candidates if (path / "config.json").is_file()), None)


def missing_shards(folder: Path) -> tuple[list[str], int]:
    """Shards named by the index but absent from `folder`, and how many the checkpoint has."""
    index_path = folder / "model.safetensors.index.json"
    if not index_path.is_file():
        present = sorted(path.name for path in folder.glob("*.safetensors"))
        return ([] if present else ["*.safetensors"]), len(present)
    weight_map = json.loads(index_path.read_text()).get("weight_map", {})
    shards = sorted(set(weight_map.values()))
    return [name for name in shards if not (folder / name).exists()], len(shards)


def resolve_checkpoint(launch: Launch) -> tuple[CheckpointSpec, Path | None]:
    """Find the checkpoint's config as vLLM would (hub cache or local folder); fail like vLLM."""
    args = launch.args
    model: str = args.model
    local = Path(model)
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise api_failed(_invalid_repo(model))
        name = local.name.lower()
        spec = next((spec for repo, spec in CHECKPOINTS.items() if repo.split("/")[-1].lower() == name), None)
        if spec is None:
            spec = CheckpointSpec(model, _architecture(local), 0, 1, (0, 0, 0), False, 32768, 4096, 1.0, 0)
        return spec, local
    if launch.fault == "hub401":
        time.sleep(min(launch.load_seconds, 0.3))
        raise api_failed(_gated(model))
    cache = hub_cache_dir(args)
    folder = snapshot_dir(cache, model, args.revision)
    if folder is None and offline():
        raise api_failed(_offline_miss(model))
    spec = CHECKPOINTS.get(model)
    if spec is None:
        raise api_failed(_repo_not_found(model))
    return spec, folder


def _architecture(folder: Path) -> str:
    try:
        config = json.loads((folder / "config.json").read_text())
        return str((config.get("architectures") or ["LlamaForCausalLM"])[0])
    except (OSError, ValueError):
        return "LlamaForCausalLM"


def _invalid_repo(model: str) -> str:
    return (
        f"ValueError: Invalid repository ID or local directory specified: '{model}'.\n"
        "Please verify the following requirements:\n"
        "1. Provide a valid Hugging Face repository ID.\n"
        "2. Specify a local directory that contains a recognized configuration file.\n"
        "   - For Hugging Face models: ensure the presence of a 'config.json'.\n"
        "   - For Mistral models: ensure the presence of a 'params.json'."
    )


def _offline_miss(model: str) -> str:
    return (
        "huggingface_hub.errors.LocalEntryNotFoundError: Cannot find the requested files in the disk cache "
        "and outgoing traffic has been disabled. To enable hf.co look-ups and downloads online, "
        "set 'HF_HUB_OFFLINE=0' as environment variable.\n\n"
        "The above exception was the direct cause of the following exception:\n\n" + _invalid_repo(model)
    )


def _gated(model: str) -> str:
    return (
        "huggingface_hub.errors.GatedRepoError: 401 Client Error. (Request ID: Root=1-6630f1a2-3c1b2e4d5f6a7b8c9d0e1f2a)\n\n"
        f"Cannot access gated repo for url https://huggingface.co/{model}/resolve/main/config.json.\n"
        f"Access to model {model} is restricted. You must have access to it and be authenticated to access it. "
        "Please log in."
    )


def _repo_not_found(model: str) -> str:
    return (
        "huggingface_hub.errors.RepositoryNotFoundError: 404 Client Error. "
        "(Request ID: Root=1-6630f1a2-0a1b2c3d4e5f60718293a4b5)\n\n"
        f"Repository Not Found for url: https://huggingface.co/api/models/{model}/tree/main?recursive=True&expand=False.\n"
        "Please make sure you specified the correct `repo_id` and `repo_type`.\n"
        "If you are trying to access a private or gated repo, make sure you are authenticated. "
        "For more details, see https://huggingface.co/docs/huggingface_hub/authentication"
    )


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
            [*_API_FRAMES, (_site("vllm/transformers_utils/configs/deepseek_v4.py"), 88, "__init__",
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


def launch_from_env(args: argparse.Namespace) -> Launch:
    fault = os.environ.get("EMULATOR_ENGINE_FAULT") or None
    return Launch(
        args=args,
        version=vllm_version_of_image(os.environ.get("EMULATOR_IMAGE", "vllm/vllm-openai:latest")),
        gpu=GPUS.get(os.environ.get("EMULATOR_GPU_TYPE", "")),
        gpu_count=int(os.environ.get("EMULATOR_GPU_COUNT", "0") or 0),
        fault=fault if fault in FAULTS else None,
        load_seconds=float(os.environ.get("EMULATOR_LOAD_SECONDS", "1") or 0),
    )


def run(argv: list[str]) -> int:
    args, unknown = parse(argv)
    launch = launch_from_env(args)
    version = version_text(launch.version)
    log("INFO", "api_server.py:1839", f"vLLM API server version {version}")
    log("INFO", "utils.py:233", f"non-default args: {_nondefault(args)}")
    if unknown:
        log("WARNING", "arg_utils.py:1760", f"Ignoring unrecognized arguments: {' '.join(unknown)}")
    if launch.gpu is None or launch.gpu_count == 0:
        raise api_failed("RuntimeError: Failed to infer device type")
    spec, folder = resolve_checkpoint(launch)
    log("INFO", "model.py:547", f"Resolved architecture: {spec.architecture}")
    max_len = check_config(launch, spec)
    log("INFO", "model.py:1510", f"Using max model len {max_len}")
    used_mib = start_engine(launch, spec, folder, max_len)
    state_path = Path(os.environ.get("EMULATOR_SANDBOX", "/nonexistent")) / GPU_STATE_FILE
    if state_path.parent.is_dir():
        state_path.write_text(json.dumps({"pid": os.getpid(), "used_mib": used_mib}))
    names = args.served_model_name or [args.model]
    port = int(os.environ.get(f"EMULATOR_PORT_{args.port}", args.port))
    gpu = launch.gpu
    time_scale = stream_time_scale(float(os.environ.get("EMULATOR_TIME_SCALE", "1") or 1))
    served = ServedModel(
        names=names,
        root=args.model,
        max_model_len=max_len,
        api_key=args.api_key or os.environ.get("VLLM_API_KEY") or None,
        itl_seconds=decode_seconds(spec, gpu) / time_scale,
        version=version,
        fault=launch.fault if launch.fault in SERVING_FAULTS else None,
        hub_cache=hub_cache_dir(args),
    )
    log(
        "INFO",
        "api_server.py:1971",
        f"Starting vLLM API server on http://{args.host or '0.0.0.0'}:{args.port}",
    )
    serve(
        served,
        port,
        lambda message: log("INFO", "launcher.py:37", message),
        lambda line: emit(f"(APIServer pid={os.getpid()}) {line}"),
    )
    return 0


def _terminate(signum: int, frame: object) -> None:
    log("INFO", "launcher.py:80", "Shutting down FastAPI HTTP server.")
    sys.exit(0)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] in (["--version"], ["-v"]):
        emit(version_text(vllm_version_of_image(os.environ.get("EMULATOR_IMAGE", "vllm/vllm-openai:latest"))))
        return 0
    if args[:1] == ["bench"]:
        from infra.emulator import fake_bench

        return fake_bench.main(args[1:])
    if args[:1] != ["serve"]:
        emit("usage: vllm [-h] [-v] {chat,complete,serve,bench,collect-env,run-batch} ...")
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return run(args[1:])
    except LaunchFailed:
        return 1


def api_server_main() -> int:
    """`python3 -m vllm.entrypoints.openai.api_server --model M ...`: same as `vllm serve`."""
    return main(["serve", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
