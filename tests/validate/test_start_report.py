"""The report's start table: the plan's phases against the engine's own log lines and the lifecycle's
timing, GPU-seconds and dollars on both sides, and the compile-cache verdict from the log."""

from __future__ import annotations

import dataclasses

import pytest

from infra.planner import PlanRequest, plan
from infra.startup_log import parse
from infra.validate.start_report import markdown, start_section

VLLM = "(EngineCore_DP0 pid=7) INFO 12-02 10:01:00 [{file}] {message}"
TILELANG = "2026-12-02 10:03:00  [TileLang:tilelang.jit.kernel:INFO] (kernel.py:133): TileLang begins to compile kernel `k` with `out_idx=None`"


def _log(cold: bool) -> str:
    lines = [
        VLLM.format(file="default_loader.py:438", message="Loading weights took 700.00 seconds"),
        VLLM.format(
            file="gpu_model_runner.py:2602",
            message="Model loading took 37.1 GiB memory and 705.000000 seconds",
        ),
        *([TILELANG] if cold else []),
        VLLM.format(
            file="gpu_model_runner.py:3480", message="Graph capturing finished in 20 secs, took 1.23 GiB"
        ),
        VLLM.format(
            file="core.py:338", message="init engine (profile, create kv cache, warmup model) took 150.00 s"
        ),
    ]
    return "\n".join(lines)


def _stages(cold: bool, healthy_after: float) -> list[dict[str, object]]:
    startup = dataclasses.asdict(parse(_log(cold), "vllm", "0.31.0"))
    return [
        {"name": "engine-health", "details": {"startup_log": startup, "seconds_to_healthy": healthy_after}}
    ]


def test_a_cold_start_is_set_against_the_cold_prediction_phase_by_phase() -> None:
    p = plan(PlanRequest("flash", "H200", 4)).to_dict()
    section = start_section(p, _stages(cold=True, healthy_after=1000.0))
    assert section is not None
    assert section["predicted"] == "planned start, cold compile cache"
    assert (
        section["compile_cache"].startswith("miss") and "TileLang begins" in section["compile_cache_evidence"]
    )
    rows = {r["phase"]: r for r in section["rows"]}
    assert rows["weights read"]["measured_s"] == 700.0 and rows["weights read"]["measured_gpu_s"] == 2800.0
    assert rows["weights read"]["measured_usd"] == pytest.approx(2800 / 3600 * 3.59, abs=0.01)
    assert rows["weights read"]["basis"] == "published" and rows["weights read"]["predicted_s"] > 0
    assert rows["graph capture"]["measured_s"] == 20.0
    assert rows["compile"]["measured_s"] == 130.0  # init engine less the graph capture
    # The wait for /health that the log does not explain is counted too: 1000 - 700 - 130 - 20.
    assert rows["rest of the wait for /health"]["measured_s"] == 150.0
    text = "\n".join(markdown(section, rehearsal=True))
    assert "## Start by phase" in text and "| weights read |" in text and "simulated seconds" in text


def test_a_start_that_compiled_nothing_is_a_hit_against_the_warm_prediction() -> None:
    p = plan(PlanRequest("flash", "H200", 4)).to_dict()
    section = start_section(p, _stages(cold=False, healthy_after=10.0))
    assert section is not None and section["compile_cache"].startswith("hit: nothing was compiled")
    assert section["predicted"] == "planned start, warm compile cache"
    assert "rest of the wait for /health" not in {r["phase"] for r in section["rows"]}


def test_without_an_engine_log_the_prediction_stands_alone() -> None:
    p = plan(PlanRequest("flash", "H200", 4)).to_dict()
    section = start_section(p, [])
    assert section is not None and section["compile_cache"] == "unknown: no engine log was read"
    assert all(r["measured_s"] is None for r in section["rows"])
