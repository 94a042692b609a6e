"""Judge SGLang launch commands with SGLang's own ServerArgs CLI; runs inside a cached engine-parser venv.

    <venv>/bin/python sglang_parser.py RESULT.json < COMMANDS.json

COMMANDS.json is a list of {"id": ..., "argv": ["python3", "-m", "sglang.launch_server", ...]}; RESULT.json
gets one {"id", "ok", "error", "names"} per command. Each command goes through what launch_server runs
first (sglang 0.5.12, sglang/launch_server.py -> srt/server_args.py prepare_server_args): an
ArgumentParser(prog="sglang serve") filled by `ServerArgs.add_cli_args`, then `parse_args`. The names the
server looks up are checked against its registries: the reasoning parser in `ReasoningParser.DetectorMap`,
the tool-call parser in `FunctionCallParser.ToolCallParserEnum`, the tokenizer mode in the parser's
choices. `ServerArgs.__post_init__` is not run: it reads the model's config from the hub and the GPU's
memory, which a parser check has neither of.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from typing import Any

from parser_run import failed, looked_up_names, parsed, run

LAUNCHER = ["-m", "sglang.launch_server"]


def judge(argv: list[str]) -> dict[str, Any]:
    from sglang.srt.function_call.function_call_parser import FunctionCallParser
    from sglang.srt.parser.reasoning_parser import ReasoningParser
    from sglang.srt.server_args import ServerArgs

    if argv[1:3] != LAUNCHER:
        return failed(f"not an SGLang launch command: {' '.join(argv[:3])!r}")
    if importlib.util.find_spec("sglang.launch_server") is None:
        return failed("this SGLang has no sglang.launch_server module")
    parser = argparse.ArgumentParser(prog="sglang serve")
    ServerArgs.add_cli_args(parser)
    args = parsed(parser, argv[3:])
    if not isinstance(args, argparse.Namespace):
        return args
    names = looked_up_names(args)
    unknown = []
    if args.reasoning_parser not in (None, "auto", *ReasoningParser.DetectorMap):
        unknown.append(f"reasoning parser {args.reasoning_parser!r}")
    if args.tool_call_parser not in (None, "auto", *FunctionCallParser.ToolCallParserEnum):
        unknown.append(f"tool-call parser {args.tool_call_parser!r}")
    if unknown:
        return failed("SGLang registers no " + " and no ".join(unknown), names)
    return {"ok": True, "error": None, "names": names}


if __name__ == "__main__":
    sys.exit(run(judge))
