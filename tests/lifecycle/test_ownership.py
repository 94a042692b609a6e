"""Ownership is read strictly: when the Pulumi state cannot be read, `cleanup` and `down` remove nothing.

Before, an error reading the state was swallowed, every resource named for the stack looked
orphaned, and `cleanup --yes` removed a pod the state still owned.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess

from lifecycle_env import STACK, Setup


def break_state(setup: Setup) -> None:
    """The stack exists in the backend but its state file is unreadable (a damaged or half-synced backend)."""
    init = setup.pulumi("stack", "init", STACK)
    assert init.returncode == 0, init.stderr
    backend = Path(setup.env["PULUMI_BACKEND_URL"].removeprefix("file://"))
    (state,) = (backend / ".pulumi" / "stacks").rglob(f"{STACK}.json")
    state.write_text("{ this is not a checkpoint")


def test_cleanup_removes_nothing_when_the_state_cannot_be_read_and_force_is_the_way_out(
    setup: Setup, one_line: Callable[[CompletedProcess[str]], str]
) -> None:
    pod = setup.pod(setup.name("pod", "abc123"))
    break_state(setup)

    refused = setup.v4infra("cleanup", STACK, "--yes")
    assert refused.returncode != 0
    line = one_line(refused)
    assert "cannot read the Pulumi state" in line and STACK in line and "--force" in line, line
    assert pod in setup.live_pods(), "a pod the unreadable state may own was removed"

    forced = setup.v4infra("cleanup", STACK, "--yes", "--force")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert pod not in setup.live_pods()
    assert f"removed pod {setup.name('pod', 'abc123')} ({pod})" in forced.stdout


def test_down_removes_nothing_by_name_when_the_state_cannot_be_read(
    setup: Setup, one_line: Callable[[CompletedProcess[str]], str]
) -> None:
    pod = setup.pod(setup.name("pod", "abc123"))
    break_state(setup)

    refused = setup.v4infra("down", STACK)
    assert refused.returncode == 5, refused.stdout + refused.stderr
    line = one_line(refused)
    assert "nothing was removed" in line and f"down {STACK} --force" in line, line
    assert pod in line, "the error names what is still live"
    assert pod in setup.live_pods()

    forced = setup.v4infra("down", STACK, "--force")
    assert pod not in setup.live_pods(), forced.stdout + forced.stderr
