"""Strict recording fakes of the lifecycle's dependencies: a Target, a StackEngine and a clock.

Each fake answers only what a test scripted and raises `Unscripted` on anything else, so a test also
proves what the lifecycle did NOT call (SkyPilot's recording fake of the RunPod edge,
tests/unit_tests/test_sky/provision/test_runpod_utils.py, works the same way). Every call is recorded in
one shared `Calls` list, so the order across the target and the engine can be asserted.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from infra.stack_engine import CrashedRun, StackValue, UpResult
from infra.targets.base import Billed, Endpoint, LineSource
from infra.validate.stages import StageResult


class Unscripted(AssertionError):
    """The lifecycle called something the test did not expect."""


Calls = list[str]


@dataclass
class Scripted:
    """Answers per verb: queued ones are used once each, in order; a standing one answers every call after.

    An answer is a value to return, an exception to raise, or a callable run with the call's arguments."""

    calls: Calls
    who: str
    queued: dict[str, deque[Any]] = field(default_factory=dict)
    standing: dict[str, Any] = field(default_factory=dict)

    def then(self, verb: str, *answers: Any) -> Scripted:
        self.queued.setdefault(verb, deque()).extend(answers)
        return self

    def always(self, verb: str, answer: Any) -> Scripted:
        self.standing[verb] = answer
        return self

    def answer(self, verb: str, *args: Any) -> Any:
        self.calls.append(f"{self.who}.{verb}")
        queue = self.queued.get(verb)
        if queue:
            found = queue.popleft()
        elif verb in self.standing:
            found = self.standing[verb]
        else:
            raise Unscripted(f"unscripted call {self.who}.{verb}{args}")
        if isinstance(found, BaseException):
            raise found
        if callable(found):
            return found(*args)
        return found


class FakeTarget:
    """The `Target` protocol, scripted."""

    provider = "the fake provider"
    up_steps = "fake resources"

    def __init__(self, calls: Calls) -> None:
        self.script = Scripted(calls, "target")
        # `up` polls this from a thread once a second; a fast fake `up` rarely gives it the chance.
        self.script.always("progress_line", None)

    def progress_line(self) -> str | None:
        return self.script.answer("progress_line")  # type: ignore[no-any-return]

    def endpoint(self, outputs: Mapping[str, Any]) -> Endpoint:
        return self.script.answer("endpoint", outputs)  # type: ignore[no-any-return]

    @contextlib.contextmanager
    def shell(self, outputs: Mapping[str, Any]) -> Iterator[None]:
        self.script.answer("shell", outputs)
        yield None

    def gpu_preflight(self, shell: Any, outputs: Mapping[str, Any]) -> StageResult:
        return self.script.answer("gpu_preflight", outputs)  # type: ignore[no-any-return]

    def logs(self, shell: Any, outputs: Mapping[str, Any]) -> LineSource:
        return self.script.answer("logs", outputs)  # type: ignore[no-any-return]

    def alive(self, outputs: Mapping[str, Any]) -> bool:
        return self.script.answer("alive", outputs)  # type: ignore[no-any-return]

    def billed(self, stack: str, include_cache: bool) -> list[Billed]:
        return self.script.answer("billed", stack, include_cache)  # type: ignore[no-any-return]

    def remove(self, item: Billed) -> None:
        self.script.answer("remove", item)

    def contract_check(self, max_age_days: float, say: Callable[[str], None]) -> StageResult | None:
        return self.script.answer("contract_check")  # type: ignore[no-any-return]

    def machine(self, shell: Any, outputs: Mapping[str, Any]) -> Any:
        return self.script.answer("machine", outputs)

    def image_id(self, outputs: Mapping[str, Any]) -> str | None:
        return self.script.answer("image_id", outputs)  # type: ignore[no-any-return]


class FakeEngine:
    """The `StackEngine` protocol, scripted."""

    def __init__(self, calls: Calls) -> None:
        self.script = Scripted(calls, "engine")

    def crashed_run(self) -> CrashedRun | None:
        return self.script.answer("crashed_run")  # type: ignore[no-any-return]

    def forget_crashed_run(self) -> None:
        self.script.answer("forget_crashed_run")

    def up(self, on_output: Callable[[str], None]) -> UpResult:
        return self.script.answer("up")  # type: ignore[no-any-return]

    def destroy(self, on_output: Callable[[str], None]) -> None:
        self.script.answer("destroy")

    def refresh(self, on_output: Callable[[str], None], *, clear_pending_creates: bool) -> None:
        self.script.answer("refresh", clear_pending_creates)

    def preview(self, on_output: Callable[[str], None]) -> dict[str, int]:
        return self.script.answer("preview")  # type: ignore[no-any-return]

    def outputs(self) -> dict[str, StackValue]:
        return self.script.answer("outputs")  # type: ignore[no-any-return]

    def exists(self) -> bool:
        return self.script.answer("exists")  # type: ignore[no-any-return]

    def config(self) -> dict[str, StackValue]:
        return self.script.answer("config")  # type: ignore[no-any-return]

    def recorded_ids(self) -> set[str]:
        return self.script.answer("recorded_ids")  # type: ignore[no-any-return]


@dataclass
class FakeClock:
    """A clock that never waits: `sleep` moves both clocks on and is recorded."""

    now: float
    """Wall-clock seconds since the epoch."""
    elapsed: float = 0.0
    slept: list[float] = field(default_factory=list)

    def monotonic(self) -> float:
        return self.elapsed

    def time(self) -> float:
        return self.now + self.elapsed

    def sleep(self, seconds: float, /) -> None:
        self.slept.append(seconds)
        self.elapsed += seconds
