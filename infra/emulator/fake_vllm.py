"""A stand-in `vllm` CLI: checks a launch like vLLM would, then serves an OpenAI-compatible API.

`vllm serve MODEL [flags]` (or `python3 -m vllm.entrypoints.openai.api_server --model MODEL`)
prints vLLM-like log lines, fails with vLLM's real error lines where a real launch would
(old image, too few GPUs, weights not in an offline cache, pipeline parallelism, TP16, injected
faults), otherwise "loads" for EMULATOR_LOAD_SECONDS and serves on 127.0.0.1:$EMULATOR_PORT_<port>.
`vllm bench serve ...` is the stand-in benchmark client (infra/emulator/fake_bench.py).

Serving faults (EMULATOR_ENGINE_FAULT): `garbled` answers GSM8K wrongly, `slow` decodes SLOW_FACTOR
times slower (infra/emulator/vllm_api.py); the others stop the launch with vLLM's own error lines.

The flags and the pod are `vllm_launch.py`'s, the checkpoint look-up `vllm_checkpoint.py`'s, the config
checks and the engine start `vllm_startup.py`'s, the log lines and tracebacks `vllm_log.py`'s.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from infra.emulator.fake_nvidia_smi import GPU_STATE_FILE
from infra.emulator.models import CheckpointSpec, GpuSpec, version_text, vllm_version_of_image
from infra.emulator.vllm_api import ServedModel, serve, stream_time_scale
from infra.emulator.vllm_checkpoint import hub_cache_dir, resolve_checkpoint
from infra.emulator.vllm_launch import FAULTS, SERVING_FAULTS, launch_from_env, nondefault_args, parse
from infra.emulator.vllm_log import LaunchFailed, api_failed, emit, engine_log, log
from infra.emulator.vllm_startup import check_config, start_engine

# Callers import the fault list (the rehearsal) and the log writers (the compile log) from here, as before.
__all__ = ["FAULTS", "api_server_main", "decode_seconds", "emit", "engine_log", "main", "run"]

# Decode step at concurrency 1 on H200, linear in active parameters through the SGLang cookbook's two
# H200 FP4 low-latency cells: Flash (13B active) TPOT 3.37 ms, Pro (49B) 5.64 ms, random 8,192/1,024
# (sgl-project/sglang docs_new/src/snippets/configs/deepseek-ai/deepseek-v4-benchmarks.jsx, read 2026-12-02).
_TPOT_BASE_SECONDS = 0.00255
_TPOT_PER_ACTIVE_B_SECONDS = 0.0000631


def decode_seconds(spec: CheckpointSpec, gpu: GpuSpec) -> float:
    """The stand-in's decode step for one stream, in simulated seconds (slower GPUs by their speed)."""
    return (_TPOT_BASE_SECONDS + _TPOT_PER_ACTIVE_B_SECONDS * spec.active_params_b) / gpu.speed


def run(argv: list[str]) -> int:
    args, unknown = parse(argv)
    launch = launch_from_env(args)
    version = version_text(launch.version)
    log("INFO", "api_server.py:1839", f"vLLM API server version {version}")
    log("INFO", "utils.py:233", f"non-default args: {nondefault_args(args)}")
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
