"""Judge `vllm serve` command lines with vLLM's own parser; runs inside a cached engine-parser venv.

    <venv>/bin/python vllm_parser.py RESULT.json < COMMANDS.json

COMMANDS.json is a list of {"id": ..., "argv": ["vllm", "serve", MODEL, ...]}; RESULT.json gets one
{"id", "ok", "error", "names"} per command. Each command goes through what `vllm serve` runs before it
loads anything (vllm/entrypoints/cli/main.py and cli/serve.py, the same in 0.25 and 0.33):

- the CLI's own parser: a FlexibleArgumentParser whose `serve` subparser is built by the version's
  ServeSubcommand.subparser_init, then its `validate` (validate_parsed_serve_args);
- `validate_api_server_args`, the check setup_server runs, wherever the version defines it
  (0.25: entrypoints/openai/api_server.py; 0.33: entrypoints/common/cli_args.py);
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

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Callable
from typing import Any

from parser_run import failed, looked_up_names, parsed, run


def _cpu_platform() -> None:
    from vllm import platforms

    if platforms.current_platform.is_unspecified():
        from vllm.platforms.cpu import CpuPlatform

        platforms.current_platform = CpuPlatform()


# Where each vLLM version defines the check setup_server runs on the parser names.
API_SERVER_CHECKS = ("vllm.entrypoints.common.cli_args", "vllm.entrypoints.openai.api_server")


def _exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError as err:  # a parent package is missing: the module is not in this version
        if err.name is not None and module.startswith(err.name):
            return False
        raise


def _api_server_check() -> Callable[[argparse.Namespace], None]:
    for module in API_SERVER_CHECKS:
        # A module that exists is imported for real: a failing import is the verdict, not a reason to skip.
        if _exists(module):
            check: Callable[[argparse.Namespace], None] | None = getattr(
                importlib.import_module(module), "validate_api_server_args", None
            )
            if check is not None:
                return check
    raise ImportError(f"this vLLM defines validate_api_server_args in none of {', '.join(API_SERVER_CHECKS)}")


def judge(argv: list[str]) -> dict[str, Any]:
    from vllm.engine.arg_utils import AsyncEngineArgs
    from vllm.entrypoints.cli.serve import ServeSubcommand
    from vllm.reasoning import ReasoningParserManager
    from vllm.tokenizers.registry import TokenizerRegistry
    from vllm.tool_parsers import ToolParserManager
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    if argv[:2] != ["vllm", "serve"]:
        return failed(f"not a `vllm serve` command: {' '.join(argv[:2])!r}")
    serve = ServeSubcommand()
    parser = FlexibleArgumentParser(prog="vllm", description="vLLM CLI")
    serve.subparser_init(parser.add_subparsers(required=False, dest="subparser"))
    args = parsed(parser, argv[1:])
    if not isinstance(args, argparse.Namespace):
        return args
    names = looked_up_names(args)
    try:
        serve.validate(args)
        _api_server_check()(args)
        engine_args = AsyncEngineArgs.from_cli_args(args)
        if args.tool_call_parser:  # a frontend argument: the engine args do not carry it
            ToolParserManager.get_tool_parser(args.tool_call_parser)
        if engine_args.reasoning_parser:
            ReasoningParserManager.get_reasoning_parser(engine_args.reasoning_parser)
        if engine_args.tokenizer_mode not in ("auto", "slow"):
            TokenizerRegistry.load_tokenizer_cls(engine_args.tokenizer_mode)
    except Exception as err:  # the engine's own verdict, whatever its class
        return failed(f"{type(err).__name__}: {err}", names)
    return {"ok": True, "error": None, "names": names}


def main() -> int:
    _cpu_platform()
    return run(judge)


if __name__ == "__main__":
    sys.exit(main())
