"""The engine's own start-up log lines: weight loading, compile, graph capture, and whether the compile
cache was hit.

Every pattern is one of the engine's format strings, with the file it is logged from (identical in the
vLLM 0.20.0, 0.25.0, 0.30.0 and 0.31.0 wheels; SGLang 0.5.12; TileLang 0.1.8-0.1.12). A line may carry
any prefix (vLLM's `(Worker_TP3 pid=97) INFO 06-27 19:29:16 [default_loader.py:438] `, SGLang's
`[2026-06-24 11:53:25 TP0] `). Each rank logs its own lines; the slowest rank decides when the engine
is ready, so a phase is the largest value over the ranks.

Cache verdict: "miss" when anything was compiled (a torch.compile graph, a TileLang kernel, SGLang's
DeepGEMM pre-compile); "hit" when the engine says it loaded compiled artifacts and nothing was compiled;
"none compiled" when a start that finished (graph capture or engine init logged) compiled nothing the
engine logs: what a warm DeepSeek V4 start under vLLM shows, since torch.compile is off for V4
(vllm/config/vllm.py) and DeepGEMM and FlashInfer log nothing on a cache hit; "unknown" when the log
stops before the start finished.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

HIT, MISS, NONE_COMPILED, UNKNOWN = "hit", "miss", "none compiled", "unknown"
NUM = r"(\d+(?:\.\d+)?)"

VERIFIED = {"vllm": ("0.20.0", "0.25.0", "0.30.0", "0.31.0"), "sglang": ("0.5.12",)}

# vLLM ---------------------------------------------------------------------------------------------------
# vllm/model_executor/model_loader/default_loader.py: "Loading weights took %.2f seconds"
VLLM_WEIGHTS = re.compile(rf"Loading weights took {NUM} seconds")
# vllm/v1/worker/gpu_model_runner.py: "Model loading took %s GiB memory and %.6f seconds"
VLLM_MODEL = re.compile(rf"Model loading took \S+ GiB memory and {NUM} seconds")
# vllm/model_executor/model_loader/weight_utils.py: "Time spent downloading weights for %s: %.6f seconds"
VLLM_DOWNLOAD = re.compile(rf"Time spent downloading weights for .+: {NUM} seconds")
# vllm/compilation/monitor.py: "torch.compile took %.2f s in total"
VLLM_COMPILE = re.compile(rf"torch\.compile took {NUM} s in total")
# vllm/v1/engine/core.py: "init engine (profile, create kv cache, warmup model) took %.2f s (compilation: %.2f s)"
VLLM_INIT = re.compile(
    rf"init engine \(profile, create kv cache, warmup model\) took {NUM} s(?: \(compilation: {NUM} s)?"
)
# vllm/v1/worker/gpu_model_runner.py: "Graph capturing finished in %.0f secs, took %.2f GiB"
VLLM_GRAPH = re.compile(rf"Graph capturing finished in {NUM} secs, took {NUM} GiB")
# vllm/compilation/backends.py: "Directly load the compiled graph(s) for compile range %s from the cache, took %.3f s"
VLLM_HIT = re.compile(
    rf"Directly load the compiled graph\(s\) for compile range .* from the cache, took {NUM} s"
)
# vllm/compilation/decorators.py: "Directly load AOT compilation from path %s"
VLLM_AOT_HIT = re.compile(r"Directly load AOT compilation from path \S+")
# vllm/compilation/backends.py: "Compiling a graph for compile range %s takes %.2f s"
VLLM_MISS = re.compile(rf"Compiling a graph for compile range .* takes {NUM} s")

# SGLang -------------------------------------------------------------------------------------------------
# sglang/srt/model_executor/model_runner.py: f"Load weight end. elapsed={...:.2f} s, type=..."
SGLANG_WEIGHTS = re.compile(rf"Load weight end\. elapsed={NUM} s")
# sglang/srt/model_executor/model_runner.py: f"Capture {graph_backend} end. Time elapsed: {...:.2f} s."
# and f"Capture piecewise CUDA graph end. Time elapsed: {...:.2f} s."
SGLANG_GRAPH = re.compile(rf"Capture (?:cuda graph|piecewise CUDA graph) end\. Time elapsed: {NUM} s")
# sglang/srt/compilation/backend.py: "Compiling a graph for shape %s takes %.2f s" (and "for dynamic shape")
SGLANG_MISS = re.compile(rf"Compiling a graph for (?:shape .*|dynamic shape) takes {NUM} s")
# sglang/srt/layers/deep_gemm_wrapper/compile_utils.py: "Entering DeepGEMM JIT Pre-Compile session."
SGLANG_DG_MISS = re.compile(r"Entering DeepGEMM JIT Pre-Compile session")

# TileLang (vLLM's and SGLang's V4 kernels) --------------------------------------------------------------
# tilelang/jit/kernel.py: f"TileLang begins to compile kernel `{func_name}` with `{out_idx=}`", logged
# only when the kernel is compiled, not when it comes from TILELANG_CACHE_DIR (tilelang/cache/kernel_cache.py).
TILELANG_COMPILE = re.compile(r"TileLang begins to compile kernel `([^`]+)`")


@dataclass(frozen=True)
class StartupLog:
    engine: str
    version: str
    verified: bool  # the patterns were read from this version's sources
    weights_load_s: float | None
    model_load_s: float | None
    download_s: float | None
    compile_s: float | None
    graph_capture_s: float | None
    init_engine_s: float | None
    cache: str  # HIT, MISS, NONE_COMPILED or UNKNOWN
    cache_evidence: str  # the log line that decided it, or why there is none
    compiled_kernels: int  # TileLang kernels compiled in this start


def _largest(pattern: re.Pattern[str], lines: list[str], group: int = 1) -> float | None:
    values = [float(m.group(group)) for line in lines if (m := pattern.search(line)) and m.group(group)]
    return max(values) if values else None


def _first(patterns: tuple[re.Pattern[str], ...], lines: list[str]) -> str | None:
    for line in lines:
        if any(p.search(line) for p in patterns):
            return line.strip()
    return None


def parse(text: str, engine: str, version: str) -> StartupLog:
    """The timings and cache verdict a start-up log shows; absent lines give None, never a guess."""
    lines = text.splitlines()
    kernels = {m.group(1) for line in lines if (m := TILELANG_COMPILE.search(line))}
    if engine == "sglang":
        weights, model, download, init = _largest(SGLANG_WEIGHTS, lines), None, None, None
        compile_s = _largest(SGLANG_MISS, lines)
        graph = _largest(SGLANG_GRAPH, lines)
        misses: tuple[re.Pattern[str], ...] = (SGLANG_MISS, SGLANG_DG_MISS, TILELANG_COMPILE)
        hits: tuple[re.Pattern[str], ...] = ()
    else:
        weights, model = _largest(VLLM_WEIGHTS, lines), _largest(VLLM_MODEL, lines)
        download, init = _largest(VLLM_DOWNLOAD, lines), _largest(VLLM_INIT, lines)
        compile_s = _largest(VLLM_COMPILE, lines) or _largest(VLLM_INIT, lines, group=2)
        graph = _largest(VLLM_GRAPH, lines)
        misses, hits = (VLLM_MISS, TILELANG_COMPILE), (VLLM_HIT, VLLM_AOT_HIT)
    miss_line, hit_line = _first(misses, lines), _first(hits, lines)
    if miss_line:
        cache, evidence = MISS, miss_line
    elif hit_line:
        cache, evidence = HIT, hit_line
    elif graph is not None or init is not None:
        cache, evidence = NONE_COMPILED, "the start finished and the log shows nothing compiled"
    else:
        cache, evidence = UNKNOWN, "the log ends before the start finished, with no compile or cache line"
    return StartupLog(
        engine=engine,
        version=version,
        verified=version in VERIFIED.get(engine, ()),
        weights_load_s=weights,
        model_load_s=model,
        download_s=download,
        compile_s=compile_s,
        graph_capture_s=graph,
        init_engine_s=init,
        cache=cache,
        cache_evidence=evidence,
        compiled_kernels=len(kernels),
    )
