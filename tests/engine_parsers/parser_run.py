"""What both engine judges share: argparse's verdict on one argv, and the COMMANDS -> RESULT loop.

Imported by vllm_parser.py and sglang_parser.py, which run as scripts inside an engine-parser venv
(their folder is then first on sys.path); it imports nothing of either engine.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
from collections.abc import Callable
from typing import Any

Verdict = dict[str, Any]


def parsed(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace | Verdict:
    """The parsed arguments, or the failed verdict argparse gave (a bad flag: its last stderr line)."""
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            return parser.parse_args(argv)
    except SystemExit:
        # argparse reports a bad flag on stderr and exits 2; its last line is the verdict.
        lines = [line for line in stderr.getvalue().splitlines() if line.strip()]
        return failed(lines[-1] if lines else "the parser exited")


def failed(error: str, names: dict[str, Any] | None = None) -> Verdict:
    return {"ok": False, "error": error, "names": names or {}}


def looked_up_names(args: argparse.Namespace) -> dict[str, Any]:
    """The names the server resolves by registry, as the command spelt them."""
    return {
        "tool_call_parser": args.tool_call_parser,
        "reasoning_parser": args.reasoning_parser,
        "tokenizer_mode": args.tokenizer_mode,
    }


def run(judge: Callable[[list[str]], Verdict]) -> int:
    """`python PARSER.py RESULT.json < COMMANDS.json`: one verdict per command, by id."""
    commands = json.load(sys.stdin)
    results = [{"id": c["id"], **judge(list(c["argv"]))} for c in commands]
    with open(sys.argv[1], "w", encoding="utf-8") as out:
        json.dump(results, out)
    return 0
