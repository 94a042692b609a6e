"""The Pulumi operations the lifecycle runs on one stack, behind one protocol.

    StackEngine                   what `infra.lifecycle` asks of Pulumi
    ├── crashed_run()             a run of this project that died holding the lock: stopped, lock cancelled
    ├── forget_crashed_run()      its record and engine output, once the state is refreshed
    ├── up / destroy / refresh / preview (on_output)
    ├── outputs()                 the stack's outputs, secrets flagged
    ├── exists()                  whether the backend has the stack (never creates it)
    ├── config()                  its config values, secrets flagged
    └── recorded_ids()            the id of every resource its state records (ownership)

`PulumiStack` is the Automation API implementation: every call goes through `run_engine` (Ctrl-C
cancels the CLI cleanly) and `EngineCommand` (the CLI dies with us and records who holds the lock), and a
failed call is mapped to our errors here, so the lifecycle never sees `auto.CommandError`.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from pulumi import automation as auto

from infra import config
from infra.engine_process import (
    clear_crash_files,
    engine_error,
    kill_engine_group,
    killed_by_signal,
    recorded_ids,
    run_engine,
    stale_record,
)
from infra.errors import StateError
from infra.workspace import Workspace, export_state

T = TypeVar("T")

OnOutput = Callable[[str], None]


@dataclass(frozen=True)
class StackValue:
    """One output or config value of the stack; `secret` ones are never printed."""

    value: Any
    secret: bool = False


@dataclass(frozen=True)
class UpResult:
    outputs: dict[str, Any]
    changes: Mapping[str, int]
    """What `up` changed, per operation (`{"create": 5}`)."""


@dataclass(frozen=True)
class CrashedRun:
    """A run of this project that died holding the stack's lock, as its record names it."""

    pid: int
    host: str
    command: str
    killed: int
    """Leftover engine processes (its `pulumi` and plugins) that were stopped."""


class StackEngine(Protocol):
    """The Pulumi operations on one stack (see the module docstring); errors are ours, never the CLI's."""

    def crashed_run(self) -> CrashedRun | None: ...

    def forget_crashed_run(self) -> None: ...

    def up(self, on_output: OnOutput) -> UpResult: ...

    def destroy(self, on_output: OnOutput) -> None: ...

    def refresh(self, on_output: OnOutput, *, clear_pending_creates: bool) -> None: ...

    def preview(self, on_output: OnOutput) -> dict[str, int]: ...

    def outputs(self) -> dict[str, StackValue]: ...

    def exists(self) -> bool:
        """Whether the backend has the stack; raises StateError when the backend cannot be read."""
        ...

    def config(self) -> dict[str, StackValue]:
        """Raises StateError when the config cannot be read (a wrong passphrase for its secrets)."""
        ...

    def recorded_ids(self) -> set[str]:
        """Raises StateError when the state cannot be read: then nothing may be removed by name."""
        ...


def policy_packs() -> list[str]:
    """The project's CrossGuard pack (policy/): TTLs, secrets and image versions, checked on every up."""
    pack = config.project_root() / "policy"
    return [str(pack)] if (pack / "PulumiPolicy.yaml").is_file() else []


@dataclass
class PulumiStack:
    """`StackEngine` over the Automation API, in the command's workspace."""

    workspace: Workspace
    name: str
    _stack: auto.Stack | None = None

    def _selected(self) -> auto.Stack:
        """The stack, created if new."""
        if self._stack is None:
            self._stack = self.workspace.stack(self.name)
        return self._stack

    def _existing(self) -> auto.Stack | None:
        try:
            return self.workspace.existing_stack(self.name)
        except auto.StackNotFoundError:
            return None
        except auto.CommandError as err:
            raise StateError(f"cannot open stack {self.name}: {engine_error(err)}") from None

    def crashed_run(self) -> CrashedRun | None:
        record = stale_record(self.workspace.record_path(self.name))
        if record is None:
            return None
        killed = kill_engine_group(record)
        # `pulumi cancel`: the service backend cancels the update; the file backend deletes the lock.
        with contextlib.suppress(auto.CommandError):
            self._selected().cancel()
        return CrashedRun(record.pid, record.host, record.command, killed)

    def forget_crashed_run(self) -> None:
        clear_crash_files(self.workspace.record_path(self.name))

    def _locking(self, call: Callable[[], T]) -> T:
        """A call that takes the stack's lock; a CLI killed by a signal (the OOM killer, a stray kill -9)
        left that lock behind, and nobody else holds it, so it is cancelled for the retry that follows."""

        def guarded() -> T:
            try:
                return call()
            except auto.CommandError as err:
                if killed_by_signal(err):
                    with contextlib.suppress(auto.CommandError):
                        self._selected().cancel()
                raise

        return run_engine(guarded)

    def up(self, on_output: OnOutput) -> UpResult:
        stack = self._selected()
        result = self._locking(functools.partial(stack.up, on_output=on_output, policy_packs=policy_packs()))
        outputs = {k: v.value for k, v in result.outputs.items()}
        return UpResult(outputs, _per_operation(result.summary.resource_changes or {}))

    def destroy(self, on_output: OnOutput) -> None:
        self._locking(functools.partial(self._selected().destroy, on_output=on_output))

    def refresh(self, on_output: OnOutput, *, clear_pending_creates: bool) -> None:
        stack = self._selected()
        self._locking(
            functools.partial(stack.refresh, on_output=on_output, clear_pending_creates=clear_pending_creates)
        )

    def preview(self, on_output: OnOutput) -> dict[str, int]:
        stack = self._selected()
        result = run_engine(
            functools.partial(stack.preview, on_output=on_output, policy_packs=policy_packs())
        )
        return {str(getattr(op, "value", op)): count for op, count in result.change_summary.items()}

    def outputs(self) -> dict[str, StackValue]:
        return {k: StackValue(v.value, v.secret) for k, v in self._selected().outputs().items()}

    def exists(self) -> bool:
        return self._existing() is not None

    def config(self) -> dict[str, StackValue]:
        stack = self._existing()
        if stack is None:
            return {}
        try:
            stored = stack.get_all_config()
        except auto.CommandError as err:
            raise StateError(engine_error(err)) from None
        return {k: StackValue(v.value, v.secret) for k, v in stored.items()}

    def recorded_ids(self) -> set[str]:
        stack = self._existing()
        if stack is None:
            return set()
        try:
            # The exported state lists ids in plaintext: no passphrase is needed to know what is owned.
            return recorded_ids(export_state(stack))
        except auto.CommandError as err:
            raise StateError(f"cannot read the Pulumi state of {self.name}: {engine_error(err)}") from None
        except ValueError as err:
            raise StateError(f"cannot read the Pulumi state of {self.name}: {err}") from None


def _per_operation(changes: Mapping[Any, int]) -> dict[str, int]:
    # The summary's keys are OpType members or their plain strings, depending on the call.
    return {str(getattr(op, "value", op)): count for op, count in changes.items()}
