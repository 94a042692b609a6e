"""Published contracts nobody here wrote, and the one way to check a payload against them.

`runpod-rest-v2-openapi.json` is RunPod's OpenAPI v2 schema (runpod/docs api-reference-v2/openapi.json,
commit of 2026-08-20), copied byte for byte from shared/reference; a test keeps the two identical.
Both the RunPod client's requests and the emulator's answers are validated against it.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

RUNPOD_V2_FILE = "runpod-rest-v2-openapi.json"
_DOC_URI = "urn:runpod-rest-v2"


@cache
def runpod_v2() -> dict[str, Any]:
    """The parsed OpenAPI document."""
    text = resources.files(__package__).joinpath(RUNPOD_V2_FILE).read_text(encoding="utf-8")
    return dict(json.loads(text))


@cache
def _registry() -> Registry[Any]:
    return Registry().with_resource(_DOC_URI, DRAFT202012.create_resource(runpod_v2()))


def _validator(schema: dict[str, Any]) -> Draft202012Validator:
    # Component refs are "#/components/schemas/X": resolve them inside the whole document.
    return Draft202012Validator(_rebase(schema), registry=_registry())


def _rebase(node: Any) -> Any:
    """Point local refs ("#/...") at the registered document so any sub-schema resolves them."""
    if isinstance(node, dict):
        return {key: _rebase_ref(value) if key == "$ref" else _rebase(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_rebase(item) for item in node]
    return node


def _rebase_ref(value: Any) -> Any:
    return _DOC_URI + value if isinstance(value, str) and value.startswith("#") else value


def schema_errors(schema: dict[str, Any], instance: Any) -> list[str]:
    """Violations of any schema taken from the document (its `#/...` refs resolve there), one line each."""
    validator = _validator(schema)
    found = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    return [f"{_where(e.absolute_path)}: {e.message}" for e in found]


def _where(path: Any) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


def operation(method: str, path: str) -> tuple[str, dict[str, Any]]:
    """(template, operation object) of the OpenAPI operation that serves `METHOD /v2/...`."""
    method, bare = method.lower(), path.split("?", 1)[0]
    paths = runpod_v2()["paths"]
    # A literal path beats a templated one (`/registries/delegations` vs `/registries/{id}`).
    if method in paths.get(bare, {}):
        return bare, paths[bare][method]
    for template, item in paths.items():
        if method in item and re.fullmatch(re.sub(r"\{[^/]+\}", "[^/]+", template), bare):
            return template, item[method]
    raise KeyError(f"RunPod REST v2 has no operation {method.upper()} {path}")


def request_errors(method: str, path: str, body: Any) -> list[str]:
    """Violations of the operation's JSON request body schema."""
    _, op = operation(method, path)
    content = (op.get("requestBody") or {}).get("content") or {}
    schema = (content.get("application/json") or {}).get("schema")
    if schema is None:
        return [] if body is None else [f"$: {method.upper()} {path} takes no request body"]
    return schema_errors(schema, body)


def response_errors(method: str, path: str, status: int, body: Any) -> list[str]:
    """Violations of the operation's documented answer for `status` (or its `default`)."""
    _, op = operation(method, path)
    responses = op.get("responses") or {}
    answer = responses.get(str(status)) or responses.get("default")
    if answer is None:
        return [f"$: {method.upper()} {path} documents no {status} answer"]
    answer = _resolve(answer)
    content = answer.get("content") or {}
    media = content.get("application/json") or content.get("application/problem+json")
    if media is None or "schema" not in media:
        return [] if body in (None, b"", "") else [f"$: the {status} answer documents no JSON body"]
    return schema_errors(media["schema"], body)


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    """Follow one `$ref` into #/components (responses are often shared)."""
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return node
    target: Any = runpod_v2()
    for part in ref.lstrip("#/").split("/"):
        target = target[part]
    return dict(target)
