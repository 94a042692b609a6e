"""Evidence: the measured points of this account's own passing validations, looked up by config digest.

    ~/.local/share/deepseek-v4-infra/evidence.jsonl     one JSON object per line, appended, never rewritten

A point is what one passing `validate` measured for one workload: the configuration that produced it
(checkpoint and its revision, GPU, count, nodes, engine and version, a digest of the engine's flags
and environment), the workload, the benchmark's results, the accuracy score, and the date. The
configuration's digest is the lookup key, so another engine version, another revision or one changed
flag finds nothing and the planner falls back on published figures. A rehearsal's numbers are never
recorded: `record` takes `rehearsal` explicitly and writes nothing for one.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from infra.plan import EngineSpec

FORMAT = 1
# Values of these flags, and env keys matching this pattern, are secrets: their presence counts, not their value.
_SECRET_FLAGS = ("--api-key",)
_SECRET_ENV = re.compile(r"KEY|TOKEN|SECRET|PASSWORD", re.IGNORECASE)


def default_path() -> Path:
    """`$XDG_DATA_HOME/deepseek-v4-infra/evidence.jsonl` (XDG_DATA_HOME defaults to ~/.local/share)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "deepseek-v4-infra" / "evidence.jsonl"


def flags_digest(argv: Sequence[str], env: Mapping[str, str]) -> str:
    """sha256 of the engine's arguments (in order) and environment (sorted), secrets reduced to their keys."""
    args: list[str] = []
    hide = False
    for arg in argv:
        args.append("<secret>" if hide else arg)
        hide = arg in _SECRET_FLAGS
    environment = {
        key: ("<secret>" if _SECRET_ENV.search(key) else value) for key, value in sorted(env.items())
    }
    canonical = json.dumps({"argv": args, "env": environment}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class RunConfig:
    """What makes a measurement reusable: the same checkpoint revision on the same hardware and engine build."""

    model: str
    """The checkpoint's repo id."""
    revision: str
    """The revision the weight cache is filled from: what the stack asks the hub for (`main` today; a
    pinned commit keys its own points). The commit it resolved to is kept beside the point."""
    gpu: str
    gpu_count: int
    engine: str
    engine_version: str
    flags_digest: str
    nodes: int = 1

    @property
    def digest(self) -> str:
        canonical = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Workload:
    input_tokens: int
    output_tokens: int
    concurrency: int
    requests: int


@dataclass(frozen=True)
class Results:
    """The benchmark's figures (the engine's own client), times in ms."""

    output_tok_s: float
    requests_s: float
    ttft_p50_ms: float
    ttft_p99_ms: float
    tpot_p50_ms: float
    tpot_p99_ms: float
    itl_p50_ms: float
    itl_p99_ms: float


@dataclass(frozen=True)
class Accuracy:
    task: str
    score: float
    questions: int
    interval_95: tuple[float, float]


@dataclass(frozen=True)
class MeasuredPoint:
    config: RunConfig
    workload: Workload
    results: Results
    accuracy: Accuracy | None
    date: str
    """YYYY-MM-DD of the run."""
    stack: str = ""
    commit: str = ""
    """The checkpoint commit the weight cache held, where the run knew it."""
    image_digest: str = ""
    """The digest of the image that ran (`sha256:...`), where one was found."""
    image_source: str = ""
    """Where the digest (or, without one, the engine's version) was read (infra/validate/image_record.py)."""

    @property
    def label(self) -> str:
        return f"measured on this account on {self.date}"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["format"] = FORMAT
        data["digest"] = self.config.digest
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MeasuredPoint:
        accuracy = data.get("accuracy")
        return cls(
            config=RunConfig(**data["config"]),
            workload=Workload(**data["workload"]),
            results=Results(**data["results"]),
            accuracy=None
            if accuracy is None
            else Accuracy(
                accuracy["task"],
                float(accuracy["score"]),
                int(accuracy["questions"]),
                (float(accuracy["interval_95"][0]), float(accuracy["interval_95"][1])),
            ),
            date=str(data["date"]),
            stack=str(data.get("stack", "")),
            commit=str(data.get("commit", "")),
            image_digest=str(data.get("image_digest", "")),
            image_source=str(data.get("image_source", "")),
        )

    def check(self) -> MeasuredPoint:
        """Refuse a point no engine could have measured (a parse gone wrong must not teach the planner)."""
        numbers = asdict(self.results)
        bad = [
            key
            for key, value in numbers.items()
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0)
        ]
        if self.results.output_tok_s <= 0:
            bad.append("output_tok_s")
        if self.accuracy is not None and not 0.0 <= self.accuracy.score <= 1.0:
            bad.append("accuracy.score")
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", self.date):
            bad.append("date")
        if bad:
            raise ValueError(f"evidence point with impossible values: {', '.join(sorted(set(bad)))}")
        return self


# The revision every stack fills its weight cache from (the pre-fill and the download Job ask for it).
DEFAULT_REVISION = "main"


def run_config_of(
    model: str, gpu: str, gpu_count: int, nodes: int, engine: EngineSpec, revision: str = DEFAULT_REVISION
) -> RunConfig:
    """The configuration a plan runs: the planner asks for own points with it, validate records under it."""
    return RunConfig(
        model=model,
        revision=revision,
        gpu=gpu,
        gpu_count=gpu_count,
        engine=engine.name,
        engine_version=engine.version,
        flags_digest=flags_digest([*engine.command, *engine.args], engine.env),
        nodes=nodes,
    )


def point_from_reports(
    config: RunConfig,
    benchmark: Mapping[str, Any],
    accuracy_details: Mapping[str, Any] | None,
    date: str,
    stack: str = "",
    *,
    commit: str = "",
    image_digest: str = "",
    image_source: str = "",
) -> MeasuredPoint:
    """A point from the stages' report data: `BenchResult.as_dict()` and the accuracy stage's details."""
    accuracy = None
    if accuracy_details is not None:
        low, high = accuracy_details["interval_95"]
        accuracy = Accuracy(
            str(accuracy_details["task"]),
            float(accuracy_details["score"]),
            int(accuracy_details["questions"]),
            (float(low), float(high)),
        )
    workload = Workload(
        int(benchmark["input_tokens"]),
        int(benchmark["output_tokens"]),
        int(benchmark["concurrency"]),
        int(benchmark["requests"]),
    )
    results = Results(**{field: float(benchmark[field]) for field in Results.__dataclass_fields__})
    return MeasuredPoint(
        config, workload, results, accuracy, date, stack, commit, image_digest, image_source
    ).check()


class EvidenceStore:
    """The evidence file: appended under a lock, read tolerantly (a torn or foreign line is skipped)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()

    def record(self, points: Sequence[MeasuredPoint], *, rehearsal: bool) -> int:
        """Append the points of a passing validation; a rehearsal records nothing. Returns how many were written."""
        if rehearsal or not points:
            return 0
        lines = "".join(json.dumps(p.check().to_json(), sort_keys=True) + "\n" for p in points)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._locked("a") as handle:
            handle.write(lines)
            handle.flush()
            os.fsync(handle.fileno())
        return len(points)

    def points(self) -> list[MeasuredPoint]:
        """Every readable point, oldest first."""
        if not self.path.is_file():
            return []
        found: list[MeasuredPoint] = []
        with self._locked("r") as handle:
            for line in handle:
                with contextlib.suppress(ValueError, KeyError, TypeError, IndexError):
                    data = json.loads(line)
                    if data.get("format") == FORMAT:
                        point = MeasuredPoint.from_json(data)
                        # A line whose digest no longer matches its config was edited by hand: not evidence.
                        if point.config.digest == data.get("digest"):
                            found.append(point.check())
        return found

    def matching(self, config: RunConfig) -> list[MeasuredPoint]:
        """The points measured with exactly this configuration, oldest first."""
        return [p for p in self.points() if p.config.digest == config.digest]

    def throughput_point(
        self, config: RunConfig, input_tokens: int, output_tokens: int, concurrency: int
    ) -> MeasuredPoint | None:
        """The latest own point at this workload, for the planner to use before published ones."""
        same = [
            p
            for p in self.matching(config)
            if (p.workload.input_tokens, p.workload.output_tokens, p.workload.concurrency)
            == (input_tokens, output_tokens, concurrency)
        ]
        return max(same, key=lambda p: p.date, default=None)

    def first_accuracy(self, config: RunConfig, task: str = "gsm8k") -> tuple[float, str] | None:
        """(score, date) of the first recorded passing run with this configuration: the own reference."""
        for point in self.matching(config):
            if point.accuracy is not None and point.accuracy.task == task:
                return point.accuracy.score, point.date
        return None

    @contextlib.contextmanager
    def _locked(self, mode: str) -> Iterator[Any]:
        with self.path.open(mode, encoding="utf-8") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX if "a" in mode else fcntl.LOCK_SH)
            try:
                yield handle
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
