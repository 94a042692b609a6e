"""The one edge that calls RunPod: REST v2 over httpx, errors mapped, only the retryable retried.

Every call goes through `RunPodTransport.call`, which maps RFC 9457 problem answers and transport
errors to `infra.errors` and retries only what is retryable (429 after its `Retry-After`, 5xx and
dropped connections with bounded, jittered backoff); before a retry, `recover` may find what the
failed attempt made (the verbs look a resource up by its unique name). The API key travels only in
the `Authorization: Bearer` header and never appears in a message.
"""

from __future__ import annotations

import contextlib
import email.utils
import functools
import json
import logging
import random
import ssl
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import certifi
import httpx

from infra.errors import (
    AuthError,
    BalanceError,
    CapacityError,
    ConfigError,
    NotFoundError,
    ProviderError,
    RateLimitError,
    RefusedError,
    TransientError,
)
from infra.targets.runpod.types import API_VERSION, KEY_HINT, LogLine, RunPodSettings

log = logging.getLogger(__name__)
T = TypeVar("T")

REST_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
# A Retry-After longer than this is capped: the caller's own deadline decides beyond it.
MAX_RETRY_AFTER = 60.0
# v2 answers 400 both for a broken rule and for no capacity, told apart only by `detail` (createPod docs).
_CAPACITY_MESSAGES = (
    "no longer any instances available",
    "no instances currently available",
    "does not have the resources to deploy",
    "not enough free gpus",
    "no capacity",
    "could not be placed",
    "insufficient capacity",
)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with jitter, for retryable errors only."""

    attempts: int = 4
    base_delay: float = 1.0
    max_delay: float = 20.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.base_delay < 0 or self.max_delay < self.base_delay:
            raise ConfigError(f"invalid retry policy {self}: attempts >= 1 and 0 <= base_delay <= max_delay")

    def delay(self, retry: int, rng: random.Random) -> float:
        """Seconds to wait before retry number `retry` (0-based): half fixed, half random."""
        ceiling = min(self.max_delay, self.base_delay * 2**retry)
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


DEFAULT_RETRY = RetryPolicy()


class _Problem(Exception):
    """A v2 answer that is not 2xx (mapped in `_map`)."""

    def __init__(self, status: int, detail: str, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.retry_after = retry_after


class RunPodTransport:
    """REST v2 requests for one account: build one per client (it holds settings, not connections)."""

    def __init__(
        self,
        settings: RunPodSettings[str],
        retry: RetryPolicy,
        sleep: Callable[[float], None],
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.retry = retry
        self._sleep = sleep
        self._rng = random.Random()
        self._transport = transport

    def call(self, op: str, fn: Callable[[], T], *, recover: Callable[[], T | None] | None = None) -> T:
        """Run `fn`, mapping errors; retry retryable ones, asking `recover` first for what was made."""
        for attempt in range(1, self.retry.attempts + 1):
            retry_after: float | None = None
            try:
                return fn()
            except Exception as exc:  # mapped right here, at the edge
                error = self._map(op, exc)
                if isinstance(exc, _Problem):
                    retry_after = exc.retry_after
            if not error.retryable or attempt == self.retry.attempts:
                if error.retryable:
                    error = type(error)(
                        f"{error} (gave up after {attempt} attempts)", resource=error.resource
                    )
                raise error from None
            delay = self.retry.delay(attempt - 1, self._rng)
            if retry_after is not None:
                # RunPod says how long the window lasts; waiting less would only earn another 429.
                delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
            log.info(
                "%s; retrying in %.1f s (attempt %d of %d)", error, delay, attempt + 1, self.retry.attempts
            )
            self._sleep(delay)
            if recover is not None:
                found = recover()
                if found is not None:
                    log.info("RunPod %s: adopted what the failed attempt had created", op)
                    return found
        raise AssertionError("unreachable: RetryPolicy checks attempts >= 1")

    def rest(
        self,
        op: str,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        """One REST v2 call, retried as `call` does; the JSON answer ({} for an empty one)."""
        return self.call(op, lambda: self.once(method, path, body, params))

    def once(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        """One attempt, unmapped: for `call` with a `recover` of its own."""
        with self._http() as http:
            response = http.request(method, path, json=body, params=params)
        if response.status_code >= 400:
            raise _problem(response)
        if response.status_code == 204 or not response.content:
            return {}
        return response.json()

    def sse(self, path: str, params: Mapping[str, str], idle: float, limit: float) -> Iterator[LogLine]:
        """Events of one SSE stream until it is quiet for `idle` seconds or `limit` seconds have passed."""
        started = time.monotonic()
        timeout = httpx.Timeout(connect=10.0, read=idle, write=10.0, pool=10.0)
        with (
            self._http(timeout) as http,
            http.stream("GET", path, params=params, headers={"Accept": "text/event-stream"}) as response,
        ):
            if response.status_code >= 400:
                response.read()
                raise _problem(response)
            data: list[str] = []
            try:
                for raw in response.iter_lines():
                    if raw.startswith("data:"):
                        data.append(raw[5:].lstrip())
                    elif raw == "" and data:
                        event = _log_event("\n".join(data))
                        data = []
                        if event is not None:
                            yield event
                    if time.monotonic() - started > limit:
                        return
            except httpx.ReadTimeout:
                return  # quiet for `idle` seconds: everything there was has been read

    def _map(self, op: str, exc: Exception) -> ProviderError:
        """One exception from httpx or a problem answer -> the project's error tree."""
        if isinstance(exc, ProviderError):
            return exc
        prefix = f"RunPod {op}"
        if isinstance(exc, _Problem):
            return _map_status(prefix, exc.status, self._redact(exc.detail), op)
        detail = self._redact(str(exc)) or type(exc).__name__
        if isinstance(exc, json.JSONDecodeError):
            return TransientError(
                f"{prefix}: RunPod answered with a page that is not JSON (an outage?)", resource=op
            )
        if isinstance(exc, httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError):
            return TransientError(f"{prefix}: {type(exc).__name__}: {detail}", resource=op)
        return ProviderError(f"{prefix}: {type(exc).__name__}: {detail}", resource=op)

    def _redact(self, text: str) -> str:
        return text.replace(self.settings.api_key, "***")

    def _http(self, timeout: httpx.Timeout = REST_TIMEOUT) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.settings.api_key}", "Accept": "application/json"}
        return httpx.Client(
            base_url=self.settings.api_base_url.rstrip("/") + "/" + API_VERSION,
            headers=headers,
            timeout=timeout,
            transport=self._transport,
            verify=_tls_context(),
        )


def segment(value: str) -> str:
    """An id as one URL path segment (ids never carry '/', but a typo must not reach another route)."""
    return urllib.parse.quote(value, safe="")


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One verifying TLS context per process: building one per call costs ~70 ms of CPU (certifi's bundle)."""
    return ssl.create_default_context(cafile=certifi.where())


def _map_status(prefix: str, status: int, detail: str, op: str) -> ProviderError:
    """An RFC 9457 problem -> the error a user can act on (statuses as createPod documents them)."""
    text = f"{prefix}: HTTP {status}: {detail}"
    lowered = detail.lower()
    if status == 401:
        return AuthError(f"{prefix}: RunPod rejected the API key (401); {KEY_HINT}", resource=op)
    if status == 402 or "balance is too low" in lowered:
        return BalanceError(f"{text} (add funds in the RunPod console: Billing)", resource=op)
    if status == 403:
        return RefusedError(
            f"{prefix}: the account may not use this (403): {detail}", status=403, resource=op
        )
    if status == 404:
        return NotFoundError(text, resource=op)
    if status == 429:
        return RateLimitError(text, resource=op)
    if status >= 500:
        return TransientError(text, resource=op)
    if any(marker in lowered for marker in _CAPACITY_MESSAGES):
        return CapacityError(text, resource=op)
    # 400 (a rule broken), 409 (an action the pod's status does not allow), 422 (the body breaks the contract).
    return RefusedError(text, status=status, resource=op)


def _problem(response: httpx.Response) -> _Problem:
    """A non-2xx answer: its problem object's detail (and `errors`), and Retry-After for a 429."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        detail = str(body.get("detail") or body.get("title") or body.get("error") or body)
        errors = body.get("errors")
        if isinstance(errors, list) and errors:
            detail += " (" + "; ".join(str(e) for e in errors[:5]) + ")"
    else:
        detail = response.reason_phrase or "no details"
    return _Problem(response.status_code, detail, _retry_after(response.headers.get("Retry-After")))


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds (RFC 9110 allows delta-seconds or an HTTP date)."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    with contextlib.suppress(TypeError, ValueError):
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    return None


def _log_event(data: str) -> LogLine | None:
    try:
        event = json.loads(data)
    except ValueError:
        return LogLine(ts="", source="container", line=data)
    if not isinstance(event, dict):
        return None
    return LogLine(
        ts=str(event.get("ts") or ""),
        source=str(event.get("source") or ""),
        line=str(event.get("line") or ""),
    )
