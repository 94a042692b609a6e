"""The lifecycle verbs of one stack: up, down, status, preview, validate, cleanup.

`validate` is canary -> up -> checks (infra.validate.pipeline) -> report -> destroy, and the destroy runs
in every outcome: success, a failed stage, a failed up, an exception, Ctrl-C (SIGINT) and SIGTERM.
Teardown is shielded: a Ctrl-C during it says what is still being removed and until when it would bill,
and teardown carries on; only the third press stops it, and then the command that finishes the job is
printed. SIGTERM counts as a first Ctrl-C. The report is written in every outcome. Teardown is confirmed
by listing what is left at the provider, not by trusting the engine's word.

A lifecycle takes its dependencies: the stack's `Target` (infra.targets.base: every provider call) and
its `StackEngine` (infra.stack_engine: every Pulumi call), both opened on first use, the checks and the
clock. Strays and orphans are what the target bills minus what the state owns; nothing is removed when
the state cannot be read.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from infra import config
from infra.engine_process import Interrupts
from infra.errors import CanaryFailed, StateError, Terminated
from infra.evidence import EvidenceStore
from infra.lifecycle.clock import Clock
from infra.lifecycle.teardown import DESTROY_ATTEMPTS, TEARDOWN_DEADLINE_SECONDS, StackTeardown
from infra.plan import Plan
from infra.planner import plan, require_deployable
from infra.progress import Progress
from infra.rate_store import ROOT_ENV, record
from infra.rehearsal import Rehearsal, check_engine_fault, open_rehearsal, rehearsal_progress
from infra.stack_engine import PulumiStack, StackEngine, StackValue
from infra.targets import open_target
from infra.targets.base import SECRET_SOURCES, Billed, Credentials, Target, TargetContext
from infra.validate.evidence_record import record_run, run_context
from infra.validate.pipeline import Stages, canary_stage, run_checks
from infra.validate.redact import Redactor
from infra.validate.report import RunCost, Teardown, ValidationReport, utc_timestamp, write_report
from infra.validate.stages import StageResult
from infra.validate.teardown import STOP_PRESS, billing_until
from infra.workspace import Workspace, open_workspace, state_root

# The teardown's limits and the clock's protocol stay importable from here, where they were defined.
__all__ = ["DESTROY_ATTEMPTS", "TEARDOWN_DEADLINE_SECONDS", "Clock", "Lifecycle"]


@dataclass
class Lifecycle:
    """One stack's lifecycle; with `rehearse`, against local stand-ins (infra.rehearsal)."""

    stack: str
    rehearse: bool = False
    skip_canary: bool = False
    """Rent without proving the provider's behaviour first (`--skip-canary`); the report says so."""
    progress: Progress | None = None
    teardown_deadline: float = TEARDOWN_DEADLINE_SECONDS
    targets: Callable[[TargetContext], Target] = open_target
    """Opens the stack's target from its context (the registry in infra.targets)."""
    engines: Callable[[Workspace, str], StackEngine] = PulumiStack
    """Opens the stack's Pulumi operations in the command's workspace."""
    checks: Callable[[Target, Mapping[str, Any], Plan, config.StackSpec, Stages], None] = run_checks
    """The checks `validate` runs on the deployment once `up` passed (infra.validate.pipeline)."""
    clock: Clock = field(default=time)
    engine_fault: str | None = None
    """A rehearsal's stand-in engine fails this way (`--engine-fault`: infra.emulator.fake_vllm.FAULTS)."""
    evidence: EvidenceStore = field(default_factory=EvidenceStore)
    """This account's measured points: read for the own accuracy reference, appended by a passing run."""
    spec: config.StackSpec = field(init=False)
    plan: Plan = field(init=False)
    _rehearsal: Rehearsal | None = field(default=None, init=False)
    _workspace: Workspace | None = field(default=None, init=False)
    _target: Target | None = field(default=None, init=False)
    _engine: StackEngine | None = field(default=None, init=False)
    _credentials: Credentials = field(default_factory=Credentials, init=False)
    _stack_config: dict[str, str] = field(default_factory=dict, init=False)
    _healed: bool = field(default=False, init=False)
    _canary: StageResult | None = field(default=None, init=False)
    _created_by: float | None = field(default=None, init=False)
    """Wall-clock time by which `up` had created everything it made (the time-to-live counts after)."""
    _removal: StackTeardown | None = field(default=None, init=False)
    """The stack's teardown, made on first use (it shares this lifecycle's target, engine and clock)."""

    @property
    def rehearsal(self) -> Rehearsal | None:
        return self._rehearsal

    def __post_init__(self) -> None:
        self.spec = config.load_stack(self.stack).with_recorded_rates(self._rates_root())
        # A rehearsal plans from published figures only; a real run uses this account's own points first.
        own = None if self.rehearse else self.evidence.throughput_point
        self.plan = plan(self.spec.plan_request(), self.spec.catalog, own_points=own)
        # Refuse before anything is created: a no-fit (or an un-opted tight fit) never reaches the engine.
        require_deployable(self.plan, accept_tight=self.spec.accept_tight, where=self.spec.source)
        check_engine_fault(self.engine_fault, rehearse=self.rehearse)

    # ---- context: the rehearsal's servers live as long as the command ------------------------------------

    def __enter__(self) -> Lifecycle:
        rehearsal_dir = None
        extra: dict[str, str] = {}
        if self.rehearse:
            rehearsal_dir = state_root() / "rehearsal" / self.stack
            self._rehearsal = open_rehearsal(
                self.spec, self.plan, rehearsal_dir, engine_fault=self.engine_fault
            ).__enter__()
            extra = {**self._rehearsal.env(), ROOT_ENV: str(self._rates_root())}
        try:
            self._workspace = open_workspace(extra, rehearsal_dir=rehearsal_dir)
            if self.progress is None:
                redactor = Redactor(self.secrets())
                rehearsal = self._rehearsal
                self.progress = (
                    rehearsal_progress(rehearsal.tag, redactor) if rehearsal else Progress(redactor)
                )
            if self._rehearsal is not None:
                for change in self._rehearsal.prepare(self._workspace.project_dir, self.stack):
                    self.out.event(f"the rehearsal's copy of the stack: {change}")
            self._credentials = self._read_credentials()
            self.progress.redactor = Redactor(self.secrets())
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self._rehearsal is not None:
            self._rehearsal.__exit__(None, None, None)

    def secrets(self) -> list[str]:
        env = self._workspace.env if self._workspace else {}
        values = [env.get(name) for _, name in SECRET_SOURCES.values()] + self._credentials.values()
        if self._rehearsal is not None:
            values += self._rehearsal.secrets()
        return [v for v in values if v]

    @property
    def out(self) -> Progress:
        assert self.progress is not None, "use Lifecycle as a context manager"
        return self.progress

    @property
    def workspace(self) -> Workspace:
        assert self._workspace is not None, "use Lifecycle as a context manager"
        return self._workspace

    @property
    def target(self) -> Target:
        """The stack's target (RunPod, Kubernetes), opened on first use."""
        if self._target is None:
            context = TargetContext(
                spec=self.spec,
                plan=self.plan,
                env=self.workspace.env,
                credentials=self._credentials,
                state_dir=state_root() / self.stack,
                stack_config=self._stack_config,
                rehearsal=self._rehearsal,
            )
            self._target = self.targets(context)
        return self._target

    @property
    def engine(self) -> StackEngine:
        """The stack's Pulumi operations, opened on first use."""
        if self._engine is None:
            self._engine = self.engines(self.workspace, self.stack)
        return self._engine

    @property
    def removal(self) -> StackTeardown:
        """How the stack is torn down and what is left confirmed (infra.lifecycle.teardown)."""
        if self._removal is None:
            self._removal = StackTeardown(
                stack=self.stack,
                target=lambda: self.target,
                engine=lambda: self.engine,
                out=self.out,
                clock=self.clock,
                heal=self._heal_once,
                until=lambda: billing_until(self.spec.ttl_minutes, self._made_by(), self.clock.time()),
                rehearse=self.rehearse,
                deadline=self.teardown_deadline,
            )
        return self._removal

    def _read_credentials(self) -> Credentials:
        """Each secret from the stack's secret config (`pulumi config set --secret`), else the environment."""
        env = self.workspace.env
        stored: Mapping[str, StackValue] = {}
        # A rehearsal's secrets are its stand-ins', never the real ones.
        if not self.rehearse and self.engine.exists():
            try:
                stored = self.engine.config()
            except StateError as err:
                # Ownership is still read strictly (`owned`); only the secrets fall back to the environment.
                self.out.event(
                    f"cannot read the secret config of stack {self.stack} ({err}; is "
                    "PULUMI_CONFIG_PASSPHRASE right?): using the environment's keys",
                    "yellow",
                )
        self._stack_config = {k: str(v.value) for k, v in stored.items() if not v.secret}
        prefix = f"{config.PROJECT}:"
        return Credentials.resolve(
            {k.removeprefix(prefix): str(v.value or "") for k, v in stored.items()}, env
        )

    def _heal_once(self) -> None:
        """A run of this project that died holding the lock: its engine stopped, the lock cancelled, the
        state refreshed (a create cut short has no id in it, so its resource is removed as a stray)."""
        if self._healed:
            return
        self._healed = True
        crash = self.engine.crashed_run()
        if crash is None:
            return
        self.out.event(
            f"a run on {self.stack} died (pid {crash.pid} on {crash.host}, during `pulumi {crash.command}`): "
            "cancelling any lock it left and refreshing the state",
            "yellow",
        )
        with self.out.live("pulumi refresh (after a crashed run)") as update:
            self.engine.refresh(update, clear_pending_creates=True)
        self.engine.forget_crashed_run()
        strays = self.removal.remove_strays(self.owned(), include_cache=False)
        self.out.event(
            f"recovered {self.stack}: lock cancelled, {crash.killed} leftover engine process(es) stopped, "
            f"state refreshed, {len(strays)} stray resource(s) removed"
        )

    # ---- verbs ---------------------------------------------------------------------------------------

    def canary(self) -> StageResult | None:
        """The provider's contract check before anything is rented (once per command); a failure refuses."""
        if self._canary is None:
            self._canary = canary_stage(self.target, self.spec, self.skip_canary, self.out)
        return self._canary

    def require_canary(self) -> None:
        result = self.canary()
        if result is not None and not result.passed:
            raise CanaryFailed(f"{result.reason}; nothing was rented")

    def up(self) -> dict[str, Any]:
        self.require_canary()
        self.out.event(f"up {self.stack}: {self.plan.gpu_count}x {self.plan.gpu} for {self.plan.model}")
        self._heal_once()
        try:
            with self.out.live(f"pulumi up ({self.target.up_steps})") as update, self._up_progress(update):
                result = self.engine.up(update)
        finally:
            self._created_by = self.clock.time()
        outputs = result.outputs
        self.out.event(f"up done: {dict(result.changes)}")
        if "weights_skipped" in outputs:
            downloaded = int(outputs.get("weights_bytes_downloaded") or 0)
            self.out.event(
                "weights: the cache volume already holds a verified copy; nothing downloaded"
                if outputs["weights_skipped"] or downloaded == 0
                else f"weights: {downloaded / 1e9:,.3f} GB downloaded into the cache volume on a CPU pod"
            )
        self._record_rates(outputs)
        return outputs

    def _rates_root(self) -> Path:
        """Where measured rates are recorded: a rehearsal's simulated ones never reach real plans."""
        return state_root() / "rehearsal" / self.stack if self.rehearse else state_root()

    def _record_rates(self, outputs: Mapping[str, Any]) -> None:
        """Keep what the pre-fill or download Job measured, and plan the start again with it."""
        records = []
        lines: tuple[str, ...] = ()
        with contextlib.suppress(Exception):  # a measurement never blocks a run
            lines = self.target.read_rates(outputs)
        for line in lines:
            with contextlib.suppress(ValueError):
                records.append(json.loads(str(line)))
        if not records:
            return
        record(self._rates_root(), self.stack, records)
        lines = tuple(json.dumps(r, sort_keys=True) for r in records)
        self.spec = replace(self.spec, measurements=(*self.spec.measurements, *lines))
        again = plan(self.spec.plan_request(), self.spec.catalog)
        if again.start is not None:
            self.plan = replace(self.plan, start=again.start)
            for line in again.start.measured:
                self.out.event(f"measured {line}")

    @contextlib.contextmanager
    def _up_progress(self, update: Callable[[str], None]) -> Iterator[None]:
        """While `up` runs, show what the target reports of its slow steps (e.g. the weight pre-fill)."""
        done = threading.Event()
        target = self.target

        def watch() -> None:
            while not done.wait(1.0):
                line = target.progress_line()
                if line:
                    update(line)

        thread = threading.Thread(target=watch, daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join(timeout=2)

    def preview(self) -> dict[str, int]:
        """`pulumi preview` with the policy pack: what `up` would change, refused if a policy says no."""
        self._heal_once()
        with self.out.live("pulumi preview") as update:
            return self.engine.preview(update)

    def down(self, purge_cache: bool = False, force: bool = False) -> list[str]:
        """Destroy the stack, remove what no state owns, confirm nothing is left (infra.lifecycle.teardown).

        Shielded as validate's teardown is: a Ctrl-C or SIGTERM says what is still being removed and
        carries on; only the third Ctrl-C stops it, saying what is left and the command that finishes."""
        say = functools.partial(self.out.event, style="bold yellow")
        interrupts = Interrupts(self.removal.carry_on, say, stop_at=STOP_PRESS)
        with interrupts.installed():
            try:
                with contextlib.suppress(Exception):  # what is being removed, for a press's notice
                    self.removal.lister(purge_cache)()
                return self.removal.down(purge_cache=purge_cache, force=force)
            except KeyboardInterrupt:
                self.removal.stopped(purge_cache)
                raise

    def remove(self, item: Billed) -> None:
        """Remove one resource at the provider, outlasting 429/5xx answers up to the teardown deadline."""
        self.removal.remove(item)

    def status(self) -> dict[str, Any]:
        self._heal_once()
        outputs = {k: ("[secret]" if v.secret else v.value) for k, v in self.engine.outputs().items()}
        live = [b.label() for b in self.target.billed(self.stack, include_cache=True)]
        return {"stack": self.stack, "outputs": outputs, "live": live}

    def still_live(self, include_cache: bool, *, patient: bool = True) -> list[str]:
        """What of this stack the provider still holds, or why that could not be learned; never raises."""
        return self.removal.still_live(include_cache, patient=patient)

    def owned(self) -> set[str]:
        """Ids of every resource the stack's Pulumi state records; raises StateError when it cannot be read."""
        return self.removal.owned()

    def orphans(self, force: bool = False) -> list[Billed]:
        """This stack's resources at the provider that no Pulumi state of the stack owns."""
        return self.removal.orphans(force)

    # ---- validate ------------------------------------------------------------------------------------

    def validate(self, keep: bool = False, purge_cache: bool = False) -> tuple[ValidationReport, Path, Path]:
        """Canary, up, checks, then teardown in every outcome; the report is written in every outcome too.

        A stage failed by an error keeps it with its class (`report.failure`); an interrupt or an
        unexpected error is raised once the teardown ran and the report is written."""
        started = utc_timestamp()
        t0 = self.clock.monotonic()
        # A bad bound or setting is refused here, before the canary rents anything.
        context = run_context(
            self.stack, self.plan, self.spec, self.evidence, rehearsal=self.rehearse, started=started
        )
        stages = Stages(self.out, context=context)
        teardown: Teardown | None = None
        error: BaseException | None = None
        outputs: dict[str, Any] = {}
        say = functools.partial(self.out.event, style="bold yellow")
        interrupts = Interrupts(self.removal.carry_on, say, stop_at=STOP_PRESS)
        with interrupts.installed():
            try:
                with interrupts.interruptible():  # a press stops the work; from here on, teardown is shielded
                    contract = self.canary()
                    if contract is not None:
                        stages.add(contract, announce=False)
                    if contract is None or contract.passed:
                        stages.timed("up", lambda: outputs.update(self.up()))
                    if stages.passed:
                        self.checks(self.target, outputs, self.plan, self.spec, stages)
            except (KeyboardInterrupt, Terminated) as exc:
                error = exc
                reason = f"{type(exc).__name__}: {exc}".rstrip(": ")
                stages.add(StageResult("interrupted", False, 0.0, reason, {}), announce=False)
                self.out.event(f"interrupted ({reason}): tearing down", "bold yellow")
            except Exception as exc:  # a bug or an unmapped error still ends in teardown, then propagates
                error = exc
                stages.add(
                    StageResult("error", False, 0.0, f"{type(exc).__name__}: {exc}", {}), announce=False
                )
            finally:
                if not (keep and error is None and stages.passed):
                    begun = self.clock.monotonic()
                    teardown, stopped = self.removal.shielded(purge_cache)
                    teardown = dataclasses.replace(teardown, seconds=self.clock.monotonic() - begun)
                    error = error or stopped
            with interrupts.held():
                seconds = self.clock.monotonic() - t0
                cost = self._run_cost(outputs, started, seconds)
                evidence = record_run(
                    self.evidence,
                    self.plan,
                    self.stack,
                    stages.results if error is None else [],
                    stages.image,
                    rehearsal=self.rehearse,
                    commit=str(outputs.get("weights_commit") or ""),
                )
                report = ValidationReport(
                    stack=self.stack,
                    plan=self.plan.to_dict(),
                    stages=stages.results,
                    started=started,
                    ended=utc_timestamp(),
                    cost=cost,
                    teardown=teardown,
                    rehearsal=self.rehearse,
                    failure=stages.failure,
                    image=stages.image,
                    evidence=evidence,
                )
                json_path, md_path = write_report(report, secrets=self.secrets(), folder=context.report_dir)
        if error is not None:
            self.out.event(f"report: {json_path} and {md_path}")
            raise error
        return report, json_path, md_path

    def _run_cost(self, outputs: Mapping[str, Any], started: str, seconds: float) -> RunCost:
        """The provider's bill when it answers (RunPod's billing API), else uptime x the plan's rate."""
        cost = RunCost.from_plan(self.plan.to_dict(), seconds)
        billed = None
        if outputs:
            with contextlib.suppress(Exception):  # the bill is a nicety; the report is not
                billed = self.target.run_cost(outputs, datetime.fromisoformat(started))
        if self._rehearsal is not None:
            with contextlib.suppress(Exception):  # the stand-in bills in simulated time, GPU-hours included
                cost = self._rehearsal.run_cost(self.plan, seconds)
        return cost if billed is None else replace(cost, usd=billed[0], source=billed[1])

    def _made_by(self) -> float:
        """By when everything `up` made was made: when it ended, else now (it may still be creating)."""
        return self._created_by if self._created_by is not None else self.clock.time()

    def still_live_billed(self) -> list[Billed]:
        return self.removal.still_live_billed()
