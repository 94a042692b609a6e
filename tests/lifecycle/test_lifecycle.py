"""The lifecycle's rules on strict fakes of its target, engine and clock: milliseconds, no emulator, no Pulumi.

Ordering of the verbs and stages; teardown in every outcome of `validate`; the destroy retry rules and the
teardown deadline; strays and orphans (billed minus owned); and Ctrl-C during teardown (issue 22): a
press there says what is still being removed and until when it would bill, teardown carries on, and only
the third press stops it, naming the command that finishes the job. The emulator and engine suites
(tests/engine, the other tests here) remain the integration judges of the same verbs.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from recording_fakes import Calls, FakeClock, FakeEngine, FakeTarget

from infra import cli, cli_lifecycle, evidence
from infra.config import StackSpec
from infra.errors import (
    AuthError,
    CapacityError,
    ConfigError,
    DeploymentError,
    ProviderError,
    RateLimitError,
    StateError,
    TeardownError,
    Terminated,
    TransientError,
    ValidationFailed,
    exit_code,
)
from infra.evidence import EvidenceStore
from infra.lifecycle import Lifecycle
from infra.plan import Plan
from infra.stack_engine import UpResult
from infra.targets.base import Billed, Target
from infra.validate import accuracy, benchmark
from infra.validate.pipeline import Stages
from infra.validate.stages import StageResult

STACK = "flash-4xh200"  # ttlMinutes: 120
POD = Billed("pod", "pod-1", "v4i-flash-4xh200-pod")
STRAY = Billed("pod", "pod-9", "v4i-flash-4xh200-pod-cut-short")
CACHE = Billed("volume", "vol-1", "v4i-flash-4xh200-cache", cache=True)
# 10:00 UTC: with the stack's 120-minute time-to-live, what is left bills until 12:00.
TEN_AM = datetime(2026, 12, 2, 10, 0, tzinfo=UTC).timestamp()


@dataclass
class Provider:
    """What the fake target's provider holds; `destroy` removes what the state records."""

    live: dict[str, Billed]
    state: set[str]

    def billed(self, stack: str, include_cache: bool) -> list[Billed]:
        return [b for b in self.live.values() if include_cache or not b.cache]

    def remove(self, item: Billed) -> None:
        self.live.pop(item.id, None)

    def destroy(self) -> None:
        for rid in self.state - {CACHE.id}:
            self.live.pop(rid, None)
        self.state &= {CACHE.id}

    def left(self) -> list[str]:
        return [b.label() for b in self.live.values() if not b.cache]


@dataclass
class World:
    calls: Calls
    target: FakeTarget
    engine: FakeEngine
    clock: FakeClock
    provider: Provider
    reports: Path
    checks_ran: list[str] = field(default_factory=list)

    def order(self) -> list[str]:
        return [c for c in self.calls if c != "target.progress_line"]


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setenv("V4INFRA_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)  # reports/ is written here
    calls: Calls = []
    provider = Provider({CACHE.id: CACHE}, {CACHE.id})
    target, engine = FakeTarget(calls), FakeEngine(calls)
    target.script.always("billed", provider.billed).always("remove", provider.remove)
    target.script.always("contract_check", StageResult("canary", True, 0.0, "canary passed", {}))
    engine.script.always("exists", False).always("crashed_run", None)
    engine.script.always("destroy", provider.destroy).always("recorded_ids", lambda: set(provider.state))

    def up() -> UpResult:
        provider.live[POD.id] = POD
        provider.state.add(POD.id)
        return UpResult({"pod_id": POD.id}, {"create": 3})

    engine.script.always("up", up)
    return World(calls, target, engine, FakeClock(TEN_AM), provider, tmp_path / "reports")


Checks = Callable[[Target, Mapping[str, Any], Plan, StackSpec, Stages], None]


def passing(world: World) -> Checks:
    def checks(
        target: Target, outputs: Mapping[str, Any], plan: Plan, spec: StackSpec, stages: Stages
    ) -> None:
        world.calls.append("checks")
        for name in ("gpu-preflight", "engine-health", "api", "load"):
            stages.add(StageResult(name, True, 0.0, "ok", {}))

    return checks


def lifecycle(world: World, checks: Checks | None = None, **kwargs: Any) -> Lifecycle:
    return Lifecycle(
        STACK,
        targets=lambda context: world.target,
        engines=lambda workspace, stack: world.engine,
        checks=checks or passing(world),
        clock=world.clock,
        **kwargs,
    )


def report_of(world: World) -> dict[str, Any]:
    (path,) = world.reports.glob(f"{STACK}/*/report.json")
    return dict(json.loads(path.read_text()))


# ---- ordering --------------------------------------------------------------------------------------------


def test_validate_runs_canary_up_checks_then_teardown_and_confirms_what_is_left(world: World) -> None:
    with lifecycle(world) as life:
        report, json_path, md_path = life.validate()
    assert world.order() == [
        "engine.exists",  # the stack's secret config, read on open
        "target.contract_check",
        "engine.crashed_run",  # a crashed run is healed before the first engine call
        "engine.up",
        "checks",
        "target.billed",  # what teardown is about to remove (for a Ctrl-C's warning)
        "engine.destroy",
        "engine.recorded_ids",
        "target.billed",  # strays: billed minus owned
        "target.billed",  # what is left, confirmed at the provider
        "target.billed",  # the kept weight cache, named in the confirmation
    ]
    assert [s.name for s in report.stages] == [
        "canary",
        "up",
        "gpu-preflight",
        "engine-health",
        "api",
        "load",
    ]
    assert report.passed and report.teardown is not None and report.teardown.ok
    assert json_path.is_file() and md_path.is_file()
    assert world.provider.left() == [] and CACHE.id in world.provider.live


def test_keep_leaves_a_passing_deployment_up_and_says_so(world: World) -> None:
    with lifecycle(world) as life:
        report, _, md_path = life.validate(keep=True)
    assert "engine.destroy" not in world.calls
    assert report.teardown is None and world.provider.left() == [POD.label()]
    assert "Not torn down (`--keep`)" in md_path.read_text()


def test_a_failed_canary_rents_nothing_and_runs_no_check(world: World) -> None:
    world.target.script.always("contract_check", StageResult("canary", False, 0.0, "pods cannot stop", {}))
    with lifecycle(world) as life:
        report, _, _ = life.validate()
    assert "engine.up" not in world.calls and "checks" not in world.calls
    assert [s.name for s in report.stages] == ["canary"] and not report.passed
    assert report.teardown is not None and report.teardown.ok


# ---- teardown in every outcome ---------------------------------------------------------------------------


def failing_stage(world: World) -> Checks:
    def checks(
        target: Target, outputs: Mapping[str, Any], plan: Plan, spec: StackSpec, stages: Stages
    ) -> None:
        stages.add(StageResult("gpu-preflight", False, 0.0, "3 GPUs visible; the plan needs 4", {}))

    return checks


def raising(what: Callable[[], None]) -> Callable[[World], Checks]:
    def make(world: World) -> Checks:
        def checks(
            target: Target, outputs: Mapping[str, Any], plan: Plan, spec: StackSpec, stages: Stages
        ) -> None:
            what()

        return checks

    return make


def _bug() -> None:
    raise RuntimeError("a bug in a check")


def fail_up(world: World) -> None:
    def up() -> UpResult:
        world.provider.live[POD.id] = POD  # created, then the next create found no capacity
        world.provider.state.add(POD.id)
        raise CapacityError("no capacity for 4x NVIDIA H200 in US-TX-3", resource="gpu pod")

    world.engine.script.always("up", up)


def fail_destroy(world: World) -> None:
    world.engine.script.always("destroy", DeploymentError("the engine lost its plugin"))


def flaky_provider(world: World) -> None:
    world.provider.live[STRAY.id] = STRAY  # no state records it: removed by id, through 429s and a 502
    world.target.script.then("remove", RateLimitError("429 slow down"), TransientError("502 bad gateway"))


OUTCOMES: dict[str, tuple[Callable[[World], Checks] | None, Callable[[World], None] | None, Any, bool]] = {
    # outcome: (checks, arrangement, what validate raises, whether teardown is confirmed)
    "pass": (None, None, None, True),
    "a failed stage": (failing_stage, None, None, True),
    "a failed up": (None, fail_up, None, True),
    "an exception": (raising(_bug), None, RuntimeError, True),
    "Ctrl-C": (raising(lambda: signal.raise_signal(signal.SIGINT)), None, KeyboardInterrupt, True),
    "SIGTERM": (raising(lambda: signal.raise_signal(signal.SIGTERM)), None, Terminated, True),
    "an error during teardown": (None, fail_destroy, None, False),
    "a provider answering 429/5xx during teardown": (None, flaky_provider, None, True),
}


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_validate_tears_down_and_writes_its_report_in_every_outcome(world: World, outcome: str) -> None:
    checks, arrange, raises, confirmed = OUTCOMES[outcome]
    if arrange is not None:
        arrange(world)
    with lifecycle(world, checks(world) if checks else None) as life:
        if raises is None:
            life.validate()
        else:
            with pytest.raises(raises):
                life.validate()
    assert "engine.destroy" in world.calls, "teardown did not run"
    data = report_of(world)
    assert data["teardown"] is not None and data["teardown"]["ok"] is confirmed, data["teardown"]
    if confirmed:
        assert world.provider.left() == [], f"{outcome}: left billed"
    else:
        assert data["teardown"]["leftover"] == [POD.label()], "the report names what is left"
        assert world.engine.script.calls.count("engine.destroy") == 3, "destroy is tried three times"


def test_a_capacity_error_in_up_exits_with_its_own_code_the_report_naming_the_stage(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fail_up(world)

    def open_lifecycle(stack: str, **kwargs: Any) -> Lifecycle:
        return lifecycle(world, **kwargs)

    monkeypatch.setattr(cli_lifecycle, "Lifecycle", open_lifecycle)
    assert cli.main(["validate", STACK]) == exit_code(CapacityError("")) == 7
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert errors == ["error: up failed: no capacity for 4x NVIDIA H200 in US-TX-3"]
    data = report_of(world)
    assert data["failed_stage"] == "up" and "no capacity" in data["reason"]
    assert data["teardown"]["ok"] and world.provider.left() == [], "everything is torn down"


# ---- the destroy retry rules and the teardown deadline ---------------------------------------------------


def test_a_destroy_that_fails_once_is_retried_after_a_pause(world: World) -> None:
    world.engine.script.then("destroy", DeploymentError("lock busy"))
    with lifecycle(world) as life:
        assert life.down() == []
    assert world.calls.count("engine.destroy") == 2 and world.clock.slept == [2.0]


def test_three_failed_destroys_raise_a_teardown_error_naming_the_fix(world: World) -> None:
    fail_destroy(world)
    with lifecycle(world) as life, pytest.raises(TeardownError) as caught:
        life.down()
    assert world.calls.count("engine.destroy") == 3 and world.clock.slept == [2.0, 4.0]
    assert "pulumi destroy: the engine lost its plugin" in str(caught.value)
    assert f"v4infra cleanup {STACK} --yes" in str(caught.value)


def test_a_destroy_error_that_is_not_the_engines_is_not_retried(world: World) -> None:
    world.engine.script.always("destroy", AuthError("the API key was rejected"))
    with lifecycle(world) as life, pytest.raises(AuthError):
        life.down()
    assert world.calls.count("engine.destroy") == 1 and world.clock.slept == []


def test_teardown_outlasts_429s_with_backoff_and_gives_up_at_its_deadline(world: World) -> None:
    world.target.script.always("billed", RateLimitError("429 slow down"))
    with lifecycle(world, teardown_deadline=60.0) as life, pytest.raises(RateLimitError):
        life.down()
    assert world.clock.slept == [1.0, 2.0, 4.0, 8.0, 15.0, 15.0, 15.0]
    assert sum(world.clock.slept) <= 60.0, "waited past the deadline"


def test_a_provider_error_that_is_not_retryable_is_raised_at_once(world: World) -> None:
    world.target.script.always("billed", ProviderError("403 forbidden"))
    with lifecycle(world) as life, pytest.raises(ProviderError, match="403"):
        life.down()
    assert world.clock.slept == []


# ---- strays and orphans: billed minus owned --------------------------------------------------------------


def test_orphans_are_what_the_provider_bills_minus_what_the_state_owns(world: World) -> None:
    world.provider.live.update({POD.id: POD, STRAY.id: STRAY})
    world.provider.state = {POD.id}  # the cache is kept from an earlier run, which no state records now
    with lifecycle(world) as life:
        assert sorted(b.id for b in life.orphans()) == [STRAY.id, CACHE.id]
        world.provider.state.add(CACHE.id)
        assert life.orphans() == [STRAY]


def test_down_removes_strays_by_id_and_keeps_the_weight_cache(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.provider.live.update({POD.id: POD, STRAY.id: STRAY})
    world.provider.state.add(POD.id)
    with lifecycle(world) as life:
        assert life.down() == []
    assert world.provider.live == {CACHE.id: CACHE}
    assert f"removed {STRAY.label()}, which no Pulumi state recorded" in capsys.readouterr().out


def test_an_unreadable_state_removes_nothing_unless_forced(world: World) -> None:
    world.provider.live[STRAY.id] = STRAY
    world.engine.script.always("recorded_ids", StateError("cannot read the Pulumi state of flash-4xh200"))
    with lifecycle(world) as life:
        with pytest.raises(StateError, match="--force"):
            life.orphans()
        assert "target.remove" not in world.calls
        assert {b.id for b in life.orphans(force=True)} == {STRAY.id, CACHE.id}


# ---- Ctrl-C and SIGTERM during teardown (issue 22) -------------------------------------------------------


def presses_during_destroy(world: World, *signals: signal.Signals, finish: bool = True) -> None:
    def destroy() -> None:
        for sig in signals:
            signal.raise_signal(sig)
        if finish:
            world.provider.destroy()

    world.engine.script.always("destroy", destroy)


def test_ctrl_c_twice_during_teardown_names_what_is_removed_and_until_when_and_teardown_carries_on(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    presses_during_destroy(world, signal.SIGINT, signal.SIGINT)
    with lifecycle(world) as life:
        try:
            report, _, _ = life.validate()  # nothing was stopped, so nothing is raised
        except KeyboardInterrupt:
            pytest.fail("a second Ctrl-C stopped the teardown")
    shown = capsys.readouterr().out
    assert f"Ctrl-C: teardown carries on, still removing {POD.label()}." in shown
    assert "A third Ctrl-C stops it and leaves that billing until its time-to-live at 12:00 UTC" in shown
    assert shown.count("teardown carries on") == 2, "each press is answered once"
    assert report.teardown is not None and report.teardown.ok and world.provider.left() == []
    assert "teardown confirmed" in shown


def test_a_single_press_as_teardown_begins_is_answered_and_does_not_stop_it(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    def pressed_then_listed(stack: str, include_cache: bool) -> list[Billed]:
        signal.raise_signal(signal.SIGINT)  # the very first thing teardown asks the provider
        return world.provider.billed(stack, include_cache)

    world.target.script.then("billed", pressed_then_listed)
    with lifecycle(world) as life:
        try:
            report, _, _ = life.validate()
        except KeyboardInterrupt:
            pytest.fail("one Ctrl-C as teardown began stopped it")
    shown = capsys.readouterr().out
    assert "Only a third Ctrl-C (2 more) stops it" in shown, shown
    assert report.teardown is not None and report.teardown.ok and world.provider.left() == []


def test_the_third_press_stops_teardown_and_prints_the_command_that_finishes_it(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    presses_during_destroy(world, signal.SIGINT, signal.SIGINT, signal.SIGINT, finish=False)
    with lifecycle(world) as life, pytest.raises(KeyboardInterrupt):
        life.validate()
    shown = capsys.readouterr().out
    assert "teardown stopped by a third Ctrl-C; left billing until its time-to-live at 12:00 UTC" in shown
    assert f"`v4infra down {STACK}` finishes the job" in shown
    assert f"`v4infra cleanup {STACK} --yes` removes what no state records" in shown
    data = report_of(world)
    assert data["teardown"]["ok"] is False and data["teardown"]["leftover"] == [POD.label()]
    assert f"v4infra down {STACK}" in data["teardown"]["error"]
    assert f"report: reports/{STACK}/" in shown, "an interrupted run still says where its report is"


def test_a_press_during_the_checks_counts_as_the_first_so_the_next_one_warns_of_the_third(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    presses_during_destroy(world, signal.SIGINT)
    ctrl_c = raising(lambda: signal.raise_signal(signal.SIGINT))(world)
    with lifecycle(world, ctrl_c) as life, pytest.raises(KeyboardInterrupt):
        life.validate()
    shown = capsys.readouterr().out
    assert "interrupted (KeyboardInterrupt): tearing down" in shown
    assert "A third Ctrl-C stops it" in shown and world.provider.left() == []
    assert report_of(world)["teardown"]["ok"] is True


def test_sigterm_during_teardown_never_stops_it(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    presses_during_destroy(world, signal.SIGTERM, signal.SIGTERM, signal.SIGTERM)
    with lifecycle(world) as life:
        report, _, _ = life.validate()
    assert "SIGTERM: teardown carries on" in capsys.readouterr().out
    assert report.teardown is not None and report.teardown.ok and world.provider.left() == []


def test_sigterm_then_two_ctrl_c_stop_teardown_as_three_presses_do(world: World) -> None:
    presses_during_destroy(world, signal.SIGINT, signal.SIGINT, finish=False)
    sigterm = raising(lambda: signal.raise_signal(signal.SIGTERM))(world)
    with lifecycle(world, sigterm) as life, pytest.raises(Terminated):
        life.validate()  # the SIGTERM that started the teardown is what the run ends with
    assert report_of(world)["teardown"]["leftover"] == [POD.label()]


def test_a_permanent_stack_says_it_bills_until_removed(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    presses_during_destroy(world, signal.SIGINT, signal.SIGINT)
    with lifecycle(world) as life:
        life.spec = life.spec.__class__(**{**vars(life.spec), "ttl_minutes": None})
        life.validate()
    assert "billing until it is removed (the stack is permanent: no time-to-live)" in capsys.readouterr().out


# ---- the evaluation stages and the evidence loop (issue 18) ----------------------------------------------

BENCH_SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "bench" / "vllm-0.25.0-save-result.json"


def evaluated(world: World, accuracy_passes: bool = True) -> Checks:
    """The checks as run_checks leaves them: the smoke load, then accuracy, then (if it passed) the benchmark,
    its figures the real vLLM result format's, at the stack's declared load (8,192/1,024 at 8)."""

    def checks(
        target: Target, outputs: Mapping[str, Any], plan: Plan, spec: StackSpec, stages: Stages
    ) -> None:
        world.calls.append("checks")
        for name in ("gpu-preflight", "engine-health", "api", "load"):
            stages.add(StageResult(name, True, 0.0, "ok", {}))
        right = 192 if accuracy_passes else 82
        answers = [accuracy.Answer(i, 7, 7 if i < right else 8, "") for i in range(200)]
        reference = accuracy.reference_for(plan.model, None, None)
        stages.add(accuracy.judge(accuracy.AccuracyRun(answers), reference, accuracy.AccuracySettings(), "d"))
        if not accuracy_passes:
            return
        workload = benchmark.Workload("declared", 8192, 1024, 8, 16)
        measured = benchmark.parse_result("vllm", BENCH_SAMPLE.read_text(), workload)
        comparison = benchmark.Comparison(measured, None, plan.cost.est_output_tokens_per_s)
        stages.add(StageResult("benchmark", True, 2.0, "measured", {"runs": [comparison.as_dict()]}))

    return checks


def test_a_failed_accuracy_stage_fails_validate_with_exit_4_and_tears_everything_down(world: World) -> None:
    with (
        lifecycle(world, evaluated(world, accuracy_passes=False)) as life,
        pytest.raises(ValidationFailed) as err,
    ):
        cli_lifecycle._validate(life, keep=False, purge_cache=False)
    assert exit_code(err.value) == 4 and str(err.value).startswith("accuracy failed: GSM8K 0.410")
    report = report_of(world)
    assert report["failed_stage"] == "accuracy" and report["teardown"]["ok"]
    assert world.provider.left() == [], "nothing is left billed"
    assert "engine.destroy" in world.calls


def test_a_bad_evaluation_bound_is_refused_before_anything_is_asked(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(plan: Plan, spec: StackSpec) -> None:
        raise ConfigError("benchmarkMaxMinutes: the benchmark needs about 90 min")

    monkeypatch.setattr("infra.validate.evidence_record.plan_evaluation", refuse)
    with lifecycle(world) as life, pytest.raises(ConfigError):
        life.validate()
    assert world.order() == ["engine.exists"], "no canary, no up, no teardown: nothing was rented"
    assert not world.reports.exists()


def test_a_passing_validate_records_its_points_and_the_next_plan_uses_them(
    world: World, tmp_path: Path
) -> None:
    store = EvidenceStore(tmp_path / "evidence.jsonl")
    with lifecycle(world, evaluated(world), evidence=store) as life:
        before = life.plan.throughput
        report, _, md_path = life.validate()
    (point,) = store.points()
    assert point.stack == STACK and point.accuracy is not None and point.accuracy.score == 0.96
    assert point.workload == evidence.Workload(8192, 1024, 8, 16)
    assert report.evidence is not None and report.evidence.startswith("Recorded 1 measured point(s)")
    assert "## Evidence" in md_path.read_text()

    with lifecycle(world, evidence=store) as again:
        after = again.plan.throughput
    assert before is not None and after is not None and before.measured == ""
    assert after.output_tokens_per_s == pytest.approx(point.results.output_tok_s, abs=0.1)
    assert after.measured == point.label and point.label in after.source


def test_a_failed_validate_records_nothing(world: World, tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path / "evidence.jsonl")
    with lifecycle(world, evaluated(world, accuracy_passes=False), evidence=store) as life:
        report, _, _ = life.validate()
    assert store.points() == [] and not store.path.exists()
    assert report.evidence == "Validate did not pass: nothing recorded in the evidence file."
