"""The report's start table: each phase as the plan predicted it against what the run measured.

Predicted: the plan's start by phase (`Plan.start`): the cold-cache start, or the warm one when the engine's
log shows nothing was compiled. Measured: the engine's own log lines (infra/startup_log.py, parsed by the
engine-health stage) for weights, compile and graph capture, and the lifecycle's own timing of the wait for
/health; whatever of that wait the log does not explain is its own row, so every GPU-second is counted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from infra.startup_log import HIT, MISS, NONE_COMPILED

PHASES = ("image pull", "hub download", "weights read", "compile", "graph capture")
VERDICT_TEXT = {
    HIT: "hit: the engine loaded its compiled artifacts from the cache",
    NONE_COMPILED: "hit: nothing was compiled (the cache held every kernel)",
    MISS: "miss: the engine compiled",
}


def _details(stages: Sequence[Mapping[str, Any]], name: str) -> Mapping[str, Any]:
    return next((s["details"] for s in stages if s["name"] == name), {})


def _measured(log: Mapping[str, Any], phase: str) -> float | None:
    if phase == "weights read":
        value = log.get("weights_load_s") or log.get("model_load_s")
    elif phase == "hub download":
        value = log.get("download_s")
    elif phase == "graph capture":
        value = log.get("graph_capture_s")
    elif phase == "compile":
        value = log.get("compile_s")
        init, graph = log.get("init_engine_s"), log.get("graph_capture_s") or 0.0
        if value is None and init is not None:
            value = max(0.0, float(init) - float(graph))  # init covers profile, compile/JIT and capture
    else:
        value = None
    return None if value is None else float(value)


def start_section(plan: Mapping[str, Any], stages: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Predicted against measured per phase, with GPU-seconds and dollars; None without a planned start."""
    start = plan.get("start")
    if not isinstance(start, Mapping):
        return None
    health = _details(stages, "engine-health")
    log = health.get("startup_log") or {}
    cache = log.get("cache")
    predicted = start["warm"] if cache in (HIT, NONE_COMPILED) else start["first"]
    gpus = int(plan.get("gpu_count") or 0) * int(plan.get("nodes") or 1)
    price = float((plan.get("cost") or {}).get("usd_per_gpu_hour") or 0.0)

    def cost(seconds: float | None) -> tuple[float | None, float | None]:
        if seconds is None:
            return None, None
        return round(seconds * gpus, 1), round(seconds * gpus / 3600 * price, 2)

    rows: list[dict[str, Any]] = []
    by_name = {p["phase"]: p for p in predicted["phases"]}
    logged = 0.0
    for name in PHASES:
        phase = by_name.get(name)
        measured = _measured(log, name) if log else None
        if phase is None and measured is None:
            continue
        logged += measured or 0.0
        gpu_s, usd = cost(measured)
        rows.append(
            {
                "phase": name,
                "predicted_s": None if phase is None else phase["seconds"],
                "predicted_gpu_s": None if phase is None else phase["gpu_seconds"],
                "predicted_usd": None if phase is None else phase["usd"],
                "basis": "not planned" if phase is None else phase["basis"],
                "measured_s": measured,
                "measured_gpu_s": gpu_s,
                "measured_usd": usd,
                "measured_from": "engine log" if measured is not None else "not in the engine log",
            }
        )
    waited = health.get("seconds_to_healthy")
    if isinstance(waited, int | float) and waited > logged:
        gpu_s, usd = cost(waited - logged)
        rows.append(
            {
                "phase": "rest of the wait for /health",
                "predicted_s": None,
                "predicted_gpu_s": None,
                "predicted_usd": None,
                "basis": "not planned",
                "measured_s": round(waited - logged, 1),
                "measured_gpu_s": gpu_s,
                "measured_usd": usd,
                "measured_from": "the lifecycle's timing of engine-health, less the logged phases",
            }
        )
    return {
        "predicted": predicted["label"],
        "predicted_total_gpu_s": predicted["gpu_seconds"],
        "predicted_unknown": list(predicted["unknown"]),
        "seconds_to_healthy": waited,
        "compile_cache": VERDICT_TEXT.get(str(cache), "unknown: the log ends before the start finished")
        if log
        else "unknown: no engine log was read",
        "compile_cache_evidence": log.get("cache_evidence"),
        "rows": rows,
        "rate": start.get("rate_note"),
        "loading": " ".join(start.get("load_flags") or []) or "no loading flag",
    }


def _num(value: object, digits: int = 0) -> str:
    return "—" if not isinstance(value, int | float) else f"{value:,.{digits}f}"


def markdown(section: Mapping[str, Any] | None, rehearsal: bool) -> list[str]:
    """The report's "Start by phase" section."""
    if not section:
        return []
    lines = [
        "",
        "## Start by phase",
        "",
        f"Predicted: {section['predicted']} ({_num(section['predicted_total_gpu_s'])} GPU-s"
        + (
            f"; unknown, counted as 0: {', '.join(section['predicted_unknown'])}"
            if section["predicted_unknown"]
            else ""
        )
        + f"). Weights: {section['rate']}. Loading: `{section['loading']}`.",
        "",
        f"Compile cache: {section['compile_cache']}"
        + (f" (`{section['compile_cache_evidence']}`)" if section.get("compile_cache_evidence") else "")
        + ".",
        "",
        "| Phase | Predicted s | Predicted GPU-s | Predicted $ | Basis | Measured s | Measured GPU-s | Measured $ | From |",
        "|---|---:|---:|---:|---|---:|---:|---:|---|",
    ]
    for r in section["rows"]:
        lines.append(
            f"| {r['phase']} | {_num(r['predicted_s'])} | {_num(r['predicted_gpu_s'])} | {_num(r['predicted_usd'], 2)} "
            f"| {r['basis']} | {_num(r['measured_s'])} | {_num(r['measured_gpu_s'])} | {_num(r['measured_usd'], 2)} "
            f"| {r['measured_from']} |"
        )
    if rehearsal:
        lines += [
            "",
            "_Rehearsal: measured phases are the stand-in engine's simulated seconds, not a GPU's._",
        ]
    return lines
