"""The lifecycle verbs over the Pulumi Automation API: up, down, status, validate, cleanup.

`validate` is plan -> up -> checks -> report -> destroy, and the destroy runs in every outcome:
success, a failed check, an exception, Ctrl-C (SIGINT) and SIGTERM. Teardown is confirmed by
listing what is left at the provider, not by trusting the engine's word.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar, cast

from pulumi import automation as auto

from infra import config
from infra.catalog import load_catalog
from infra.errors import DeploymentError, TeardownError, V4InfraError
from infra.plan import Plan
from infra.planner import plan, require_deployable
from infra.progress import Progress
from infra.rehearsal import Rehearsal
from infra.ssh import SshSession, SshTarget, pod_known_hosts
from infra.targets.runpod import naming
from infra.targets.runpod.client import RunPodClient, RunPodSettings
from infra.targets.runpod.crashloop import RestartWatch
from infra.targets.runpod.prefill import PROGRESS_FILE, ProgressFile, filler_source
from infra.validate.api_checks import check_api
from infra.validate.engine_health import LogSource, wait_for_engine
from infra.validate.gpu_preflight import GpuExpectation, GpuPreflight
from infra.validate.load_test import run_load
from infra.validate.redact import Redactor
from infra.validate.report import RunCost, Teardown, ValidationReport, utc_timestamp, write_report
from infra.validate.stages import StageResult
from infra.workspace import Workspace, open_workspace, state_root

DESTROY_ATTEMPTS = 3
FILLER_ON_POD = "/tmp/v4infra-weights.py"


def policy_packs() -> list[str]:
    """The project's CrossGuard pack (policy/): TTLs, secrets and image versions, checked on every up."""
    pack = config.project_root() / "policy"
    return [str(pack)] if (pack / "PulumiPolicy.yaml").is_file() else []


class Terminated(BaseException):
    """SIGTERM, raised like Ctrl-C so `finally` blocks (the teardown) run."""


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise Terminated("terminated (SIGTERM)")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@dataclass
class Lifecycle:
    """One stack's lifecycle; with `rehearse`, against the emulator and a local hub."""

    stack: str
    rehearse: bool = False
    progress: Progress | None = None
    spec: config.StackSpec = field(init=False)
    plan: Plan = field(init=False)
    _rehearsal: Rehearsal | None = field(default=None, init=False)

    @property
    def rehearsal(self) -> Rehearsal | None:
        return self._rehearsal

    _workspace: Workspace | None = field(default=None, init=False)

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
            self._rehearsal = Rehearsal(self.plan.model, rehearsal_dir).__enter__()
            extra = self._rehearsal.env()
        self._workspace = open_workspace(extra, rehearsal_dir=rehearsal_dir)
        if self.progress is None:
            self.progress = Progress(Redactor(self.secrets()))
        else:
            self.progress.redactor = Redactor(self.secrets())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._rehearsal is not None:
            self._rehearsal.__exit__(None, None, None)

    def secrets(self) -> list[str]:
        env = self._workspace.env if self._workspace else {}
        values = [env.get("RUNPOD_API_KEY"), env.get("HF_TOKEN")]
        if self._rehearsal is not None:
            values += self._rehearsal.secrets()
        return [v for v in values if v]

    @property
    def out(self) -> Progress:
        assert self.progress is not None, "use Lifecycle as a context manager"
        return self.progress

    def _stack(self) -> auto.Stack:
        assert self._workspace is not None, "use Lifecycle as a context manager"
        return self._workspace.stack(self.stack)

    def client(self) -> RunPodClient:
        assert self._workspace is not None
        env = {**os.environ, **self._workspace.env}
        return RunPodClient(RunPodSettings.from_env(env.get("RUNPOD_API_KEY"), env))

    def names(self) -> naming.StackIdentity:
        """This stack's identity: its resources are the ones whose names carry its digest, exactly."""
        assert self._workspace is not None
        return naming.for_stack(self.stack, backend=self._workspace.env.get("PULUMI_BACKEND_URL", ""))

    # ---- verbs ---------------------------------------------------------------------------------------

    def up(self) -> dict[str, Any]:
        self.out.event(f"up {self.stack}: {self.plan.gpu_count}x {self.plan.gpu} for {self.plan.model}")
        with (
            self.out.live("pulumi up (volume, weight pre-fill on a CPU pod, GPU pod start)") as update,
            self._prefill_progress(update),
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
    def _prefill_progress(self, update: Any) -> Iterator[None]:
        """While `up` runs, show the pre-fill's bytes (the provider writes them to the stack's state dir)."""
        progress = ProgressFile(state_root() / self.stack / PROGRESS_FILE)
        done = threading.Event()

        def watch() -> None:
            while not done.wait(1.0):
                event = progress.read()
                if event and event.get("event") == "progress" and event.get("total"):
                    update(
                        f"weight pre-fill on a CPU pod: {event['bytes'] / 1e9:,.2f} of "
                        f"{event['total'] / 1e9:,.2f} GB"
                    )

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

    def down(self, purge_cache: bool = False) -> list[str]:
        """Destroy the stack (retried); with purge, the kept weight cache too. Returns what is left."""
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
                self.out.event(f"destroy attempt {attempt} failed ({err}); retrying", "yellow")
                time.sleep(2.0 * attempt)
        self._terminate_strays()
        if purge_cache and self.spec.target == "runpod":
            self._purge_cache()
        leftover = self.leftover(include_cache=purge_cache)
        if last is not None or leftover:
            raise TeardownError(
                f"teardown of {self.stack} left {', '.join(leftover) or 'the stack in an unknown state'}; "
                f"run `v4infra cleanup {self.stack} --yes`",
                leftover=leftover,
            )
        return leftover

    def _terminate_strays(self) -> None:
        """Pods of this stack that no state records (a create cut short by a signal): terminated by name."""
        if self.spec.target != "runpod":
            return
        client = self.client()
        for pod in client.list_pods(naming.PREFIX):
            if self.names().owns(pod.name):
                client.terminate_pod(pod.id)
                self.out.event(f"terminated {pod.name} ({pod.id}), which no Pulumi state recorded", "yellow")

    def status(self) -> dict[str, Any]:
        outputs = {k: ("[secret]" if v.secret else v.value) for k, v in self._stack().outputs().items()}
        pods = (
            [p.id for p in self.client().list_pods(naming.PREFIX) if self.names().owns(p.name)]
            if self.spec.target == "runpod"
            else []
        )
        return {"stack": self.stack, "outputs": outputs, "live_pods": pods}

    def leftover(self, include_cache: bool) -> list[str]:
        """This stack's billed resources still at the provider (pods always; the cache volume on purge)."""
        if self.spec.target != "runpod":
            return []
        client = self.client()
        left = [f"pod {p.name} ({p.id})" for p in client.list_pods() if self.names().owns(p.name)]
        if include_cache:
            left += [f"volume {v.name} ({v.id})" for v in client.list_volumes() if self.names().owns(v.name)]
        return left

    def orphans(self) -> list[tuple[str, str, str]]:
        """(kind, id, name) of this project's resources that no Pulumi state of the stack owns."""
        owned: set[str] = set()
        with contextlib.suppress(auto.CommandError, auto.StackNotFoundError, V4InfraError):
            assert self._workspace is not None
            outputs = self._workspace.existing_stack(self.stack).outputs()
            owned = {str(outputs[k].value) for k in ("pod_id", "volume_id") if k in outputs}
        client = self.client()
        found = [("pod", p.id, p.name) for p in client.list_pods(naming.PREFIX)]
        found += [("volume", v.id, v.name) for v in client.list_volumes()]
        return [f for f in found if self.names().owns(f[2]) and f[1] not in owned]

    def _purge_cache(self) -> None:
        client = self.client()
        for volume in client.list_volumes():
            if self.names().owns(volume.name):
                client.delete_volume(volume.id)
                self.out.event(f"purged weight cache {volume.name} ({volume.id})")

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
            # The emulator bills in simulated time: what this run would have cost on RunPod.
            history = self._rehearsal.inventory().get("history", [])
            cost = RunCost(
                gpu_hours=round(sum(p.get("gpu_seconds", 0) for p in history) / 3600, 3),
                usd=round(sum(p.get("usd", 0) for p in history), 2),
                usd_per_hour=self.plan.cost.usd_per_hour,
            )
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
        started = time.monotonic()
        try:
            self._checks_over_ssh(outputs, stages)
        except V4InfraError as err:
            # SSH that cannot be had (the pod died, a changed host key) fails the stage that needed it.
            name = "engine-health" if any(s.name == "gpu-preflight" for s in stages) else "gpu-preflight"
            self._stage(stages, StageResult(name, False, time.monotonic() - started, str(err), {}))
            return
        endpoint, api_key = str(outputs["endpoint"]), str(outputs["vllm_api_key"])
        if not stages[-1].passed:
            return
        self._stage(stages, check_api(endpoint, api_key, self.plan.model))
        if stages[-1].passed:
            self._stage(
                stages,
                run_load(
                    endpoint,
                    api_key,
                    self.plan.model,
                    concurrency=self.spec.load_concurrency,
                    requests=self.spec.load_requests,
                    estimate_tokens_per_s=self.plan.cost.est_output_tokens_per_s,
                ),
            )

    def _checks_over_ssh(self, outputs: dict[str, Any], stages: list[StageResult]) -> None:
        """GPU preflight and engine health: the stages that need the pod's shell."""
        endpoint, api_key = str(outputs["endpoint"]), str(outputs["vllm_api_key"])
        # Host keys per pod id: a new pod starts clean, a changed key on the same pod is refused.
        known_hosts = pod_known_hosts(state_root() / self.stack, str(outputs["pod_id"]))
        target = SshTarget(str(outputs["ssh_host"]), int(outputs["ssh_port"]))
        gpu = load_catalog().gpu(self.plan.gpu)
        with SshSession(target, str(outputs["ssh_private_key"]), known_hosts).connect(
            retries=20, delay=1.0
        ) as ssh:
            ssh.run(["bash", "-c", f"cat > {FILLER_ON_POD}"], stdin=filler_source())
            preflight = GpuPreflight(
                GpuExpectation(gpu.product_name, self.plan.gpu_count, gpu.memory_mib),
                cache_path="/workspace",
                cache_check=[
                    "python3",
                    FILLER_ON_POD,
                    "check",
                    "--offline",
                    "--cache-dir",
                    "/workspace/hf",
                    "--repo",
                    self.plan.model,
                ],
            )
            self._stage(stages, preflight.run(ssh))
            if not stages[-1].passed:
                return
            log = LogSource(ssh, f"/workspace/logs/{outputs['pod_name']}/engine.log")
            with self.out.live(f"loading the model (budget {self.plan.load_minutes} min)") as update:
                health = wait_for_engine(
                    endpoint,
                    api_key,
                    log=log,
                    budget_seconds=self.plan.load_minutes * 60,
                    poll_seconds=2.0,
                    engine_alive=self._pod_alive(str(outputs["pod_id"])),
                    on_log_line=update,
                )
            self._stage(stages, health)

    def _pod_alive(self, pod_id: str) -> Any:
        """A check the health wait calls: a pod that died or vanished ends the wait at once."""
        client = self.client()
        # RunPod restarts a crashed container and keeps the pod RUNNING: a younger container is a dead engine.
        restarts = RestartWatch()

        def alive() -> bool:
            pod = client.get_pod(pod_id)
            return pod is not None and pod.status == "RUNNING" and not restarts.observe(pod)

        return alive

    def _stage(self, stages: list[StageResult], result: StageResult) -> None:
        stages.append(result)
        mark = "[green]PASS[/green]" if result.passed else "[red]FAIL[/red]"
        self.out.event(f"{mark} {result.name} ({result.seconds:.1f}s): {result.reason}")

    def _teardown(self, purge_cache: bool) -> Teardown:
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
            left = self.leftover(include_cache=purge_cache)
            self.out.event(f"teardown interrupted; left: {', '.join(left) or 'nothing'}", "bold red")
            return Teardown(ok=not left, leftover=left, error="teardown interrupted")
        kept = (
            []
            if purge_cache
            else [f"volume {v.name} ({v.id}) kept for the next run" for v in self._volumes()]
        )
        self.out.event(
            "teardown confirmed: no pod of this stack is left at RunPod" + (f"; {kept[0]}" if kept else ""),
            "bold green",
        )
        return Teardown(
            ok=True, removed=["every pod of this stack", *(["the weight cache"] if purge_cache else [])]
        )

    def _volumes(self) -> list[Any]:
        if self.spec.target != "runpod":
            return []
        return [v for v in self.client().list_volumes() if self.names().owns(v.name)]


T = TypeVar("T")


def run_engine(call: Callable[[], T]) -> T:
    """Run a Pulumi CLI call so that Ctrl-C or SIGTERM cancels it cleanly instead of cutting it off.

    The call runs in a worker thread; an interrupt in the main thread is passed on to the `pulumi`
    child as SIGINT (its graceful cancel: in-flight creates finish and are recorded in the state, the
    stack lock is released), then re-raised once the CLI has exited. Cutting the CLI's pipes instead
    leaves a locked stack and resources no state records.
    """
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["value"] = call()
        except auto.CommandError as exc:
            # The engine's own first error line (planner, provider, policy): one line, no traceback.
            outcome["error"] = DeploymentError(engine_error(exc))
        except BaseException as exc:  # handed to the main thread
            outcome["error"] = exc

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    interrupt: BaseException | None = None
    while worker.is_alive():
        try:
            worker.join(0.2)
        except (KeyboardInterrupt, Terminated) as exc:
            if interrupt is None:
                interrupt = exc
                _stop_engine_children(grace=0)
    if interrupt is not None:
        raise interrupt
    if "error" in outcome:
        raise outcome["error"]
    return cast(T, outcome["value"])


def _stop_engine_children(grace: float) -> None:
    """A `pulumi` this process started and a signal interrupted: let it cancel and release the stack lock."""
    proc = Path("/proc")
    if not proc.is_dir():
        return
    children = []
    for entry in proc.iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            if not entry.name.isdigit():
                continue
            stat = (entry / "stat").read_text()
            name, ppid = (
                stat[stat.index("(") + 1 : stat.rindex(")")],
                int(stat[stat.rindex(")") + 2 :].split()[1]),
            )
            if ppid == os.getpid() and name.startswith("pulumi"):
                children.append(int(entry.name))
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + grace
    while children and time.monotonic() < deadline:
        time.sleep(0.2)
        children = [pid for pid in children if Path(f"/proc/{pid}").exists() and not _zombie(pid)]


def _zombie(pid: int) -> bool:
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat[stat.rindex(")") + 2] == "Z"
    return True


def engine_error(err: auto.CommandError) -> str:
    """The engine's first real `error:` line (the planner's or a provider's message), not "update failed"."""
    for line in str(err).splitlines():
        if "error:" not in line:
            continue
        message = line.split("error:", 1)[1].strip().removeprefix("Exception calling application:").strip()
        if (
            message
            and message not in ("update failed", "preview failed")
            and not message.startswith("1 error")
        ):
            return message
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    for index, line in enumerate(lines):
        # A policy violation: "- [mandatory]  NAME  (TYPE: RESOURCE)", its description, then the message.
        if line.startswith("- [mandatory]") and index + 2 < len(lines):
            return (
                f"policy {line.split()[2]} refused {line.rsplit(': ', 1)[-1].rstrip(')')}: {lines[index + 2]}"
            )
    return lines[-1] if lines else "pulumi failed"
