"""What a start costs, phase by phase, from bandwidths: Flash on 4x H200 and Pro on 8x H200 on RunPod.

Pure arithmetic through the planner's own start model (infra/start_model.py, infra/startup.py): the image
pull at the published pull rate, the weights read at the volume's rate (the published figure, then the
measured-rate path with a probe record), the compile and graph-capture figures each engine publishes, and
the download at start at the published hub rate. The same inputs print the same table on any machine.

Rows per configuration and rate: the engine's default loading against the chosen strategy, a cold
against a warm compile cache, and reading the volume against downloading to the container disk.

    .venv/bin/python benchmarks/bench_startup.py [--measured benchmarks/sample-read-rates.jsonl]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from infra.plan_start import StartCost, StartPlan
from infra.planner import PlanRequest, plan

CONFIGS = (("flash", "H200", 4), ("pro", "H200", 8))
SAMPLE = Path(__file__).with_name("sample-read-rates.jsonl")


def rows(start: StartPlan) -> list[StartCost]:
    default, chosen_cold, chosen_warm, download = start.comparisons
    return [default, chosen_cold, chosen_warm, download]


def table(title: str, start: StartPlan) -> str:
    lines = [
        title,
        f"  weights: {start.rate_note}",
        f"  loading: {' '.join(start.load_flags) or 'no flag'} ({start.load_reason.split(';')[0]})",
        f"  {'start':44} {'seconds':>9} {'GPU-s':>10} {'$':>8}  unknown (counted as 0)",
    ]
    for r in rows(start):
        unknown = ", ".join(r.unknown) or "-"
        lines.append(f"  {r.label:44} {r.seconds:9,.0f} {r.gpu_seconds:10,.0f} {r.usd:8,.2f}  {unknown}")
    if start.hub_note:
        lines.append(f"  {start.hub_note}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--measured", type=Path, default=SAMPLE, help="read-rate probe records to plan with")
    args = parser.parse_args(argv)
    measured = tuple(line for line in args.measured.read_text().splitlines() if line.strip())
    print(
        "Start-up by phase from bandwidths (image pull, weights read, compile, graph capture); RunPod network\n"
        f"volume; measured records from {args.measured.name} (the sample is what a rehearsal's pre-fill probe read\n"
        "from the emulator's paced volume, which stands for the published 237 MB/s: not a RunPod measurement)"
    )
    for model, gpu, count in CONFIGS:
        for label, lines in (("published volume rate", ()), ("measured-rate path", measured)):
            p = plan(PlanRequest(model, gpu, count, measurements=lines))
            assert p.start is not None, f"{model} on {count}x {gpu} does not plan: {p.reasons[0]}"
            print()
            print(table(f"{p.model} on {count}x {gpu} (${p.cost.usd_per_hour:.2f}/h), {label}", p.start))
    return 0


if __name__ == "__main__":
    sys.exit(main())
