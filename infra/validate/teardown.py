"""What a validation's teardown says when Ctrl-C meets it (pure: no I/O, no clock of its own).

A press that does not stop the teardown names what is still being removed and until when it would bill
if stopped: the stack's time-to-live, counted from when `up` had made everything. The press that stops
it names what is left and the commands that finish the job (Terraform, likewise, warns on a second
interrupt that stopping now may leave resources behind, and stops only on a further one).
"""

from __future__ import annotations

from datetime import UTC, datetime

# The press that stops a teardown: the first started it, the second is warned, the third stops it.
STOP_PRESS = 3


def billing_until(ttl_minutes: int | None, created: float, now: float) -> str:
    """`until its time-to-live at HH:MM UTC` (with the date when it is not today's), for resources
    created by the wall-clock time `created`; a permanent stack bills until it is removed."""
    if ttl_minutes is None:
        return "until it is removed (the stack is permanent: no time-to-live)"
    ends = datetime.fromtimestamp(created + ttl_minutes * 60, UTC)
    today = datetime.fromtimestamp(now, UTC).date()
    when = ends.strftime("%H:%M") if ends.date() == today else ends.strftime("%Y-%m-%d %H:%M")
    return f"until its time-to-live at {when} UTC"


def carry_on_notice(what: str, presses: int, removing: list[str], stack: str, until: str) -> str:
    """A press (`Ctrl-C`, `SIGTERM`) that teardown outlives: what it still removes, and what the third does."""
    still = ", ".join(removing) or f"every resource of {stack}"
    if presses >= STOP_PRESS - 1:
        more = "A third Ctrl-C stops it and leaves that"
    else:
        more = f"Only a third Ctrl-C ({STOP_PRESS - presses} more) stops it and leaves that"
    return f"{what}: teardown carries on, still removing {still}. {more} billing {until}"


def stopped_notice(stack: str, left: list[str], until: str, flags: str) -> str:
    """The press that stopped teardown: what is left, until when it bills, the commands that finish."""
    return (
        f"teardown stopped by a third Ctrl-C; left billing {until}: {', '.join(left) or 'nothing'}. "
        f"`v4infra down {stack}{flags}` finishes the job "
        f"(`v4infra cleanup {stack} --yes{flags}` removes what no state records)"
    )
