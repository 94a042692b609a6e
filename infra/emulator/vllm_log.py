"""How the stand-in vLLM writes its log: vLLM's line format (`(APIServer pid=N) INFO 12-02 10:00:00 [file.py:N]
message`), and the Python tracebacks a crashing API server or engine core prints before it stops.
"""

from __future__ import annotations

import os
import time


class LaunchFailed(Exception):
    """The fake engine stops here; the log already says why."""


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


def site_path(path: str) -> str:
    return f"/usr/local/lib/python3.12/dist-packages/{path}"


API_FRAMES = [
    ("/usr/local/bin/vllm", 10, "<module>", "sys.exit(main())"),
    (site_path("vllm/entrypoints/cli/main.py"), 73, "main", "args.dispatch_function(args)"),
    (site_path("vllm/entrypoints/cli/serve.py"), 60, "cmd", "uvloop.run(run_server(args))"),
    (site_path("vllm/entrypoints/openai/api_server.py"), 1941, "run_server", "await run_server_worker(listen_address, sock, args, **uvicorn_kwargs)"),
    (site_path("vllm/entrypoints/openai/api_server.py"), 1961, "run_server_worker", "async with build_async_engine_client("),
    (site_path("vllm/engine/arg_utils.py"), 1161, "create_engine_config", "model_config = self.create_model_config()"),
]  # fmt: skip
ENGINE_FRAMES = [
    (site_path("vllm/v1/engine/core.py"), 699, "run_engine_core", "engine_core = EngineCoreProc(*args, **kwargs)"),
    (site_path("vllm/v1/engine/core.py"), 498, "__init__", "super().__init__(vllm_config, executor_class, log_stats,"),
    (site_path("vllm/v1/engine/core.py"), 83, "__init__", "self.model_executor = executor_class(vllm_config)"),
    (site_path("vllm/v1/worker/gpu_model_runner.py"), 2555, "load_model", "self.model = model_loader.load_model("),
]  # fmt: skip


def engine_failed(final: str) -> LaunchFailed:
    """An engine-core crash: its traceback, then the API server's summary line."""
    engine_log("ERROR", "core.py:708", "EngineCore failed to start.")
    traceback(ENGINE_FRAMES, final, process="EngineCore_DP0")
    traceback(
        API_FRAMES[:5],
        "RuntimeError: Engine core initialization failed. See root cause above. "
        "Failed core proc(s): {'EngineCore_DP0': 1}",
    )
    return LaunchFailed(final)


def api_failed(final: str) -> LaunchFailed:
    traceback(API_FRAMES, final)
    return LaunchFailed(final)
