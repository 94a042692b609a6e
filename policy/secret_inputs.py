"""The engine's own view of a resource's inputs, with secrets still marked, for the policy that needs it.

The engine sends policies each resource's inputs with secrets marked, but pulumi-policy (1.21) unwraps
them before a policy's `validate` runs (`ResourceValidationArgs.props` holds plain values), so a policy
cannot tell a secret from a plain string. `install()` wraps the analyzer servicer's `Analyze` to keep the
request's raw property struct for the thread that then runs the policies of that same request.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from google.protobuf import json_format
from pulumi_policy import policy as policy_module

_current = threading.local()


def install() -> None:
    """Record each Analyze request's raw inputs (idempotent); fails loudly if pulumi-policy changed shape."""
    servicer = policy_module._PolicyAnalyzerServicer
    analyze: Callable[..., Any] = servicer.Analyze
    if getattr(analyze, "_keeps_raw_inputs", False):
        return

    @functools.wraps(analyze)
    def recording(self: Any, request: Any, context: Any) -> Any:
        _current.urn = request.urn
        _current.raw = json_format.MessageToDict(request.properties)
        try:
            return analyze(self, request, context)
        finally:
            _current.urn = _current.raw = None

    recording._keeps_raw_inputs = True  # type: ignore[attr-defined]
    servicer.Analyze = recording  # type: ignore[method-assign]


def raw_inputs(urn: str) -> dict[str, Any]:
    """The inputs of the resource being analyzed on this thread, secrets marked as the engine sent them."""
    if getattr(_current, "urn", None) != urn:
        raise RuntimeError(f"no raw inputs recorded for {urn}: call secret_inputs.install() before serving")
    raw: dict[str, Any] = _current.raw
    return raw
