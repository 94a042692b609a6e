"""How long the planner takes to sweep every model x GPU x engine x count 1..16 x nodes 1..2 (and its verdicts)."""

from __future__ import annotations

import time
from collections import Counter

from infra.catalog import load_catalog
from infra.planner import PlanRequest, _alternatives_cached, plan


def sweep() -> tuple[int, Counter[str]]:
    cat = load_catalog()
    verdicts: Counter[str] = Counter()
    n = 0
    for model in cat.checkpoints:
        for gpu in cat.gpus:
            for engine in cat.engines:
                for nodes in (1, 2):
                    for count in range(1, 17):
                        p = plan(PlanRequest(model, gpu, count, nodes, "kubernetes", engine), cat)
                        verdicts[p.verdict] += 1
                        n += 1
    return n, verdicts


def main() -> None:
    rows = []
    for label, clear in (("cold (alternatives not cached)", True), ("warm", False)):
        if clear:
            _alternatives_cached.cache_clear()
        start = time.perf_counter()
        n, verdicts = sweep()
        elapsed = time.perf_counter() - start
        rows.append((label, n, elapsed, verdicts))
    print(f"{'sweep':<32} {'plans':>6} {'seconds':>8} {'ms/plan':>8}  verdicts")
    for label, n, elapsed, verdicts in rows:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(verdicts.items()))
        print(f"{label:<32} {n:>6} {elapsed:>8.3f} {elapsed / n * 1000:>8.3f}  {counts}")


if __name__ == "__main__":
    main()
