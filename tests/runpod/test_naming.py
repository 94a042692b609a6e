"""Resource names: one stack can never match, adopt or delete another stack's pods and volumes."""

from __future__ import annotations

import random
import string

import pytest

from infra.config import STACK_NAME
from infra.errors import ConfigError
from infra.targets.runpod import naming

KINDS = ("pod", "cache", "prefill")


def test_a_name_is_readable_valid_and_parses_back() -> None:
    me = naming.for_stack("Flash 4xH200_prod!", backend="file:///state")
    name = me.name("pod", "7f3a9c")
    assert name.startswith("v4i-flash-4xh200-prod-") and name.endswith("-pod-7f3a9c")
    assert naming.parse_name(name) == naming.NameParts("v4i", "flash-4xh200-prod", me.digest, "pod", "7f3a9c")
    assert me.owns(name)
    assert naming.parse_name("my-own-pod") is None
    assert naming.parse_name("v4i-flash-pod-7f3a9c") is None, "an old name without a digest is nobody's"
    assert naming.new_run_id() != naming.new_run_id()
    with pytest.raises(ConfigError):
        me.name("pod-x", "7f3a9c")
    with pytest.raises(ConfigError, match="no letters or digits"):
        naming.for_stack("---", backend="")


@pytest.mark.parametrize(
    ("mine", "theirs"),
    [
        ("exp-a", "exp_a"),
        ("exp-a", "exp.a"),
        ("Exp-A", "exp-a"),
        ("a" * 45 + "-one", "a" * 45 + "-two"),
        ("x" * 100, "x" * 99),
    ],
)
def test_stacks_whose_slugs_collide_never_share_or_match_names(mine: str, theirs: str) -> None:
    me, other = naming.for_stack(mine, backend=""), naming.for_stack(theirs, backend="")
    for kind in KINDS:
        # The cache's run id is a fixed tag: the very name the old scheme gave both stacks.
        ours, theirs_name = me.name(kind, "v1"), other.name(kind, "v1")
        assert ours != theirs_name
        assert me.owns(ours) and not me.owns(theirs_name)
        assert other.owns(theirs_name) and not other.owns(ours)


def test_the_same_stack_in_another_backend_is_another_owner() -> None:
    here = naming.for_stack("flash", backend="file:///home/a/state/backend")
    there = naming.for_stack("flash", backend="s3://team-bucket/pulumi")
    assert not there.owns(here.name("cache", "v1"))
    assert naming.for_stack("flash", backend="file:///home/a/state/backend/").owns(here.name("cache", "v1"))


def test_ownership_is_exact_never_a_prefix() -> None:
    me = naming.for_stack("flash", backend="")
    name = me.name("pod", "abc123")
    digest = me.digest
    other_digest = digest[:-1] + ("0" if digest[-1] != "0" else "1")
    for near in (
        name.replace("-flash-", "-flash0-"),
        name.replace("-flash-", "-fla-"),
        name.replace(digest, other_digest),
        "x" + name,
        name.upper(),
        name + "\n",
    ):
        assert not me.owns(near), near
    assert me.owns(me.name("pod", "abc1230")), "another run of the same stack is still this stack's"


def test_the_backend_defaults_to_the_one_pulumi_uses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULUMI_BACKEND_URL", "file:///somewhere")
    assert naming.for_stack("flash").backend == "file:///somewhere"


def test_every_valid_stack_name_gets_valid_distinct_names() -> None:
    rng = random.Random(13)
    alphabet = string.ascii_letters + string.digits + "-_."
    seen: dict[str, str] = {}
    for _ in range(2000):
        stack = rng.choice(string.ascii_letters + string.digits) + "".join(
            rng.choice(alphabet) for _ in range(rng.randint(0, 99))
        )
        assert STACK_NAME.fullmatch(stack)
        me = naming.for_stack(stack, backend="")
        for kind in KINDS:
            name = me.name(kind, naming.new_run_id())
            assert len(name) <= naming.MAX_NAME_LENGTH
            assert naming.parse_name(name) is not None and me.owns(name)
        cache = me.name("cache", "v1")
        assert seen.setdefault(cache, stack) == stack, f"{stack!r} and {seen[cache]!r} share {cache}"
