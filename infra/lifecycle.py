"""The lifecycle verbs over the Pulumi Automation API: up, down, status, validate, cleanup.

`validate` is plan -> up -> checks -> report -> destroy, and the destroy runs in every outcome:
success, a failed check, an exception, Ctrl-C (SIGINT) and SIGTERM. Teardown is confirmed by
listing what is left at the provider, not by trusting the engine's word.

Everything provider-specific goes through the stack's `Target` (infra.targets.base); what the state
owns is read strictly from the Pulumi state, and nothing is removed when it cannot be read.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

from pulumi import automation as auto

from infra import config
from infra.engine_process import engine_error, kill_engine_group, run_engine, sigterm_raises, stale_record
from infra.errors import (
    CanaryFailed,
    DeploymentError,
    ProviderError,
    StateError,
    TeardownError,
    Terminated,
    V4InfraError,
)
from infra.plan import Plan
from infra.planner import plan, require_deployable
from infra.progress import Progress
from infra.rehearsal import Rehearsal, open_rehearsal, rehearsal_progress
from infra.targets import open_target
from infra.targets.base import SECRET_SOURCES, Billed, Credentials, Target, TargetContext
from infra.validate.api_checks import check_api
from infra.validate.engine_health import LogSource, wait_for_engine
from infra.validate.load_test import run_load
from infra.validate.redact import Redactor
from infra.validate.report import RunCost, Teardown, ValidationReport, utc_timestamp, write_report
from infra.validate.stages import StageResult
from infra.workspace import Workspace, export_state, open_workspace, state_root

DESTROY_ATTEMPTS = 3
# How long teardown keeps retrying a provider that answers 429/5xx before it reports what is left.
TEARDOWN_DEADLINE_SECONDS = 600.0


T = TypeVar("T")


def policy_packs() -> list[str]:
    """The project's CrossGuard pack (policy/): TTLs, secrets and image versions, checked on every up."""
    pack = config.project_root() / "policy"
    return [str(pack)] if (pack / "PulumiPolicy.yaml").is_file() else []


@dataclass
class Lifecycle:
    """One stack's lifecycle; with `rehearse`, against the emulator and a local hub."""

    stack: str
    rehearse: bool = False
    skip_canary: bool = False
    """Rent without proving the provider's behaviour first (`--skip-canary`); the report says so."""
    progress: Progress | None = None
    teardown_deadline: float = TEARDOWN_DEADLINE_SECONDS
    spec: config.StackSpec = field(init=False)
    plan: Plan = field(init=False)
    _rehearsal: Rehearsal | None = field(default=None, init=False)
    _workspace: Workspace | None = field(default=None, init=False)
    _target: Target | None = field(default=None, init=False)
    _credentials: Credentials = field(default_factory=Credentials, init=False)
    _stack_config: dict[str, str] = field(default_factory=dict, init=False)
    _healed: bool = field(default=False, init=False)
    _canary: StageResult | None = field(default=None, init=False)

    @property
    def rehearsal(self) -> Rehearsal | None:
        return self._rehearsal

    def __post_init__(self) -> None:
        self.spec = config.load_stack(self.stack)
        self.plan = plan(self.spec.plan_request(), self.spec.catalog)
        # Refuse before anything is created: a no-fit (or an un-opted tight fit) never reaches the engine.
        require_deployable(self.plan, accept_tight=self.spec.accept_tight, where=self.spec.source)

    # ---- context: the rehearsal's servers live as long as the command ------------------------------------

    def __enter__(self) -> Lifecycle:
        rehearsal_dir = None
        extra: dict[str, str] = {}
        if self.rehearse:
            rehearsal_dir = state_root() / "rehearsal" / self.stack
            self._rehearsal = open_rehearsal(self.spec, self.plan, rehearsal_dir).__enter__()
            extra = self._rehearsal.env()
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
            self._target = open_target(context)
        return self._target

    def _read_credentials(self) -> Credentials:
        """Each secret from the stack's secret config (`pulumi config set --secret`), else the environment."""
        env = self.workspace.env
        values: dict[str, str | None] = {}
        stored: Mapping[str, auto.ConfigValue] = {}
        if not self.rehearse:  # a rehearsal's secrets are its stand-ins', never the real ones
            stack = self._existing_stack()
            if stack is not None:
                try:
                    stored = stack.get_all_config()
                except auto.CommandError as err:
                    # Ownership is still read strictly (`owned`); only the secrets fall back to the environment.
                    self.out.event(
                        f"cannot read the secret config of stack {self.stack} ({engine_error(err)}; is "
                        "PULUMI_CONFIG_PASSPHRASE right?): using the environment's keys",
                        "yellow",
                    )
        self._stack_config = {k: str(v.value) for k, v in stored.items() if not v.secret}
        for attr, (key, env_name) in SECRET_SOURCES.items():
            value = stored.get(f"{config.PROJECT}:{key}")
            # Pulumi.yaml declares "" as the unset placeholder: only a real value beats the environment.
            values[attr] = (value.value if value is not None and value.value else None) or env.get(env_name)
        return Credentials(**values)

    def _existing_stack(self) -> auto.Stack | None:
        try:
            return self.workspace.existing_stack(self.stack)
        except auto.StackNotFoundError:
            return None
        except auto.CommandError as err:
            raise StateError(f"cannot open stack {self.stack}: {engine_error(err)}") from None

    def _stack(self) -> auto.Stack:
        """The stack, created if new; a lock left by a crashed run of this project is healed first."""
        stack = self.workspace.stack(self.stack)
        if not self._healed:
            self._healed = True
            self._heal(stack)
        return stack

    # ---- self-healing after a crash ------------------------------------------------------------------

    def _heal(self, stack: auto.Stack) -> None:
        """A run of this project that died holding the lock: stop its engine, cancel the lock, refresh."""
        record_path = self.workspace.record_path(self.stack)
        record = stale_record(record_path)
        if record is None:
            return
        killed = kill_engine_group(record)
        self.out.event(
            f"a run on {self.stack} died (pid {record.pid} on {record.host}, during `pulumi {record.command}`): "
            "cancelling any lock it left and refreshing the state",
            "yellow",
        )
        # `pulumi cancel`: the service backend cancels the update; the file backend deletes the lock.
        with contextlib.suppress(auto.CommandError):
            stack.cancel()
        with self.out.live("pulumi refresh (after a crashed run)") as update:
            # A create cut short has no id in the state: dropped here, its resource removed as a stray below.
            run_engine(functools.partial(stack.refresh, on_output=update, clear_pending_creates=True))
        for leftover in [
            record_path,
            *record_path.parent.glob("engine-*.out"),
            *record_path.parent.glob("engine-*.err"),
        ]:
            with contextlib.suppress(OSError):
                leftover.unlink()  # the dead run's record and the engine output it never read
        strays = self._remove_strays(self.owned(), include_cache=False)
        self.out.event(
            f"recovered {self.stack}: lock cancelled, {killed} leftover engine process(es) stopped, "
            f"state refreshed, {len(strays)} stray resource(s) removed"
        )

    # ---- verbs ---------------------------------------------------------------------------------------

    def canary(self) -> StageResult | None:
        """The provider's contract check before anything is rented (once per command); a failure refuses."""
        if self._canary is not None:
            return self._canary
        if self.skip_canary:
            result: StageResult | None = StageResult(
                "canary",
                True,
                0.0,
                "skipped (--skip-canary): the provider's behaviour was not checked first",
                {},
            )
        else:
            result = self.target.contract_check(
                self.spec.canary_max_age_days, lambda line: self.out.event(line)
            )
        if result is not None:
            self._canary = result
            self.out.event(f"{'PASS' if result.passed else 'FAIL'} canary: {result.reason}")
        return result

    def require_canary(self) -> None:
        result = self.canary()
        if result is not None and not result.passed:
            raise CanaryFailed(f"{result.reason}; nothing was rented")

    def up(self) -> dict[str, Any]:
        self.require_canary()
        self.out.event(f"up {self.stack}: {self.plan.gpu_count}x {self.plan.gpu} for {self.plan.model}")
        with (
            self.out.live(f"pulumi up ({self.target.up_steps})") as update,
            self._up_progress(update),
        ):
            stack = self._stack()
            result = run_engine(functools.partial(stack.up, on_output=update, policy_packs=policy_packs()))
        outputs = {k: v.value for k, v in result.outputs.items()}
        self.out.event(f"up done: {result.summary.resource_changes}")
        if "weights_skipped" in outputs:
            downloaded = int(outputs.get("weights_bytes_downloaded") or 0)
            self.out.event(
                "weights: the cache volume already holds a verified copy; nothing downloaded"
                if outputs["weights_skipped"] or downloaded == 0
                else f"weights: {downloaded / 1e9:,.3f} GB downloaded into the cache volume on a CPU pod"
            )
        return outputs

    @contextlib.contextmanager
    def _up_progress(self, update: Any) -> Iterator[None]:
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
        with self.out.live("pulumi preview") as update:
            result = self._stack().preview(on_output=update, policy_packs=policy_packs())
        return {str(getattr(op, "value", op)): count for op, count in result.change_summary.items()}

    def down(self, purge_cache: bool = False, force: bool = False) -> list[str]:
        """Destroy the stack (retried), then remove what no state owns; with purge, the weight cache too.

        Returns what is left (nothing, or a TeardownError is raised). When the state cannot be read,
        nothing is removed unless `force`, which treats every resource of the stack as unowned.
        """
        last: Exception | None = None
        for attempt in range(1, DESTROY_ATTEMPTS + 1):
            try:
                with self.out.live("pulumi destroy") as update:
                    stack = self._stack()
                    run_engine(functools.partial(stack.destroy, on_output=update))
                last = None
                break
            except DeploymentError as err:
                last = err
                if attempt < DESTROY_ATTEMPTS:
                    self.out.event(f"destroy attempt {attempt} failed ({err}); retrying", "yellow")
                    time.sleep(2.0 * attempt)
        try:
            owned = self._owned(force)
        except StateError as err:
            left = self.still_live(purge_cache)
            raise TeardownError(
                f"{err}; nothing was removed by name, still live: {', '.join(left) or 'nothing'}. Fix the "
                f"state's access, or run `v4infra down {self.stack} --force` to remove every resource of the stack",
                leftover=left,
            ) from None
        self._remove_strays(owned, include_cache=purge_cache)
        leftover = [b.label() for b in self._outlast("listing what is left", self._billed(purge_cache))]
        if last is not None or leftover:
            why = f" (pulumi destroy: {last})" if last is not None else ""
            raise TeardownError(
                f"teardown of {self.stack} left {', '.join(leftover) or 'the stack in an unknown state'}"
                f"{why}; run `v4infra cleanup {self.stack} --yes`",
                leftover=leftover,
            )
        return leftover

    def _billed(self, include_cache: bool) -> Callable[[], list[Billed]]:
        return lambda: self.target.billed(self.stack, include_cache)

    def _remove_strays(self, owned: set[str], include_cache: bool) -> list[Billed]:
        """Resources of this stack that no state owns (a create cut short by a signal): removed by id."""
        strays = [b for b in self._outlast("listing", self._billed(include_cache)) if b.id not in owned]
        for item in strays:
            self.remove(item)
            what = "purged weight cache" if item.cache else "removed"
            note = "" if item.cache else ", which no Pulumi state recorded"
            self.out.event(f"{what} {item.label()}{note}", "yellow" if note else "")
        return strays

    def remove(self, item: Billed) -> None:
        """Remove one resource at the provider, outlasting 429/5xx answers up to the teardown deadline."""
        self._outlast(f"removing {item.label()}", lambda: self.target.remove(item))

    def status(self) -> dict[str, Any]:
        outputs = {k: ("[secret]" if v.secret else v.value) for k, v in self._stack().outputs().items()}
        live = [b.label() for b in self.target.billed(self.stack, include_cache=True)]
        return {"stack": self.stack, "outputs": outputs, "live": live}

    def still_live(self, include_cache: bool) -> list[str]:
        """What of this stack the provider still holds, or why that could not be learned; never raises."""
        try:
            return [b.label() for b in self._outlast("listing what is left", self._billed(include_cache))]
        except Exception as err:  # the report must still be written
            why = f"{self.target.provider} could not be asked ({err})"
            with contextlib.suppress(Exception):
                recorded = sorted(self.owned())
                if recorded:
                    return [f"{rid} (recorded in the Pulumi state; {why})" for rid in recorded]
            return [f"unknown: {why}"]

    def owned(self) -> set[str]:
        """Ids of every resource the stack's Pulumi state records; raises StateError when it cannot be read."""
        stack = self._existing_stack()
        if stack is None:
            return set()
        try:
            # The exported state lists ids in plaintext: no passphrase is needed to know what is owned.
            deployment = export_state(stack)
        except auto.CommandError as err:
            raise StateError(f"cannot read the Pulumi state of {self.stack}: {engine_error(err)}") from None
        except ValueError as err:
            raise StateError(f"cannot read the Pulumi state of {self.stack}: {err}") from None
        records = list(deployment.get("resources") or [])
        records += [op.get("resource") or {} for op in deployment.get("pending_operations") or []]
        return {str(r["id"]) for r in records if r.get("id")}

    def _owned(self, force: bool) -> set[str]:
        try:
            return self.owned()
        except StateError as err:
            if not force:
                raise
            self.out.event(f"{err}; --force: every resource of {self.stack} counts as unowned", "bold yellow")
            return set()

    def orphans(self, force: bool = False) -> list[Billed]:
        """This stack's resources at the provider that no Pulumi state of the stack owns."""
        try:
            owned = self._owned(force)
        except StateError as err:
            raise StateError(
                f"{err}; nothing removed. `v4infra cleanup {self.stack} --yes --force` treats every "
                "resource named for the stack as unowned"
            ) from None
        return [b for b in self._outlast("listing", self._billed(True)) if b.id not in owned]

    def _outlast(self, what: str, call: Callable[[], T]) -> T:
        """Retry a provider call on 429/5xx with backoff until the teardown deadline, then give up."""
        deadline = time.monotonic() + self.teardown_deadline
        delay = 1.0
        while True:
            try:
                return call()
            except ProviderError as err:
                if not err.retryable or time.monotonic() + delay > deadline:
                    raise
                self.out.event(f"{what}: {err}; retrying in {delay:.0f} s", "yellow")
                time.sleep(delay)
                delay = min(delay * 2, 15.0)

    # ---- validate ------------------------------------------------------------------------------------

    def validate(self, keep: bool = False, purge_cache: bool = False) -> tuple[ValidationReport, Path, Path]:
        started = utc_timestamp()
        t0 = time.monotonic()
        stages: list[StageResult] = []
        teardown: Teardown | None = None
        error: BaseException | None = None
        outputs: dict[str, Any] = {}
        with sigterm_raises():
            try:
                contract = self.canary()
                if contract is not None:
                    stages.append(contract)
                if contract is None or contract.passed:
                    stages.append(self._timed("up", lambda: outputs.update(self.up())))
                if stages[-1].passed:
                    self._checks(outputs, stages)
            except (KeyboardInterrupt, Terminated) as exc:
                error = exc
                reason = f"{type(exc).__name__}: {exc}".rstrip(": ")
                stages.append(StageResult("interrupted", False, 0.0, reason, {}))
                self.out.event(f"interrupted ({reason}): tearing down", "bold yellow")
            except Exception as exc:  # a bug or an unmapped error still ends in teardown, then propagates
                error = exc
                stages.append(StageResult("error", False, 0.0, f"{type(exc).__name__}: {exc}", {}))
            finally:
                passed = error is None and all(stage.passed for stage in stages)
                if not (keep and passed):
                    teardown = self._teardown(purge_cache)
        cost = RunCost.from_plan(self.plan.to_dict(), time.monotonic() - t0)
        if self._rehearsal is not None:
            cost = self._rehearsal.run_cost(self.plan, time.monotonic() - t0)
        report = ValidationReport(
            stack=self.stack,
            plan=self.plan.to_dict(),
            stages=stages,
            started=started,
            ended=utc_timestamp(),
            cost=cost,
            teardown=teardown,
            rehearsal=self.rehearse,
        )
        json_path, md_path = write_report(report, secrets=self.secrets())
        if error is not None:
            raise error
        return report, json_path, md_path

    def _timed(self, name: str, action: Any) -> StageResult:
        start = time.monotonic()
        try:
            action()
        except V4InfraError as err:
            return StageResult(name, False, time.monotonic() - start, str(err), {})
        return StageResult(name, True, time.monotonic() - start, "deployed", {})

    def _checks(self, outputs: dict[str, Any], stages: list[StageResult]) -> None:
        """GPU preflight and engine health in the target's shell, then the API and load checks."""
        started = time.monotonic()
        target = self.target
        try:
            with target.shell(outputs) as shell:
                self._stage(stages, target.gpu_preflight(shell, outputs))
                if not stages[-1].passed:
                    return
                endpoint = target.endpoint(outputs)
                with self.out.live(f"loading the model (budget {self.plan.load_minutes} min)") as update:
                    health = wait_for_engine(
                        endpoint.url,
                        endpoint.api_key,
                        # Any LineSource reads like LogSource: wait_for_engine only calls read_new().
                        log=cast(LogSource, target.logs(shell, outputs)),
                        budget_seconds=self.plan.load_minutes * 60,
                        poll_seconds=2.0,
                        engine_alive=functools.partial(target.alive, outputs),
                        on_log_line=update,
                    )
                self._stage(stages, health)
                if not stages[-1].passed:
                    return
                self._stage(stages, check_api(endpoint.url, endpoint.api_key, self.plan.model))
                if stages[-1].passed:
                    self._stage(
                        stages,
                        run_load(
                            endpoint.url,
                            endpoint.api_key,
                            self.plan.model,
                            concurrency=self.spec.load_concurrency,
                            requests=self.spec.load_requests,
                            estimate_tokens_per_s=self.plan.cost.est_output_tokens_per_s,
                        ),
                    )
        except V4InfraError as err:
            # A shell that cannot be had (the pod died, a changed host key) fails the stage that needed it.
            name = "engine-health" if any(s.name == "gpu-preflight" for s in stages) else "gpu-preflight"
            if any(s.name == name for s in stages):
                name = "api"
            self._stage(stages, StageResult(name, False, time.monotonic() - started, str(err), {}))

    def _stage(self, stages: list[StageResult], result: StageResult) -> None:
        stages.append(result)
        mark = "[green]PASS[/green]" if result.passed else "[red]FAIL[/red]"
        self.out.event(f"{mark} {result.name} ({result.seconds:.1f}s): {result.reason}")

    def _teardown(self, purge_cache: bool) -> Teardown:
        """Destroy and confirm; whatever happens (API down, a second Ctrl-C), say what is still live."""
        self.out.event(
            f"teardown: destroying {self.stack}" + (" and purging the cache" if purge_cache else "")
        )
        try:
            self.down(purge_cache=purge_cache)
        except TeardownError as err:
            self.out.event(str(err), "bold red")
            return Teardown(ok=False, leftover=err.leftover, error=str(err))
        except (KeyboardInterrupt, Terminated):
            # A second Ctrl-C during teardown: say what may be left instead of hiding it.
            left = self.still_live(purge_cache)
            self.out.event(f"teardown interrupted; left: {', '.join(left) or 'nothing'}", "bold red")
            return Teardown(ok=not left, leftover=left, error="teardown interrupted")
        except Exception as err:  # an API that outlasted every retry: the report still names what is live
            left = self.still_live(purge_cache)
            message = f"teardown of {self.stack} failed: {err}"
            self.out.event(f"{message}; left: {', '.join(left) or 'nothing'}", "bold red")
            return Teardown(ok=False, leftover=left, error=message)
        kept = [] if purge_cache else [b for b in self.still_live_billed() if b.cache]
        note = f"; {kept[0].kind} {kept[0].name} ({kept[0].id}) kept for the next run" if kept else ""
        self.out.event(
            f"teardown confirmed: no pod of this stack is left at {self.target.provider}{note}", "bold green"
        )
        return Teardown(
            ok=True, removed=["every pod of this stack", *(["the weight cache"] if purge_cache else [])]
        )

    def still_live_billed(self) -> list[Billed]:
        with contextlib.suppress(Exception):
            return self._outlast("listing the kept cache", self._billed(True))
        return []
