"""Teardown of one stack: `pulumi destroy` (retried), then what the provider still bills minus what the
state owns is removed by id. 429/5xx answers are outlasted up to a deadline; what is left is confirmed by
listing the provider, never by trusting the engine's word, and nothing is removed by name when the state
cannot be read (unless forced). In `validate` it is shielded: a press says what is still being removed and
until when it would bill, and only the third stops it, printing the command that finishes the job.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from infra.errors import DeploymentError, ProviderError, StateError, TeardownError, Terminated
from infra.lifecycle.clock import Clock
from infra.progress import Progress
from infra.stack_engine import StackEngine
from infra.targets.base import Billed, Target
from infra.validate.report import Teardown
from infra.validate.teardown import carry_on_notice, stopped_notice

DESTROY_ATTEMPTS = 3
# How long teardown keeps retrying a provider that answers 429/5xx before it reports what is left.
TEARDOWN_DEADLINE_SECONDS = 600.0

T = TypeVar("T")


@dataclass
class StackTeardown:
    """Removes one stack's resources and says what is left at its provider."""

    stack: str
    target: Callable[[], Target]
    """The stack's target as the lifecycle opens it on first use (a destroy needs none, a listing does)."""
    engine: Callable[[], StackEngine]
    """The stack's Pulumi operations, opened on first use too."""
    out: Progress
    clock: Clock
    heal: Callable[[], None]
    """Recovers a run that died holding the lock before each destroy (the lifecycle's, once per command)."""
    until: Callable[[], str]
    """Until when what is left bills, asked when a press is answered (the stack's time-to-live)."""
    rehearse: bool = False
    """The command that finishes a stopped teardown carries `--rehearse` for a rehearsal."""
    deadline: float = TEARDOWN_DEADLINE_SECONDS
    """How long 429/5xx answers are outlasted before teardown says what is left."""
    removing: list[str] = field(default_factory=list)
    """What teardown is still removing, as last listed (for the Ctrl-C warning)."""

    def down(self, purge_cache: bool = False, force: bool = False) -> list[str]:
        """Destroy the stack (retried), then remove what no state owns; with purge, the weight cache too.

        Returns what is left (nothing, or a TeardownError is raised). When the state cannot be read,
        nothing is removed unless `force`, which treats every resource of the stack as unowned.
        """
        last: Exception | None = None
        for attempt in range(1, DESTROY_ATTEMPTS + 1):
            try:
                self.heal()
                with self.out.live("pulumi destroy") as update:
                    self.engine().destroy(update)
                last = None
                break
            except DeploymentError as err:
                last = err
                if attempt < DESTROY_ATTEMPTS:
                    self.out.event(f"destroy attempt {attempt} failed ({err}); retrying", "yellow")
                    self.clock.sleep(2.0 * attempt)
        try:
            owned = self.owned_unless_forced(force)
        except StateError as err:
            left = self.still_live(purge_cache)
            raise TeardownError(
                f"{err}; nothing was removed by name, still live: {', '.join(left) or 'nothing'}. Fix the "
                f"state's access, or run `v4infra down {self.stack} --force` to remove every resource of the stack",
                leftover=left,
            ) from None
        self.remove_strays(owned, include_cache=purge_cache)
        leftover = [b.label() for b in self.outlast("listing what is left", self.lister(purge_cache))]
        if last is not None or leftover:
            why = f" (pulumi destroy: {last})" if last is not None else ""
            raise TeardownError(
                f"teardown of {self.stack} left {', '.join(leftover) or 'the stack in an unknown state'}"
                f"{why}; run `v4infra cleanup {self.stack} --yes`",
                leftover=leftover,
            )
        return leftover

    def lister(self, include_cache: bool) -> Callable[[], list[Billed]]:
        """A listing of what the stack bills, which also keeps `removing` current."""

        def listed() -> list[Billed]:
            found = self.target().billed(self.stack, include_cache)
            self.removing = [b.label() for b in found]
            return found

        return listed

    def remove_strays(self, owned: set[str], include_cache: bool) -> list[Billed]:
        """Resources of this stack that no state owns (a create cut short by a signal): removed by id."""
        strays = [b for b in self.outlast("listing", self.lister(include_cache)) if b.id not in owned]
        for item in strays:
            self.remove(item)
            with contextlib.suppress(ValueError):
                self.removing.remove(item.label())
            what = "purged weight cache" if item.cache else "removed"
            note = "" if item.cache else ", which no Pulumi state recorded"
            self.out.event(f"{what} {item.label()}{note}", "yellow" if note else "")
        return strays

    def remove(self, item: Billed) -> None:
        """Remove one resource at the provider, outlasting 429/5xx answers up to the teardown deadline."""
        self.outlast(f"removing {item.label()}", lambda: self.target().remove(item))

    def still_live(self, include_cache: bool, *, patient: bool = True) -> list[str]:
        """What of this stack the provider still holds, or why that could not be learned; never raises.

        `patient` outlasts 429/5xx up to the teardown deadline; otherwise the provider is asked once."""
        listed = self.lister(include_cache)
        try:
            found = self.outlast("listing what is left", listed) if patient else listed()
            return [b.label() for b in found]
        except Exception as err:  # the report must still be written
            why = f"{self.target().provider} could not be asked ({err})"
            with contextlib.suppress(Exception):
                recorded = sorted(self.owned())
                if recorded:
                    return [f"{rid} (recorded in the Pulumi state; {why})" for rid in recorded]
            return [f"unknown: {why}"]

    def still_live_billed(self) -> list[Billed]:
        """What is still billed, weight cache included; nothing when the provider cannot be asked."""
        with contextlib.suppress(Exception):
            return self.outlast("listing the kept cache", self.lister(True))
        return []

    def owned(self) -> set[str]:
        """Ids of every resource the stack's Pulumi state records; raises StateError when it cannot be read."""
        return self.engine().recorded_ids()

    def owned_unless_forced(self, force: bool) -> set[str]:
        """What the state owns; with `force`, an unreadable state owns nothing (everything is a stray)."""
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
            owned = self.owned_unless_forced(force)
        except StateError as err:
            raise StateError(
                f"{err}; nothing removed. `v4infra cleanup {self.stack} --yes --force` treats every "
                "resource named for the stack as unowned"
            ) from None
        return [b for b in self.outlast("listing", self.lister(True)) if b.id not in owned]

    def outlast(self, what: str, call: Callable[[], T]) -> T:
        """Retry a provider call on 429/5xx with backoff until the teardown deadline, then give up."""
        deadline = self.clock.monotonic() + self.deadline
        delay = 1.0
        while True:
            try:
                return call()
            except ProviderError as err:
                if not err.retryable or self.clock.monotonic() + delay > deadline:
                    raise
                self.out.event(f"{what}: {err}; retrying in {delay:.0f} s", "yellow")
                self.clock.sleep(delay)
                delay = min(delay * 2, 15.0)

    def confirmed(self, purge_cache: bool) -> Teardown:
        """Tear down and confirm at the provider; a failure still names what is live, never raises it."""
        try:
            self.down(purge_cache=purge_cache)
        except TeardownError as err:
            self.out.event(str(err), "bold red")
            return Teardown(ok=False, leftover=err.leftover, error=str(err))
        except Exception as err:  # an API that outlasted every retry: the report still names what is live
            left = self.still_live(purge_cache)
            message = f"teardown of {self.stack} failed: {err}"
            self.out.event(f"{message}; left: {', '.join(left) or 'nothing'}", "bold red")
            return Teardown(ok=False, leftover=left, error=message)
        kept = [] if purge_cache else [b for b in self.still_live_billed() if b.cache]
        note = f"; {kept[0].kind} {kept[0].name} ({kept[0].id}) kept for the next run" if kept else ""
        self.out.event(
            f"teardown confirmed: no pod of this stack is left at {self.target().provider}{note}",
            "bold green",
        )
        return Teardown(
            ok=True, removed=["every pod of this stack", *(["the weight cache"] if purge_cache else [])]
        )

    def shielded(self, purge_cache: bool) -> tuple[Teardown, BaseException | None]:
        """Destroy and confirm, shielded (infra.engine_process.Interrupts); whatever happens (the API down,
        a third Ctrl-C), say what is still live. Returns the teardown and the press that stopped it."""
        try:
            # What is being removed, for a press's warning (down() lists again, patiently).
            with contextlib.suppress(Exception):
                self.lister(purge_cache)()
            self.out.event(
                f"teardown: destroying {self.stack}" + (" and purging the cache" if purge_cache else "")
            )
            return self.confirmed(purge_cache), None
        except (KeyboardInterrupt, Terminated) as stop:
            return self.stopped(purge_cache), stop

    def carry_on(self, presses: int, what: str) -> str:
        """What a press that teardown outlives is answered with (written in the signal handler: no I/O)."""
        return carry_on_notice(what, presses, self.removing, self.stack, self.until())

    def stopped(self, purge_cache: bool) -> Teardown:
        """Teardown stopped by the third press: what is left, until when it bills, and how to finish."""
        try:
            left = self.still_live(purge_cache, patient=False)
        except (KeyboardInterrupt, Terminated):  # pressed yet again: what was last seen is the answer
            left = list(self.removing) or [f"unknown: every resource of {self.stack} may be left"]
        flags = (" --rehearse" if self.rehearse else "") + (" --purge-cache" if purge_cache else "")
        message = stopped_notice(self.stack, left, self.until(), flags)
        self.out.event(message, "bold red")
        return Teardown(ok=not left, leftover=left, error=message)
