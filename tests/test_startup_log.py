"""The engine's start-up log lines. The samples are built here from the engines' own format strings
(copied from the wheels, file named beside each) with the engines' own line prefixes; the numbers in
them are test inputs, not facts."""

from __future__ import annotations

import pytest

from infra.startup_log import HIT, MISS, NONE_COMPILED, UNKNOWN, parse

# vllm/logger.py (0.25.0): _FORMAT = "%(levelname)s %(asctime)s [%(fileinfo)s:%(lineno)d] %(message)s",
# dates "%m-%d %H:%M:%S"; the multiprocessing executor prefixes each worker's lines "(Worker_TP<n> pid=<pid>) ".
VLLM_FMT = "(Worker_TP{rank} pid={pid}) INFO 12-02 10:{minute:02d}:00 [{file}:{line}] {message}"
# vllm/model_executor/model_loader/default_loader.py
WEIGHTS = "Loading weights took %.2f seconds"
# vllm/v1/worker/gpu_model_runner.py
MODEL = "Model loading took %s GiB memory and %.6f seconds"
GRAPH = "Graph capturing finished in %.0f secs, took %.2f GiB"
# vllm/model_executor/model_loader/weight_utils.py
DOWNLOAD = "Time spent downloading weights for %s: %.6f seconds"
# vllm/compilation/monitor.py
COMPILE = "torch.compile took %.2f s in total"
# vllm/compilation/backends.py
HIT_LINE = "Directly load the compiled graph(s) for compile range %s from the cache, took %.3f s"
MISS_LINE = "Compiling a graph for compile range %s takes %.2f s"
# vllm/v1/engine/core.py
INIT = "init engine (profile, create kv cache, warmup model) took %.2f s (compilation: %.2f s)"
INIT_PLAIN = "init engine (profile, create kv cache, warmup model) took %.2f s"
# tilelang/jit/kernel.py (0.1.9): f"TileLang begins to compile kernel `{func_name}` with `{out_idx=}`",
# through the handler in tilelang/__init__.py: "%(asctime)s  [TileLang:%(name)s:%(levelname)s] (%(filename)s:%(lineno)d): %(message)s"
TILELANG = "2026-12-02 10:03:00  [TileLang:tilelang.jit.kernel:INFO] (kernel.py:133): TileLang begins to compile kernel `{name}` with `out_idx=None`"
# sglang/srt/utils/common.py configure_logger: "[%(asctime)s{prefix}] %(message)s", prefix " TP<n>"
SGLANG_FMT = "[2026-12-02 10:{minute:02d}:00 TP{rank}] {message}"


def _vllm(rank: int, file: str, line: int, message: str, minute: int = 1) -> str:
    return VLLM_FMT.format(rank=rank, pid=100 + rank, minute=minute, file=file, line=line, message=message)


def _cold_v4_start() -> str:
    """vLLM 0.25.0 loading V4 on 4 ranks: TileLang compiles its mHC kernels, torch.compile is off."""
    lines = [_vllm(0, "weight_utils.py", 531, DOWNLOAD % ("deepseek-ai/DeepSeek-V4-Flash", 0.812345))]
    for rank, took in enumerate([640.12, 655.40, 648.00, 651.75]):
        lines.append(_vllm(rank, "default_loader.py", 431, WEIGHTS % took))
        lines.append(_vllm(rank, "gpu_model_runner.py", 5307, MODEL % ("37.10", took + 9.5)))
        lines.append(TILELANG.format(name="hc_prenorm_gemm_tilelang"))
        lines.append(_vllm(rank, "gpu_model_runner.py", 6708, GRAPH % (21 + rank, 2.51)))
    lines.append("INFO 12-02 10:09:00 [core.py:338] " + INIT_PLAIN % 95.40)
    return "\n".join(lines)


def test_a_cold_v4_start_shows_its_phases_and_a_cache_miss() -> None:
    log = parse(_cold_v4_start(), "vllm", "0.25.0")
    assert log.verified
    assert log.weights_load_s == 655.40  # the slowest rank decides
    assert log.model_load_s == pytest.approx(664.90)
    assert log.graph_capture_s == 24
    assert log.download_s == pytest.approx(0.812345)
    assert log.init_engine_s == pytest.approx(95.40)
    assert log.compile_s is None  # torch.compile does not run for V4
    assert log.cache == MISS and "TileLang begins to compile kernel" in log.cache_evidence
    assert log.compiled_kernels == 1


def test_a_warm_v4_start_compiles_nothing() -> None:
    warm = "\n".join(line for line in _cold_v4_start().splitlines() if "TileLang" not in line)
    log = parse(warm, "vllm", "0.25.0")
    assert log.cache == NONE_COMPILED and log.compiled_kernels == 0


def test_a_torch_compile_cache_hit_and_miss_are_told_apart() -> None:
    hit = "\n".join(
        [
            _vllm(0, "backends.py", 293, HIT_LINE % ("(1, 8192)", 4.190)),
            _vllm(0, "monitor.py", 20, COMPILE % 9.85),
            "INFO 12-02 10:09:00 [core.py:338] " + INIT % (40.0, 9.85),
        ]
    )
    log = parse(hit, "vllm", "0.30.0")
    assert (
        log.cache == HIT and log.compile_s == pytest.approx(9.85) and "from the cache" in log.cache_evidence
    )
    miss = hit.replace(HIT_LINE % ("(1, 8192)", 4.190), MISS_LINE % ("(1, 8192)", 166.00))
    assert parse(miss, "vllm", "0.30.0").cache == MISS


def test_the_compile_time_falls_back_to_the_init_engine_line() -> None:
    text = "INFO 12-02 10:09:00 [core.py:338] " + INIT % (300.0, 166.5)
    log = parse(text, "vllm", "0.25.0")
    assert log.compile_s == pytest.approx(166.5) and log.init_engine_s == pytest.approx(300.0)


def test_a_log_that_stops_early_is_unknown_not_a_hit() -> None:
    text = _vllm(0, "default_loader.py", 431, WEIGHTS % 12.0)
    log = parse(text, "vllm", "0.25.0")
    assert log.cache == UNKNOWN and log.graph_capture_s is None and log.weights_load_s == 12.0


def test_an_unverified_version_is_flagged() -> None:
    assert not parse(_cold_v4_start(), "vllm", "0.33.0").verified


def test_sglang_lines_from_its_format_strings() -> None:
    # sglang/srt/model_executor/model_runner.py (0.5.12)
    weights = (
        "Load weight end. elapsed=%.2f s, type=DeepseekV4ForCausalLM, avail mem=%.2f GB, mem usage=%.2f GB."
    )
    graph = "Capture cuda graph end. Time elapsed: %.2f s. mem usage=%.2f GB. avail mem=%.2f GB."
    # sglang/srt/layers/deep_gemm_wrapper/compile_utils.py (0.5.12)
    precompile = "Entering DeepGEMM JIT Pre-Compile session. It may take a long time (typically 10-20 mins)"
    lines = [
        SGLANG_FMT.format(minute=1, rank=r, message=weights % (410.0 + r, 60.1, 80.2)) for r in range(8)
    ] + [SGLANG_FMT.format(minute=5, rank=0, message=precompile)] + [
        SGLANG_FMT.format(minute=20, rank=r, message=graph % (55.5 + r, 3.1, 20.0)) for r in range(8)
    ]  # fmt: skip
    log = parse("\n".join(lines), "sglang", "0.5.12")
    assert log.weights_load_s == 417.0 and log.graph_capture_s == pytest.approx(62.5)
    assert log.cache == MISS and "Pre-Compile" in log.cache_evidence
    warm = parse("\n".join(line for line in lines if "Pre-Compile" not in line), "sglang", "0.5.12")
    assert warm.cache == NONE_COMPILED
