"""Run an engine's own parser over commands, in that engine version's cached venv (a subprocess).

The venvs are built by `make engine-parsers` (tools/build-engine-parsers.sh) outside the work tree; the
project venv never imports vllm or sglang. Without a venv a developer's run skips with the command that
builds it; under CI (`CI=true`) the test fails, as the Kubernetes tests do.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
# Generous: importing torch and the engine on a busy 2-core machine takes most of this.
TIMEOUT_S = 600
# Parsing needs no network: every HTTP client and the hub point at a closed local port, so a look-up fails
# loudly instead of quietly depending on the internet. HF_HUB_OFFLINE stays unset: with it, vLLM's
# EngineArgs swaps the model id for its local snapshot (engine/arg_utils.py), which only a pod's cache has.
NO_NETWORK = "http://127.0.0.1:9"
OFFLINE_ENV = {
    "HF_ENDPOINT": NO_NETWORK,
    **dict.fromkeys(("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"), NO_NETWORK),
    "NO_PROXY": "",
    "no_proxy": "",
    "VLLM_NO_USAGE_STATS": "1",
    "DO_NOT_TRACK": "1",
}


def cache_root() -> Path:
    default = Path.home() / ".cache" / "deepseek-v4-infra" / "engine-parsers"
    return Path(os.environ.get("V4INFRA_ENGINE_PARSERS", default))


def parser_python(engine: str, version: str) -> Path:
    """The engine venv's interpreter, or a failed test naming the fix (`make test` builds the venvs first)."""
    python = cache_root() / f"{engine}-{version}" / "bin" / "python"
    if not python.exists():
        message = (
            f"no {engine} {version} parser venv at {python.parent.parent}: `make engine-parsers` "
            f"(or tools/build-engine-parsers.sh {engine}=={version}) builds it"
        )
        pytest.fail(message, pytrace=False)
    return python


def judge(engine: str, version: str, commands: dict[str, list[str]]) -> dict[str, dict[str, Any]]:
    """The engine's verdict on each command, by id: {"ok", "error", "names"}."""
    python = parser_python(engine, version)
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        payload = json.dumps([{"id": key, "argv": argv} for key, argv in commands.items()])
        proc = subprocess.run(
            [str(python), str(HERE / f"{engine}_parser.py"), str(result)],
            input=payload,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            env={**{k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}, **OFFLINE_ENV},
        )
        if proc.returncode != 0 or not result.exists():
            pytest.fail(f"the {engine} {version} parser did not run:\n{proc.stderr[-3000:]}", pytrace=False)
        return {r["id"]: r for r in json.loads(result.read_text(encoding="utf-8"))}
