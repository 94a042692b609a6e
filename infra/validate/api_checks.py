"""Does the endpoint serve the model, answer correctly, stream, and refuse requests without the API key?"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from infra.validate.stages import StageResult

STAGE = "api"
QUESTION = "What is 17*19? Return only the final integer."
EXPECTED_ANSWER = 323
# Room for a model that thinks aloud before the integer.
_ANSWER_MAX_TOKENS = 512
_STREAM_MAX_TOKENS = 16
_SNIPPET = 160


@dataclass(frozen=True)
class SubCheck:
    """One check against the API: its name, verdict and a one-line detail."""

    name: str
    passed: bool
    detail: str

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "passed": self.passed, "detail": self.detail}


class _Failed(Exception):
    """A sub-check's failure, already phrased for the user."""


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _SNIPPET else flat[: _SNIPPET - 3] + "..."


def _expect_ok(response: httpx.Response, what: str) -> None:
    if response.status_code != 200:
        raise _Failed(f"{what} answered HTTP {response.status_code}: {_one_line(response.text)}")


def _json(response: httpx.Response, what: str) -> dict[str, object]:
    try:
        body = response.json()
    except ValueError as exc:
        raise _Failed(f"{what} did not answer JSON: {_one_line(response.text)}") from exc
    if not isinstance(body, dict):
        raise _Failed(f"{what} answered {type(body).__name__}, not a JSON object")
    return body


def _check_models(client: httpx.Client, model: str) -> str:
    response = client.get("/v1/models")
    _expect_ok(response, "GET /v1/models")
    data = _json(response, "GET /v1/models").get("data")
    served = (
        [str(item.get("id")) for item in data if isinstance(item, dict)] if isinstance(data, list) else []
    )
    if model not in served:
        raise _Failed(f"/v1/models lists {served or 'no models'}, not {model!r}")
    return f"/v1/models lists {model}"


def _final_integer(content: str) -> int | None:
    numbers = re.findall(r"-?\d+", content.replace(",", ""))
    return int(numbers[-1]) if numbers else None


def _check_answer(client: httpx.Client, model: str) -> str:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": QUESTION}],
        "temperature": 0,
        "max_tokens": _ANSWER_MAX_TOKENS,
    }
    response = client.post("/v1/chat/completions", json=body)
    _expect_ok(response, "POST /v1/chat/completions")
    choices = _json(response, "POST /v1/chat/completions").get("choices")
    try:
        content = str(choices[0]["message"]["content"] or "").strip()  # type: ignore[index]
    except (TypeError, KeyError, IndexError) as exc:
        raise _Failed("the chat completion has no choices[0].message.content") from exc
    answer = _final_integer(content)
    if answer != EXPECTED_ANSWER:
        raise _Failed(f"17*19 answered {_one_line(content)!r}, expected {EXPECTED_ANSWER}")
    return f"17*19 = {answer}"


def _check_stream(client: httpx.Client, model: str) -> str:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "Count slowly from one to twenty, in words."}],
        "temperature": 0,
        "max_tokens": _STREAM_MAX_TOKENS,
        "stream": True,
    }
    content_chunks = 0
    done = False
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        if response.status_code != 200:
            response.read()
            _expect_ok(response, "streamed POST /v1/chat/completions")
        for line in response.iter_lines():
            if not line.startswith("data:"):
                continue
            payload = line.removeprefix("data:").strip()
            if payload == "[DONE]":
                done = True
                break
            try:
                chunk = json.loads(payload)
            except ValueError as exc:
                raise _Failed(f"the stream sent a chunk that is not JSON: {_one_line(payload)}") from exc
            for choice in chunk.get("choices") or []:
                if (choice.get("delta") or {}).get("content"):
                    content_chunks += 1
    if content_chunks < 2:
        raise _Failed(f"the stream sent {content_chunks} content chunk(s); a streaming engine sends several")
    if not done:
        raise _Failed(f"the stream sent {content_chunks} chunks but did not end with [DONE]")
    return f"streamed {content_chunks} content chunks, then [DONE]"


def _check_refused(endpoint: str, api_key: str, timeout: float) -> str:
    statuses = []
    wrong = "v4infra-wrong-key" if api_key != "v4infra-wrong-key" else "v4infra-other-key"
    for label, headers in (("no key", {}), ("a wrong key", {"Authorization": f"Bearer {wrong}"})):
        with httpx.Client(base_url=endpoint, timeout=timeout, headers=headers) as anonymous:
            response = anonymous.get("/v1/models")
        if response.status_code not in (401, 403):
            raise _Failed(f"a request with {label} was answered HTTP {response.status_code}, not refused")
        statuses.append(response.status_code)
    return f"requests without the key or with a wrong one refused ({statuses[0]}, {statuses[1]})"


def _run(name: str, check: Callable[[], str]) -> SubCheck:
    try:
        return SubCheck(name, True, check())
    except _Failed as exc:
        return SubCheck(name, False, str(exc))
    except httpx.HTTPError as exc:
        return SubCheck(name, False, f"request failed: {type(exc).__name__}: {_one_line(str(exc))}")


def check_api(endpoint: str, api_key: str, model: str, *, timeout: float = 60) -> StageResult:
    """Run the sub-checks models, answer, stream and auth; each is reported, the first failure is the reason."""
    started = time.monotonic()
    base = endpoint.rstrip("/")
    headers = {"Authorization": f"Bearer {api_key}"}
    with httpx.Client(base_url=base, timeout=timeout, headers=headers) as client:
        checks = [
            _run("models", lambda: _check_models(client, model)),
            _run("answer", lambda: _check_answer(client, model)),
            _run("stream", lambda: _check_stream(client, model)),
        ]
    checks.append(_run("auth", lambda: _check_refused(base, api_key, timeout)))
    failed = next((check for check in checks if not check.passed), None)
    reason = (
        f"{failed.name}: {failed.detail}"
        if failed is not None
        else "; ".join(check.detail for check in checks if check.name != "auth") + "; key enforced"
    )
    return StageResult(
        STAGE,
        failed is None,
        time.monotonic() - started,
        reason,
        {"checks": [check.to_dict() for check in checks]},
    )
