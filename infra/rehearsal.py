"""A rehearsal: every verb against local stand-ins, started for one command; no account, no money.

RunPodRehearsal      the RunPod emulator and a local Hugging Face hub: the Pulumi engine, the runpod SDK,
                     SSH, huggingface_hub and HTTP all run against them over loopback.
KubernetesRehearsal  the local control plane (a real kube-apiserver with kwok's fake GPU nodes): the real
                     pulumi-kubernetes provider applies the stack to it. kwok runs no containers, so the
                     engine is a stand-in started locally from the Deployment's own command, args and env,
                     and the checks go to it; every line of the rehearsal says so. For the same reason the
                     download Job's dataset step and the benchmark Job run locally too: the GSM8K dataset is
                     filled from a local hub into the stand-in's cache with the real filler, and the
                     stand-in `vllm bench serve` runs in a local shell beside the stand-in engine.

Both hubs serve a GSM8K of the real test split's size (1,319 rows, generated problems in the real layout),
so any `accuracyQuestions` the schema allows can be rehearsed. `engine_fault` makes the stand-in engine
fail one of its ways (infra.emulator.fake_vllm.FAULTS: `garbled` answers wrongly, `slow` decodes slowly).
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from rich.markup import escape

from infra.config import StackSpec
from infra.engine_process import die_with_parent
from infra.errors import ConfigError
from infra.plan import Plan
from infra.progress import Progress
from infra.quoting import shown
from infra.ssh import CommandResult
from infra.targets.base import EngineLaunch, LocalEngines
from infra.validate.accuracy import DATASET_REPO
from infra.validate.machine import ShellMachine
from infra.validate.redact import Redactor
from infra.validate.report import RunCost

if TYPE_CHECKING:
    from infra.emulator import Emulator
    from infra.emulator.hub import FakeHub
    from infra.emulator.local_cluster import LocalCluster

# One real second stands for ten simulated minutes: a 40-minute load bills as such and takes 4 s.
TIME_SCALE = 600.0
# The stand-in checkpoint's shards: big enough (16 MiB in all) that the pre-fill's read-rate probe reads
# chunks of milliseconds each from the paced volume, so its own overhead stays a few percent of what it
# times (infra/emulator/volume_pace.py).
REHEARSAL_SHARD_BYTES = 4 * 1024 * 1024


class Rehearsal(Protocol):
    """What the lifecycle needs of a rehearsal, whatever the target."""

    tag: str
    """Printed on every line of the rehearsal."""

    def __enter__(self) -> Rehearsal: ...

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def env(self) -> dict[str, str]: ...

    def secrets(self) -> list[str]: ...

    def prepare(self, project: Path, stack: str) -> list[str]:
        """Adjust the rehearsal's copy of the project; returns one line per change."""
        ...

    def run_cost(self, plan: Plan, seconds: float) -> RunCost: ...

    def measure_claim(self, job_command: str, probe_source: str) -> str | None:
        """The download Job's read-rate probe where no container ran it (kwok); None where pods run it."""
        ...

    def after_teardown(self) -> tuple[str, bool]:
        """What the stand-in still holds after teardown, and whether that is nothing billable."""
        ...

    @property
    def local_engines(self) -> LocalEngines | None:
        """What a target asks of the rehearsal (infra.targets.base.StandIns)."""
        ...


# The GSM8K test split's rows (infra/data/accuracy.yaml): the stand-in hubs serve as many.
GSM8K_TEST_ROWS = 1319


def check_engine_fault(fault: str | None, *, rehearse: bool) -> None:
    """A fault the stand-in engine knows, asked of a rehearsal only; else one line naming the valid ones."""
    if fault is None:
        return
    from infra.emulator.fake_vllm import FAULTS  # the stand-in's own list (loaded only when a fault is asked)

    if not rehearse:
        raise ConfigError(
            f"--engine-fault {shown(fault)} needs --rehearse: only the stand-in engine can be made to fail"
        )
    if fault not in FAULTS:
        raise ConfigError(f"--engine-fault: unknown fault {shown(fault)}; valid: {', '.join(FAULTS)}")


def open_rehearsal(
    spec: StackSpec, plan: Plan, state_dir: Path, engine_fault: str | None = None
) -> Rehearsal:
    """The rehearsal for the stack's target, not yet started."""
    if spec.target == "kubernetes":
        return KubernetesRehearsal(plan, state_dir, engine_fault=engine_fault)
    return RunPodRehearsal(plan.model, state_dir, engine_fault=engine_fault)


class RehearsalProgress(Progress):
    """Progress whose every line says it is a rehearsal."""

    tag: str = ""

    def event(self, text: str, style: str = "") -> None:
        # Escaped: rich would read "[rehearsal: ...]" as a markup tag and drop it.
        super().event(f"{escape(f'[{self.tag}]')} {text}", style)

    @contextlib.contextmanager
    def live(self, label: str) -> Iterator[Any]:
        with super().live(f"{escape(f'[{self.tag}]')} {label}") as update:
            yield update


def rehearsal_progress(tag: str, redactor: Redactor) -> RehearsalProgress:
    progress = RehearsalProgress(redactor)
    progress.tag = tag
    return progress


@dataclass
class RunPodRehearsal:
    """Emulator + hub for the checkpoint `repo_id`; `env()` points every client at them."""

    repo_id: str
    state_dir: Path
    time_scale: float = TIME_SCALE
    hf_token: str = field(default_factory=lambda: "hf_rehearsal_" + secrets.token_hex(8))
    emulator: Emulator | None = None
    hub: FakeHub | None = None
    tag: str = "rehearsal: RunPod emulator"
    engine_fault: str | None = None

    @property
    def local_engines(self) -> None:
        # The emulator runs each pod's stand-in engine itself.
        return None

    def __enter__(self) -> RunPodRehearsal:
        # The stand-ins (infra.emulator: its server and schemas) load only for a rehearsal.
        from infra.emulator import Emulator, Faults, Timing
        from infra.emulator.hub import FakeHub

        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.emulator = Emulator(
            api_key="rehearsal-" + secrets.token_hex(8),
            time_scale=self.time_scale,
            timing=Timing(start_seconds=60, load_seconds=30 * 60),
            faults=Faults(engine_fault=self.engine_fault),
            state_dir=self.state_dir / "emulator",
        ).start()
        self.hub = FakeHub(token=self.hf_token).start()
        self.hub.add_fake_checkpoint(self.repo_id, shards=4, shard_bytes=REHEARSAL_SHARD_BYTES)
        # The pre-fill caches it beside the checkpoint; the accuracy stage reads it there.
        self.hub.add_gsm8k(test_rows=GSM8K_TEST_ROWS)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.hub is not None:
            self.hub.stop()
        if self.emulator is not None:
            self.emulator.stop()

    def env(self) -> dict[str, str]:
        assert self.emulator is not None and self.hub is not None, "use the rehearsal as a context manager"
        return {**self.emulator.env(), "HF_ENDPOINT": self.hub.url, "HF_TOKEN": self.hf_token}

    def inventory(self) -> dict[str, Any]:
        assert self.emulator is not None
        return self.emulator.inventory()

    def secrets(self) -> list[str]:
        assert self.emulator is not None
        return [self.hf_token, self.emulator.api_key]

    def prepare(self, project: Path, stack: str) -> list[str]:
        return []

    def measure_claim(self, job_command: str, probe_source: str) -> str | None:
        # The emulator's pods run the pre-fill's probe themselves.
        return None

    def run_cost(self, plan: Plan, seconds: float) -> RunCost:
        """What the run would have cost on RunPod: the emulator bills in simulated time."""
        history = self.inventory().get("history", [])
        return RunCost(
            gpu_hours=round(sum(p.get("gpu_seconds", 0) for p in history) / 3600, 3),
            usd=round(sum(p.get("usd", 0) for p in history), 2),
            usd_per_hour=plan.cost.usd_per_hour,
            source="the emulator's inventory (simulated time)",
        )

    def after_teardown(self) -> tuple[str, bool]:
        inventory = self.inventory()
        pods, volumes = inventory["pods"], inventory["volumes"]
        kept = ", ".join(f"{v['name']} ({v['size']} GB)" for v in volumes) or "none"
        return f"emulator inventory after teardown: {len(pods)} pod(s) live, volumes kept: {kept}", not pods


class LogFile:
    """New complete lines of a local file (the stand-in engine's log)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def read_new(self) -> list[str]:
        try:
            with self.path.open("rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        cut = data.rfind(b"\n") + 1
        self.offset += cut
        return data[:cut].decode(errors="replace").splitlines()


@dataclass
class KubernetesRehearsal:
    """The local control plane for one command, and the stand-in engine the checks go to."""

    plan: Plan
    state_dir: Path
    time_scale: float = TIME_SCALE
    cluster: LocalCluster | None = None
    tag: str = "rehearsal: local control plane, stand-in engine run locally (kwok runs no containers)"
    engine_fault: str | None = None
    _engines: StandInEngines | None = None

    @property
    def local_engines(self) -> LocalEngines:
        return self._stand_ins()

    def _stand_ins(self) -> StandInEngines:
        if self._engines is None:
            load_seconds = self.plan.load_minutes * 60 / self.time_scale
            self._engines = StandInEngines(self.state_dir, self.time_scale, load_seconds, self.engine_fault)
        return self._engines

    def measure_claim(self, job_command: str, probe_source: str) -> str | None:
        """The download Job's probe, which kwok never ran, against a paced stand-in of the claim."""
        from infra.emulator.paced_claim import run_job_probe

        claim = self.state_dir / "claim"
        shutil.rmtree(claim, ignore_errors=True)
        return run_job_probe(job_command, probe_source, claim, mount="/models")

    def __enter__(self) -> KubernetesRehearsal:
        # The stand-ins (infra.emulator: its server and schemas) load only for a rehearsal.
        from infra.emulator.local_cluster import LocalCluster, ToolsMissing, _stop_dir

        workdir = self.state_dir / "cluster"
        if (workdir / "cluster.json").exists():
            _stop_dir(workdir)  # a control plane a killed rehearsal left behind
        # A fresh world each time: the cluster's etcd and the Pulumi state that describes it go together.
        for old in (workdir, self.state_dir / "backend"):
            shutil.rmtree(old, ignore_errors=True)
        try:
            self.cluster = LocalCluster(workdir).start()
        except ToolsMissing as err:
            raise ConfigError(str(err)) from None
        self._stand_ins().fill_dataset()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._engines is not None:
            self._engines.stop_all()
        if self.cluster is not None:
            self.cluster.stop()

    def env(self) -> dict[str, str]:
        assert self.cluster is not None, "use the rehearsal as a context manager"
        return dict(self.cluster.env())

    def secrets(self) -> list[str]:
        return []

    def prepare(self, project: Path, stack: str) -> list[str]:
        """The stack's copy fitted to the local control plane (its class, its nodes), and the control plane
        to the stack (a LeaderWorkerSet controller, GPU nodes and a shared cache for two nodes)."""
        from infra.targets.kubernetes.rehearsal_cluster import fit_cluster, fit_stack_copy

        assert self.cluster is not None, "use the rehearsal as a context manager"
        return fit_stack_copy(project, stack, self.plan) + fit_cluster(self.cluster, self.plan)

    def run_cost(self, plan: Plan, seconds: float) -> RunCost:
        # Nothing was billed: the figure is what the plan's GPUs would have cost for this long.
        return RunCost.from_plan(plan.to_dict(), seconds)

    def after_teardown(self) -> tuple[str, bool]:
        assert self.cluster is not None
        # The garbage collector removes a deleted Job's pods in the background: give it a generous minute.
        deadline = time.monotonic() + 60
        while True:
            found = self.cluster.get_json("pods", "-A", "-l", "app.kubernetes.io/part-of=deepseek-v4-infra")
            left = [p["metadata"]["name"] for p in found.get("items") or []]
            if not left or time.monotonic() > deadline:
                break
            time.sleep(1.0)
        return f"pods of the stack left on the local control plane: {', '.join(left) or 'none'}", not left


@dataclass(frozen=True)
class LocalShell:
    """Commands in a local shell with the stand-in engine's environment (its port, its cache, its `vllm`)."""

    env: Mapping[str, str]

    def run(
        self, cmd: Sequence[str] | str, timeout: float = 60.0, stdin: bytes | None = None
    ) -> CommandResult:
        command = cmd if isinstance(cmd, str) else shlex.join(cmd)
        try:
            done = subprocess.run(
                ["bash", "-c", command],
                input=stdin or b"",
                capture_output=True,
                env=dict(self.env),
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            return CommandResult(124, "", f"`{command[:80]}` timed out after {timeout:.0f} s")
        return CommandResult(
            done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")
        )


@dataclass
class RunningEngine:
    """One stand-in engine process, its local URL and its log."""

    process: subprocess.Popen[bytes]
    port: int
    log_file: LogFile
    serving_machine: ShellMachine
    """Beside it: a local shell with its cache (HF_HOME) and the stand-in `vllm bench serve`."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> LogFile:
        return self.log_file

    def machine(self) -> ShellMachine:
        return self.serving_machine

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class StandInEngines:
    """The stand-in engine (infra.emulator.fake_vllm) run locally from a target's `EngineLaunch`."""

    state_dir: Path
    time_scale: float
    load_seconds: float
    """Real seconds the stand-in takes to "load" the model: the plan's budget, scaled."""
    engine_fault: str | None = None
    _running: list[RunningEngine] = field(default_factory=list)

    @property
    def hf_home(self) -> Path:
        return self.state_dir / "engine-hf"

    def fill_dataset(self) -> None:
        """The download Job's dataset step, run here with the real filler against a local hub (kwok runs no Job)."""
        from infra.emulator.hub import FakeHub
        from infra.weights import fill_cache

        with FakeHub() as hub:
            hub.add_gsm8k(test_rows=GSM8K_TEST_ROWS)
            fill_cache(self.hf_home, DATASET_REPO, endpoint=hub.url, repo_type="dataset")

    def _shell_env(self, port: int, launch: EngineLaunch) -> dict[str, str]:
        """The stand-in client's environment: `vllm` on PATH, the engine's port mapped as the emulator's pods map it."""
        bin_dir = self.state_dir / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        shim = bin_dir / "vllm"
        shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m infra.emulator.fake_vllm "$@"\n')
        shim.chmod(0o755)
        return {
            "PATH": os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")]),
            "PYTHONPATH": os.pathsep.join(sys.path),
            "HOME": str(self.state_dir),
            f"EMULATOR_PORT_{launch.port}": str(port),
            "EMULATOR_TIME_SCALE": str(self.time_scale),
        }

    @contextlib.contextmanager
    def run(self, launch: EngineLaunch) -> Iterator[RunningEngine]:
        """Start the stand-in engine as the launch describes; stop it on exit."""
        # As in __enter__: the stand-ins load only for a rehearsal.
        from infra.emulator.local_cluster import free_port

        port = free_port()
        env = dict(launch.env)
        env.update(
            {
                "PATH": os.environ.get("PATH", ""),
                "PYTHONPATH": os.pathsep.join(sys.path),
                "EMULATOR_IMAGE": launch.image,
                "EMULATOR_GPU_TYPE": launch.gpu_type,
                "EMULATOR_GPU_COUNT": str(launch.gpu_count),
                "EMULATOR_LOAD_SECONDS": str(self.load_seconds),
                "EMULATOR_TIME_SCALE": str(self.time_scale),
                f"EMULATOR_PORT_{launch.port}": str(port),
                "VLLM_API_KEY": launch.api_key,
                # kwok ran no download Job: the cache holds only the dataset, so the stand-in may fetch
                # the checkpoint (it downloads nothing).
                "HF_HUB_OFFLINE": "0",
                "HF_HOME": str(self.hf_home),
                "EMULATOR_ENGINE_FAULT": self.engine_fault or "",
            }
        )
        log_path = self.state_dir / "engine.log"
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "infra.emulator.fake_vllm", *launch.argv],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                # SIGTERM when this process dies, even by kill -9: no stand-in engine outlives its rehearsal.
                preexec_fn=functools.partial(die_with_parent, signal.SIGTERM),
            )
        machine = ShellMachine(
            LocalShell(self._shell_env(port, launch)),
            str(self.hf_home),
            result_dir=str(self.state_dir / "bench"),
        )
        engine = RunningEngine(process, port, LogFile(log_path), machine)
        self._running.append(engine)
        try:
            yield engine
        finally:
            engine.stop()
            self._running.remove(engine)

    def stop_all(self) -> None:
        """Every engine still running (a rehearsal that ends while a check holds one)."""
        for engine in list(self._running):
            engine.stop()
