"""The stand-in engine logs its start in vLLM's own formats, so `startup_log.parse` reads a rehearsal's
log as it reads a real one: a cold compile cache shows TileLang compiling, the second start none."""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from infra.emulator import fake_compile
from infra.emulator.fake_vllm import emit, engine_log
from infra.startup_log import MISS, NONE_COMPILED, parse


def _start(load_seconds: float) -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        fake_compile.weights_loaded(engine_log, load_seconds, 37.1)
        compiled = fake_compile.compile_kernels(emit)
        engine_log("INFO", "gpu_model_runner.py:3480", "Graph capturing finished in 12 secs, took 1.23 GiB")
        fake_compile.engine_ready(engine_log, compiled, 12.0)
    return out.getvalue()


def test_a_second_start_with_the_cache_on_the_volume_compiles_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TILELANG_CACHE_DIR", str(tmp_path / "volume" / "tilelang"))
    monkeypatch.setenv("EMULATOR_TIME_SCALE", "1000")
    cold = parse(_start(0.5), "vllm", "0.31.0")
    assert cold.cache == MISS and cold.compiled_kernels == len(fake_compile.KERNELS)
    assert cold.weights_load_s == pytest.approx(500.0) and cold.model_load_s == pytest.approx(500.0)
    assert cold.graph_capture_s == 12 and cold.init_engine_s == pytest.approx(3 * 40 + 12 + 2)
    warm = parse(_start(0.5), "vllm", "0.31.0")
    assert warm.cache == NONE_COMPILED and warm.compiled_kernels == 0
    assert warm.init_engine_s == pytest.approx(14.0)


def test_without_the_cache_variable_each_new_container_compiles_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TILELANG_CACHE_DIR", raising=False)
    monkeypatch.setenv("EMULATOR_TIME_SCALE", "1000")
    for container in ("first", "second"):
        monkeypatch.setenv("HOME", str(tmp_path / container))
        assert parse(_start(0.1), "vllm", "0.31.0").cache == MISS
