"""Names for RunPod resources: unique per stack identity and run, recognisable as this project's, parseable.

`v4i-flash-4xh200-3f9a0c12de-pod-7f3a9c` is project `v4i`, stack slug `flash-4xh200`, identity digest
`3f9a0c12de`, kind `pod`, run id `7f3a9c`. The slug is for people and is cut to fit; the digest is
a hash of the full identity (project, stack name, Pulumi backend URL), so `exp-a` and `exp_a`, or two
long stack names equal in their first 45 characters, or one stack name in two backends, never share a
name. RunPod does not make names unique, so ownership is decided by `owns(name, identity)`: an exact
match of the digest and the slug, never a prefix.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from dataclasses import dataclass

from infra.errors import ConfigError

PROJECT = "deepseek-v4-infra"
PROJECT_SHORT = "v4i"
# A cheap pre-filter for list calls; ownership is `owns()`, never this prefix.
PREFIX = f"{PROJECT_SHORT}-"
# Short enough for RunPod's name fields and for a hostname label (63).
MAX_NAME_LENGTH = 60
DIGEST_LENGTH = 10  # 40 bits: a collision needs about a million stacks sharing one RunPod account
_KIND = re.compile(r"[a-z][a-z0-9]{0,15}")
# Random hex per run; a fixed tag such as `v1` names a resource that outlives runs (the weight cache).
_RUN_ID = re.compile(r"[a-z0-9]{2,12}")
_NAME = re.compile(
    rf"(?P<project>{re.escape(PROJECT_SHORT)})-(?P<stack>[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)"
    rf"-(?P<digest>[0-9a-f]{{{DIGEST_LENGTH}}})-(?P<kind>{_KIND.pattern})-(?P<run_id>{_RUN_ID.pattern})"
)


@dataclass(frozen=True)
class NameParts:
    project: str
    stack: str
    """The stack's slug, cut to fit, not necessarily its full name."""
    digest: str
    kind: str
    run_id: str


@dataclass(frozen=True)
class StackIdentity:
    """Who owns a resource: the Pulumi project, the full stack name and the state backend."""

    project: str
    stack: str
    backend: str = ""

    @property
    def digest(self) -> str:
        text = json.dumps([self.project, self.stack, self.backend], ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()[:DIGEST_LENGTH]

    def name(self, kind: str, run_id: str) -> str:
        return resource_name(self, kind, run_id)

    def owns(self, name: str) -> bool:
        return owns(name, self)


def for_stack(stack: str, *, backend: str | None = None, project: str = PROJECT) -> StackIdentity:
    """The identity of `stack`; `backend` defaults to $PULUMI_BACKEND_URL, which v4infra always sets."""
    check_stack_name(stack)
    url = os.environ.get("PULUMI_BACKEND_URL", "") if backend is None else backend
    return StackIdentity(project, stack, url.rstrip("/"))


def check_stack_name(stack: str) -> None:
    """Refuse a stack name that cannot name resources: it needs a letter or digit for the slug."""
    if not stack or not re.search(r"[A-Za-z0-9]", stack):
        raise ConfigError(f"stack name {stack!r} has no letters or digits to name resources after")


def new_run_id() -> str:
    """Six random hex digits."""
    return secrets.token_hex(3)


def stack_slug(stack: str, max_length: int) -> str:
    """The stack name as people read it in resource names: lowercase, [a-z0-9-], at most `max_length`."""
    slug = re.sub(r"[^a-z0-9]+", "-", stack.lower()).strip("-")[:max_length].rstrip("-")
    if not slug:
        raise ConfigError(f"stack name {stack!r} has no letters or digits to name resources after")
    return slug


def _slug_room(kind: str, run_id: str) -> int:
    return MAX_NAME_LENGTH - len(PROJECT_SHORT) - DIGEST_LENGTH - len(kind) - len(run_id) - 4


def resource_name(identity: StackIdentity, kind: str, run_id: str) -> str:
    """`<project>-<stack slug>-<digest>-<kind>-<run id>`, at most MAX_NAME_LENGTH characters."""
    if not _KIND.fullmatch(kind):
        raise ConfigError(f"resource kind {kind!r} must match {_KIND.pattern}")
    if not _RUN_ID.fullmatch(run_id):
        raise ConfigError(f"run id {run_id!r} must be 2-12 lowercase letters or digits")
    slug = stack_slug(identity.stack, _slug_room(kind, run_id))
    return f"{PROJECT_SHORT}-{slug}-{identity.digest}-{kind}-{run_id}"


def parse_name(name: str) -> NameParts | None:
    """The parts of a name `resource_name` made, or None for anything else."""
    match = _NAME.fullmatch(name)
    if match is None or len(name) > MAX_NAME_LENGTH:
        return None
    return NameParts(**match.groupdict())


def owns(name: str, identity: StackIdentity) -> bool:
    """Whether `name` is a resource name of exactly this identity (digest and slug both match)."""
    parts = parse_name(name)
    if parts is None or parts.digest != identity.digest:
        return False
    return parts.stack == stack_slug(identity.stack, _slug_room(parts.kind, parts.run_id))
