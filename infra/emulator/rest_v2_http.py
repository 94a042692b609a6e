"""REST v2's request and answer: the call matched to its operation, the answer, RFC 9457 problems."""

from __future__ import annotations

import http
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from infra.emulator.account import Account

PROBLEM = "application/problem+json"
# Published with every authenticated answer, as RunPod does (components/headers in the schema).
RATE_LIMIT_POLICY = '"minute";q=60;w=60, "hour";q=3000;w=3600, "day";q=50000;w=86400'


@dataclass
class Answer:
    """What the server sends back: a JSON body, no body (None), or an event stream."""

    status: int
    body: Any = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    stream: Iterator[bytes] | None = None


class Problem(Exception):
    """An RFC 9457 problem answer."""

    def __init__(
        self, status: int, detail: str, errors: list[str] | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}

    def answer(self) -> Answer:
        body: dict[str, Any] = {
            "title": http.HTTPStatus(self.status).phrase,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors:
            body["errors"] = self.errors
        return Answer(self.status, body, PROBLEM, dict(self.headers))


def rate_limited(retry_after: int) -> Answer:
    """The 429 of an injected rate limit: problem object, `Retry-After` in integer seconds."""
    headers = {
        "Retry-After": str(retry_after),
        "RateLimit": f'"minute";r=0;t={retry_after}',
        "RateLimit-Policy": RATE_LIMIT_POLICY,
    }
    return Problem(429, "rate limit exceeded for the minute window", headers=headers).answer()


@dataclass
class Call:
    """One v2 request, authenticated and matched to its OpenAPI operation."""

    state: Account
    method: str
    path: str
    template: str
    operation: dict[str, Any]
    ids: list[str]
    query: dict[str, Any]
    headers: Message
    body: Any
    pod_scope: str | None
