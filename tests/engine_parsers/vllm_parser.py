"""Judge `vllm serve` command lines with vLLM's own parser; runs inside a cached engine-parser venv.

    <venv>/bin/python vllm_parser.py RESULT.json < COMMANDS.json

COMMANDS.json is a list of {"id": ..., "argv": ["vllm", "serve", MODEL, ...]}; RESULT.json gets one
{"id", "ok", "error", "names"} per command. Each command goes through what `vllm serve` runs before it
loads anything (vllm 0.25.0, vllm/entrypoints/cli/main.py and cli/serve.py):

- the CLI's parser: a FlexibleArgumentParser with the `serve` subparser built by `make_arg_parser`;
- `validate_parsed_serve_args`, the check ServeSubcommand.validate runs;
- `validate_api_server_args`, the check setup_server runs (entrypoints/openai/api_server.py);
- `AsyncEngineArgs.from_cli_args`, which run_server builds the engine from;
- the names the server resolves only once the weights are loaded, each by its own registry: the
  tool-call parser (ToolParserManager.get_tool_parser), the reasoning parser (ReasoningParserManager.
  get_reasoning_parser; setup_server checks only --structured-outputs-config's copy of it) and the
  tokenizer mode (TokenizerRegistry.load_tokenizer_cls, vllm/tokenizers/registry.py, for any mode other
  than "auto"/"slow"). Each import is the real one, so a parser that no longer imports fails too.

No GPU is needed: as `vllm bench` does on a machine without one (cli/main.py), the unspecified platform
is replaced by vLLM's own CpuPlatform before the config classes are built. Results go to a file because
vLLM logs to stdout.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from typing import Any


def _cpu_platform() -> None:
    from vllm import platforms

    if platforms.current_platform.is_unspecified():
        from vllm.platforms.cpu import CpuPlatform

        platforms.current_platform = CpuPlatform()


def judge(argv: list[str]) -> dict[str, Any]:
    from vllm.engine.arg_utils import AsyncEngineArgs
    from vllm.entrypoints.openai.api_server import validate_api_server_args
    from vllm.entrypoints.openai.cli_args import make_arg_parser, validate_parsed_serve_args
    from vllm.reasoning import ReasoningParserManager
    from vllm.tokenizers.registry import TokenizerRegistry
    from vllm.tool_parsers import ToolParserManager
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    if argv[:2] != ["vllm", "serve"]:
        return {"ok": False, "error": f"not a `vllm serve` command: {' '.join(argv[:2])!r}", "names": {}}
    parser = FlexibleArgumentParser(prog="vllm", description="vLLM CLI")
    subparsers = parser.add_subparsers(required=False, dest="subparser")
    make_arg_parser(subparsers.add_parser("serve", usage="vllm serve [model_tag] [options]"))
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            args = parser.parse_args(argv[1:])
    except SystemExit:
        # argparse reports a bad flag on stderr and exits 2; its last line is the verdict.
        lines = [line for line in stderr.getvalue().splitlines() if line.strip()]
        return {"ok": False, "error": lines[-1] if lines else "the parser exited", "names": {}}
    names = {
        "tool_call_parser": args.tool_call_parser,
        "reasoning_parser": args.reasoning_parser,
        "tokenizer_mode": args.tokenizer_mode,
    }
    try:
        validate_parsed_serve_args(args)
        validate_api_server_args(args)
        engine_args = AsyncEngineArgs.from_cli_args(args)
        if args.tool_call_parser:  # a frontend argument: the engine args do not carry it
            ToolParserManager.get_tool_parser(args.tool_call_parser)
        if engine_args.reasoning_parser:
            ReasoningParserManager.get_reasoning_parser(engine_args.reasoning_parser)
        if engine_args.tokenizer_mode not in ("auto", "slow"):
            TokenizerRegistry.load_tokenizer_cls(engine_args.tokenizer_mode)
    except Exception as err:  # the engine's own verdict, whatever its class
        return {"ok": False, "error": f"{type(err).__name__}: {err}", "names": names}
    return {"ok": True, "error": None, "names": names}


def main() -> int:
    commands = json.load(sys.stdin)
    _cpu_platform()
    results = [{"id": c["id"], **judge(list(c["argv"]))} for c in commands]
    with open(sys.argv[1], "w", encoding="utf-8") as out:
        json.dump(results, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
