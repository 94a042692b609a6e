"""The `pulumi` CLI as a child that cannot outlive us, and the record that lets a later run heal a crash.

Each `pulumi` the Automation API starts here runs in its own process group (its plugins join it)
with a parent-death signal: if this process dies, even by kill -9, the kernel sends the CLI SIGINT,
Pulumi's graceful cancel, which releases the stack lock and stops its plugins. While a command that
locks the stack runs, `EngineRecord` names our PID, host, the CLI's process group and a token in the
environment the CLI hands its plugins (Pulumi starts each plugin in a process group of its own); a
record whose PID is dead on this host is a crashed run of this project, and `stale_record` finds it.

`run_engine` runs one CLI call so that Ctrl-C cancels it gracefully; `Interrupts` counts Ctrl-C and
SIGTERM for a command and, while its work is shielded (a teardown), warns instead of raising.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import queue
import secrets
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar, cast

from pulumi import automation as auto
from pulumi.automation import CommandResult, PulumiCommand
from pulumi.automation._cmd import OnOutput
from pulumi.automation.errors import create_command_error

from infra.errors import DeploymentError, Terminated, V4InfraError, rebuilt, without_carried

# Commands that take the stack's lock (pkg/backend/diy/lock.go and the service backend alike).
LOCKING = frozenset({"up", "update", "destroy", "refresh", "preview", "import"})
_PR_SET_PDEATHSIG = 1
# Set in the CLI's environment; Pulumi passes its environment on to the plugins it starts.
RUN_TOKEN_VARIABLE = "V4INFRA_ENGINE_RUN"

T = TypeVar("T")


@dataclass(frozen=True)
class EngineRecord:
    """Who holds (or held) the stack's lock: this project's process and the CLI's process group."""

    pid: int
    host: str
    engine_pgid: int
    command: str
    started: float
    run_token: str = ""
    """In the environment of the CLI and every plugin it starts (plugins get process groups of their own)."""

    def alive(self) -> bool:
        """Whether the process that took the lock still runs (only knowable on its own host)."""
        if self.host != socket.gethostname():
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return not _zombie(self.pid)


def read_record(path: Path) -> EngineRecord | None:
    try:
        return EngineRecord(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def stale_record(path: Path) -> EngineRecord | None:
    """The record of a run of this project that died on this host while holding the lock, if any."""
    record = read_record(path)
    return record if record is not None and not record.alive() else None


def clear_crash_files(record_path: Path) -> None:
    """A dead run's record and the engine output it never read, once its state is refreshed."""
    for leftover in [
        record_path,
        *record_path.parent.glob("engine-*.out"),
        *record_path.parent.glob("engine-*.err"),
    ]:
        with contextlib.suppress(OSError):
            leftover.unlink()


def recorded_ids(deployment: Mapping[str, Any]) -> set[str]:
    """Ids of every resource an exported state records, those of operations cut short included."""
    records = list(deployment.get("resources") or [])
    records += [op.get("resource") or {} for op in deployment.get("pending_operations") or []]
    return {str(r["id"]) for r in records if r.get("id")}


def kill_engine_group(record: EngineRecord) -> int:
    """Kill what is left of a dead run's `pulumi` and its plugins; returns how many were killed."""
    killed = 0
    for pid in sorted(set(_group_members(record.engine_pgid)) | set(engine_processes(record.run_token))):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
            killed += 1
    return killed


def _group_members(pgid: int) -> list[int]:
    """Processes in `pgid` that are Pulumi's (a reused group id of someone else's is left alone)."""
    members = []
    proc = Path("/proc")
    if not proc.is_dir() or pgid <= 1:
        return []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) != pgid or fields[0] == "Z":
                continue
            if b"pulumi" in (entry / "cmdline").read_bytes():
                members.append(int(entry.name))
    return members


def engine_processes(run_token: str) -> list[int]:
    """Live processes whose environment carries this run's token: its CLI and every plugin it started."""
    if not run_token or not Path("/proc").is_dir():
        return []
    marker = f"{RUN_TOKEN_VARIABLE}={run_token}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            if marker in (entry / "environ").read_bytes().split(b"\0") and not _zombie(int(entry.name)):
                found.append(int(entry.name))
    return found


def _zombie(pid: int) -> bool:
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat[stat.rindex(")") + 2] == "Z"
    return False


@contextlib.contextmanager
def _private(path: Path) -> Iterator[int]:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        yield fd
    finally:
        os.close(fd)


def _follow(path: Path, process: subprocess.Popen[bytes], callback: OnOutput | None, into: list[str]) -> None:
    """Hand each complete line the CLI writes to `path` to `callback`, until the CLI has exited."""
    with path.open("rb") as handle:
        pending = b""
        while True:
            exited = process.poll() is not None
            chunk = handle.read()
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for raw in complete:
                line = raw.decode("utf-8", errors="replace").rstrip()
                if callback:
                    callback(line)
                into.append(line)
            if exited and not chunk:
                break
            if not chunk:
                time.sleep(0.05)
        if pending:
            line = pending.decode("utf-8", errors="replace").rstrip()
            if callback:
                callback(line)
            into.append(line)


def die_with_parent(sig: int = signal.SIGINT) -> None:
    """For `preexec_fn`: the child gets `sig` when its parent dies (SIGINT is Pulumi's graceful cancel)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)


class EngineCommand(PulumiCommand):
    """`PulumiCommand` whose CLI dies with us and whose locking runs leave an `EngineRecord` while they run."""

    def __init__(self, record: Path) -> None:
        super().__init__()
        self.record = record

    def run(
        self,
        args: list[str],
        cwd: str,
        additional_env: Mapping[str, str],
        on_output: OnOutput | None = None,
        on_error: OnOutput | None = None,
    ) -> CommandResult:
        # The same invocation as PulumiCommand.run (sdk/python/lib/pulumi/automation/_cmd.py, v3.259.0),
        # plus the process group, the parent-death signal and output through files, not pipes: a Go
        # program writing to a pipe whose reader died gets SIGPIPE and dies holding the lock.
        if "--non-interactive" not in args[: args.index("--") if "--" in args else len(args)]:
            args.insert(0, "--non-interactive")
        run_token = secrets.token_hex(8)
        env = {
            **os.environ,
            **additional_env,
            "PULUMI_AUTOMATION_API": "true",
            RUN_TOKEN_VARIABLE: run_token,
        }
        locking = any(arg in LOCKING for arg in args[:3])
        self.record.parent.mkdir(parents=True, exist_ok=True)
        out_path = self.record.with_name(f"engine-{os.getpid()}-{threading.get_ident()}.out")
        err_path = out_path.with_suffix(".err")
        lines: dict[Path, list[str]] = {out_path: [], err_path: []}
        try:
            with (
                _private(out_path) as out,
                _private(err_path) as err,
                subprocess.Popen(
                    [self.command, *args],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    cwd=cwd,
                    env=env,
                    process_group=0,
                    preexec_fn=die_with_parent,
                ) as process,
            ):
                if locking:
                    self._write_record(process.pid, args, run_token)
                readers = [
                    threading.Thread(target=_follow, args=(out_path, process, on_output, lines[out_path])),
                    threading.Thread(target=_follow, args=(err_path, process, on_error, lines[err_path])),
                ]
                for reader in readers:
                    reader.start()
                process.wait()
                for reader in readers:
                    reader.join()
        finally:
            for path in (out_path, err_path, *([self.record] if locking else [])):
                with contextlib.suppress(OSError):
                    path.unlink()
        result = CommandResult(
            stdout="\n".join(lines[out_path]), stderr="\n".join(lines[err_path]), code=process.returncode
        )
        if process.returncode != 0:
            raise create_command_error(result)
        return result

    def _write_record(self, engine_pid: int, args: list[str], run_token: str) -> None:
        record = EngineRecord(
            pid=os.getpid(),
            host=socket.gethostname(),
            engine_pgid=engine_pid,
            command=" ".join(a for a in args if not a.startswith("-"))[:80],
            started=time.time(),
            run_token=run_token,
        )
        self.record.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.record.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(record)))
        tmp.replace(self.record)


class Interrupts:
    """Ctrl-C (SIGINT) and SIGTERM for one command, counted.

    Inside `interruptible()` each raises (KeyboardInterrupt, Terminated) so that the work stops and
    `finally` blocks (the teardown) run. Everywhere else the work is shielded: a press before the
    `stop_at`-th is answered with `say(notice(presses, what))` and the work carries on; from the
    `stop_at`-th on, Ctrl-C
    raises KeyboardInterrupt. SIGTERM counts as a first press only, so it never stops shielded work.
    Shielding starts the moment `interruptible()` ends, so no press falls between the two.

    The notice is written when the press comes (what it says is true then) and said by a thread of its
    own, in order: a handler that printed could re-enter the console in the middle of a line the main
    thread (or the previous notice) was writing, and write that line twice.
    """

    def __init__(self, notice: Callable[[int, str], str], say: Callable[[str], None], stop_at: int) -> None:
        self.notice = notice
        self.say = say
        self.stop_at = stop_at
        self.presses = 0
        self._interruptible = False
        self._held = False
        # SimpleQueue.put is reentrant: safe to call from a signal handler.
        self._notices: queue.SimpleQueue[str | None] = queue.SimpleQueue()

    @contextlib.contextmanager
    def installed(self) -> Iterator[Interrupts]:
        printer = threading.Thread(target=self._print_notices, daemon=True)
        printer.start()
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._notices.put(None)
            printer.join(timeout=10)

    def _print_notices(self) -> None:
        while (notice := self._notices.get()) is not None:
            self.say(notice)

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        """Presses raise; those made here count as one press for the shielded work that follows."""
        self._interruptible = True
        try:
            yield
        finally:
            self._interruptible = False
            self.presses = min(self.presses, 1)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Presses are counted, neither warned nor raised: for writing what must survive (the report)."""
        self._held = True
        try:
            yield
        finally:
            self._held = False

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        terminated = signum == signal.SIGTERM
        self.presses = max(self.presses, 1) if terminated else self.presses + 1
        if self._interruptible:
            raise Terminated("terminated (SIGTERM)") if terminated else KeyboardInterrupt
        if self._held:
            return
        if self.presses < self.stop_at:
            self._notices.put(self.notice(self.presses, "SIGTERM" if terminated else "Ctrl-C"))
        elif not terminated:
            raise KeyboardInterrupt


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
            # A provider's error keeps its class across the engine; anything else is the engine's own line.
            outcome["error"] = engine_failure(exc)
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


def killed_by_signal(err: auto.CommandError) -> bool:
    """Whether the CLI died by a signal (its exit code negative), with no chance to release its lock."""
    for line in str(err).splitlines():
        if line.strip().startswith("code:"):
            return line.split(":", 1)[1].strip().startswith("-")
    return False


def engine_failure(err: auto.CommandError) -> V4InfraError:
    """The error a failed engine call stands for: a provider's own (rebuilt), else a DeploymentError."""
    return rebuilt(_first_error(err)) or DeploymentError(engine_error(err))


def engine_error(err: auto.CommandError) -> str:
    """The engine's first real `error:` line (the planner's or a provider's message), not "update failed"."""
    return without_carried(_first_error(err))


def _first_error(err: auto.CommandError) -> str:
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
    code = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("code:")), "?")
    said = [line for line in lines if not line.startswith(("code:", "stdout:", "stderr:"))]
    if said:
        return said[-1]
    # Nothing printed: say how it ended (a negative code is the signal that killed it).
    ended = f"killed by signal {code.lstrip('-')}" if code.startswith("-") else f"exited with code {code}"
    return f"pulumi {ended} without printing an error"
