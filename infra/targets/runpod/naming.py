"""Names for RunPod resources: unique per run, recognisable as this project's, and parseable.

`v4i-flash-4xh200-pod-7f3a9c` is project `v4i`, stack `flash-4xh200`, kind `pod`, run id `7f3a9c`.
RunPod does not make names unique, so the run id does: after a failed create the client finds
its pod by name, and cleanup recognises this project's resources and the stack they belong to.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from infra.errors import ConfigError

PROJECT_SHORT = "v4i"
PREFIX = f"{PROJECT_SHORT}-"
# Short enough for RunPod's name fields and for a hostname label.
MAX_NAME_LENGTH = 60
_KIND = re.compile(r"[a-z][a-z0-9]{0,15}")
# Random hex per run; a fixed tag such as `v1` names a resource that outlives runs (the weight cache).
_RUN_ID = re.compile(r"[a-z0-9]{2,12}")
_PROJECT = re.compile(r"[a-z][a-z0-9]{0,7}")


@dataclass(frozen=True)
class NameParts:
    project: str
    stack: str
    """The stack's slug (see `stack_slug`), not necessarily its full name."""
    kind: str
    run_id: str


def new_run_id() -> str:
    """Six random hex digits."""
    return secrets.token_hex(3)


def stack_slug(stack: str, max_length: int = MAX_NAME_LENGTH) -> str:
    """The stack name as it appears in resource names: lowercase, [a-z0-9-], at most `max_length`."""
    slug = re.sub(r"[^a-z0-9]+", "-", stack.lower()).strip("-")[:max_length].rstrip("-")
    if not slug:
        raise ConfigError(f"stack name {stack!r} has no letters or digits to name resources after")
    return slug


def resource_name(stack: str, kind: str, run_id: str, *, project_short: str = PROJECT_SHORT) -> str:
    """`<project>-<stack slug>-<kind>-<run id>`, at most MAX_NAME_LENGTH characters."""
    if not _PROJECT.fullmatch(project_short):
        raise ConfigError(f"project short name {project_short!r} must match {_PROJECT.pattern}")
    if not _KIND.fullmatch(kind):
        raise ConfigError(f"resource kind {kind!r} must match {_KIND.pattern}")
    if not _RUN_ID.fullmatch(run_id):
        raise ConfigError(f"run id {run_id!r} must be 2-12 lowercase letters or digits")
    room = MAX_NAME_LENGTH - len(project_short) - len(kind) - len(run_id) - 3
    return f"{project_short}-{stack_slug(stack, room)}-{kind}-{run_id}"


def parse_name(name: str, *, project_short: str = PROJECT_SHORT) -> NameParts | None:
    """The parts of a name `resource_name` made, or None for anything else."""
    pattern = (
        rf"(?P<project>{re.escape(project_short)})-(?P<stack>[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)"
        rf"-(?P<kind>{_KIND.pattern})-(?P<run_id>{_RUN_ID.pattern})"
    )
    match = re.fullmatch(pattern, name)
    if match is None or len(name) > MAX_NAME_LENGTH:
        return None
    return NameParts(**match.groupdict())


def belongs_to(name: str, stack: str, *, project_short: str = PROJECT_SHORT) -> bool:
    """Whether `name` is one of this project's resource names for `stack`."""
    parts = parse_name(name, project_short=project_short)
    if parts is None:
        return False
    room = MAX_NAME_LENGTH - len(project_short) - len(parts.kind) - len(parts.run_id) - 3
    return parts.stack == stack_slug(stack, room)
