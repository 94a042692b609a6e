"""A serving machine reached through a shell: the pod's SSH session on RunPod, a local shell in a rehearsal.

Commands run in that shell, and so does the engine's own benchmark client, next to the engine (the
user's network is not measured). Kubernetes runs its benchmark in a Job instead
(infra/targets/kubernetes/bench_job.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from infra.validate.benchmark import RESULT_DIR, BenchResult, EngineUnderTest, Shell, Workload, run_benchmark


@dataclass(frozen=True)
class ShellMachine:
    """`ServingMachine` over a shell on the machine that serves (infra.validate.check_target)."""

    shell: Shell
    cache_dir: str
    engine_host: str = "127.0.0.1"
    result_dir: str = RESULT_DIR

    def run(self, cmd: Sequence[str] | str, timeout: float = 60.0, stdin: bytes | None = None) -> Any:
        return self.shell.run(cmd, timeout=timeout, stdin=stdin)

    def benchmark(
        self, workload: Workload, target: EngineUnderTest, api_key: str, timeout: float
    ) -> tuple[BenchResult, str]:
        return run_benchmark(self.shell, workload, target, api_key, timeout)
