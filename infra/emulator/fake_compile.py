"""The stand-in engine's start-up lines after the weights, in vLLM's own formats, and its compile cache.

The formats are the engines' (read from the vLLM 0.25.0 wheel, as infra/startup_log.py cites them):
`default_loader.py` "Loading weights took %.2f seconds", `gpu_model_runner.py` "Model loading took %s GiB
memory and %.6f seconds", TileLang's `jit/kernel.py` "TileLang begins to compile kernel `{func_name}` with
`{out_idx=}`" through its own handler, and `v1/engine/core.py` "init engine (profile, create kv cache,
warmup model) took %.2f s". vLLM runs V4 without torch.compile (vllm/config/vllm.py), so a cold start
compiles TileLang kernels and a warm one logs no compile line at all.

The cache is a directory like TileLang's: `$TILELANG_CACHE_DIR` (default `~/.tilelang/cache`,
tilelang/env.py). A cold start writes one file per kernel there; a start that finds them compiles nothing.
The kernel names and the compile time are the emulator's own choices, not published figures.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

KERNELS = ("hc_prenorm_gemm_tilelang", "hc_post_tilelang", "hc_split_sinkhorn_tilelang")
# Simulated seconds to compile one kernel on a cold cache (the emulator's choice; nothing is published).
COMPILE_SECONDS_PER_KERNEL = 40.0
Log = Callable[[str, str, str], None]


def time_scale() -> float:
    return float(os.environ.get("EMULATOR_TIME_SCALE", "1") or 1)


def cache_dir() -> Path:
    home = Path(os.environ.get("HOME", "/root"))
    return Path(os.environ.get("TILELANG_CACHE_DIR") or home / ".tilelang" / "cache")


def weights_loaded(log: Log, load_seconds: float, weights_gib: float) -> None:
    """The loader's two lines, in simulated seconds (the engine's clock in the world it stands for)."""
    simulated = load_seconds * time_scale()
    log("INFO", "default_loader.py:438", f"Loading weights took {simulated:.2f} seconds")
    log(
        "INFO",
        "gpu_model_runner.py:2602",
        f"Model loading took {weights_gib:.4f} GiB memory and {simulated:.6f} seconds",
    )


def compile_kernels(emit: Callable[[str], None]) -> float:
    """Compile what the cache lacks (one TileLang line each); the simulated seconds it took."""
    directory = cache_dir()
    compiled = 0.0
    for name in KERNELS:
        entry = directory / f"{name}.so"
        if entry.is_file():
            continue
        stamp = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        emit(
            f"{stamp}  [TileLang:tilelang.jit.kernel:INFO] (kernel.py:133): TileLang begins to compile kernel "
            f"`{name}` with `out_idx=None`"
        )
        time.sleep(COMPILE_SECONDS_PER_KERNEL / time_scale())
        compiled += COMPILE_SECONDS_PER_KERNEL
        try:
            directory.mkdir(parents=True, exist_ok=True)
            entry.write_bytes(b"\x7fELF emulated TileLang kernel\n")
        except OSError:
            pass  # an unwritable cache compiles again next time, as TileLang would
    return compiled


def engine_ready(log: Log, compile_seconds: float, graph_seconds: float) -> None:
    log(
        "INFO",
        "core.py:338",
        f"init engine (profile, create kv cache, warmup model) took {compile_seconds + graph_seconds + 2.0:.2f} s",
    )
