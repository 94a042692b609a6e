"""Every command the project emits is accepted by the real parser of the engine version its plan pins.

A renamed flag, a new image tag or a new preset that the engine would refuse at start (an hour into a
paid Pro load, for a parser name) fails here instead. The parsers run in cached venvs of the real vllm /
sglang packages (tests/engine_parsers/judge.py); the commands come from the project's public renderers
(tests/engine_parsers/emitted.py).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from emitted import Emitted, all_commands, pins
from judge import judge, parser_python

from infra.config import stack_names

COMMANDS = all_commands()
# The option that names each looked-up component, per engine (vLLM: cli_args/arg_utils; SGLang: ServerArgs).
NAME_FLAGS = {
    "vllm": {
        "tool_call_parser": "--tool-call-parser",
        "reasoning_parser": "--reasoning-parser",
        "tokenizer_mode": "--tokenizer-mode",
    },
    "sglang": {"tool_call_parser": "--tool-call-parser", "reasoning_parser": "--reasoning-parser"},
}
# Every place a command is emitted from, so that the collection cannot quietly lose one.
SOURCES = (
    "plan",
    "plan role",
    "RunPod start script",
    "RunPod plain start",
    "RunPod cluster script",
    "Deployment",
    "LeaderWorkerSet",
)


def _by_pin() -> dict[tuple[str, str], list[Emitted]]:
    grouped: dict[tuple[str, str], list[Emitted]] = defaultdict(list)
    for command in COMMANDS:
        grouped[(command.engine, command.version)].append(command)
    return grouped


def _value(argv: tuple[str, ...] | list[str], flag: str) -> str | None:
    return argv[argv.index(flag) + 1] if flag in argv else None


def test_the_collection_covers_every_preset_and_every_place_a_command_is_emitted() -> None:
    wheres = [c.where for c in COMMANDS]
    for stack in stack_names():
        assert any(w.startswith(f"{stack}[") for w in wheres), f"no command collected for preset {stack}"
    for source in SOURCES:
        assert any(f"] {source}" in w for w in wheres), f"no command collected from: {source}"
    assert {engine for engine, _ in pins(COMMANDS)} == {"vllm", "sglang"}


@pytest.mark.parametrize("pin", pins(COMMANDS), ids=lambda p: f"{p[0]}-{p[1]}")
def test_every_emitted_command_is_accepted_by_the_pinned_engines_parser(pin: tuple[str, str]) -> None:
    engine, version = pin
    commands = {c.where: list(c.argv) for c in _by_pin()[pin]}
    verdicts = judge(engine, version, commands)
    refused = [f"{where}: {verdicts[where]['error']}" for where in commands if not verdicts[where]["ok"]]
    assert not refused, f"{engine} {version} refuses {len(refused)} command(s):\n" + "\n".join(refused)
    # The server's name look-ups ran on the names the command sets (every plan sets them).
    for where, argv in commands.items():
        for name, flag in NAME_FLAGS[engine].items():
            assert _value(argv, flag) is not None, f"{where} sets no {flag}"
            assert verdicts[where]["names"][name] == _value(argv, flag), where


def _misspelt(flag: str) -> str:
    # Swap the last two letters: never a prefix of a real option, which argparse would accept.
    return flag[:-2] + flag[-1] + flag[-2]


WRONG_NAME_SUFFIX = "_v9"


@functools.cache
def _spoilt(engine: str) -> tuple[dict[str, list[str]], dict[str, dict[str, Any]]]:
    """One emitted plan command of `engine`, as emitted and spoilt one way each, and the engine's verdicts
    (one parser run for all of them)."""
    sample = next(c for c in COMMANDS if c.engine == engine and c.where.endswith("] plan"))
    variants = {"as emitted": list(sample.argv)}
    argv = list(sample.argv)
    # The last long option: an optional one, so the error is about the spelling, not a missing model.
    index = max(i for i, word in enumerate(argv) if word.startswith("--") and len(word) > 6)
    argv[index] = _misspelt(argv[index])
    variants["misspelt flag"] = argv
    for name, flag in NAME_FLAGS[engine].items():
        argv = list(sample.argv)
        argv[argv.index(flag) + 1] += WRONG_NAME_SUFFIX
        variants[name] = argv
    return variants, judge(engine, sample.version, variants)


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_a_misspelt_flag_fails_the_check(engine: str) -> None:
    variants, verdicts = _spoilt(engine)
    assert verdicts["as emitted"]["ok"], verdicts["as emitted"]["error"]
    assert not verdicts["misspelt flag"]["ok"]
    wrong = next(
        w for w, right in zip(variants["misspelt flag"], variants["as emitted"], strict=True) if w != right
    )
    assert wrong in verdicts["misspelt flag"]["error"]


@pytest.mark.parametrize(
    ("engine", "name"),
    [(engine, name) for engine, flags in NAME_FLAGS.items() for name in flags],
)
def test_a_name_the_server_looks_up_that_the_engine_does_not_register_fails_the_check(
    engine: str, name: str
) -> None:
    variants, verdicts = _spoilt(engine)
    assert not verdicts[name]["ok"]
    wrong = _value(variants[name], NAME_FLAGS[engine][name])
    assert wrong is not None and wrong.endswith(WRONG_NAME_SUFFIX)
    assert wrong in verdicts[name]["error"]


def test_a_missing_parser_venv_fails_naming_the_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("V4INFRA_ENGINE_PARSERS", str(tmp_path))
    for ci in ("true", None):  # a developer's run fails too: a skipped judge would pass misspelt flags
        if ci is None:
            monkeypatch.delenv("CI", raising=False)
        else:
            monkeypatch.setenv("CI", ci)
        with pytest.raises(pytest.fail.Exception, match="make engine-parsers"):
            parser_python("vllm", "0.25.0")
