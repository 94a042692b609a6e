"""What the local hub serves (infra/emulator/hub_content.py): commits as a push makes them, refused ids."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from infra.emulator.hub_content import HubContent

REPO = "deepseek-ai/DeepSeek-V4-Flash"


def test_a_second_push_moves_the_branch_and_keeps_the_older_commit() -> None:
    hub = HubContent()
    first = hub.add_repo(REPO, {"config.json": b"{}"})
    second = hub.add_repo(REPO, {"config.json": b'{"v": 2}'})

    assert first != second and hub.commit(REPO) == second
    assert hub.files(REPO, first)["config.json"].data == b"{}"
    assert hub.files(REPO)["config.json"].data == b'{"v": 2}'
    # The same content gives the same commit id; a dataset of the same name is another repo.
    assert HubContent().add_repo(REPO, {"config.json": b"{}"}) == first
    assert hub.add_repo(REPO, {"config.json": b"{}"}, repo_type="dataset") != first
    assert hub.commit(REPO) == second


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda h: h.add_repo("no-org", {}), "repo id must be 'org/name', got 'no-org'"),
        (lambda h: h.add_repo(REPO, {}, "ABC"), "revision_sha must be 40 lowercase hex digits, got 'ABC'"),
        (lambda h: h.break_file(REPO, "x", "slow"), "mode must be 'truncate' or 'corrupt', got 'slow'"),
    ],
)
def test_a_wrong_argument_is_refused_with_what_would_be_right(
    call: Callable[[HubContent], object], message: str
) -> None:
    with pytest.raises(ValueError) as refused:
        call(HubContent())
    assert str(refused.value) == message
