"""Every error the library raises on purpose, in one tree.

    V4InfraError                 one line for the user, an exit code for the CLI
    ├── ConfigError              a stack file or flag is wrong (names the key and the file)
    ├── PlanError                the model does not fit: weights, capacity, alternatives
    ├── CatalogError             a name the catalog does not know (lists the valid ones)
    ├── ProviderError            a cloud said no; carries the provider and the resource
    │   ├── CapacityError        no instances of the GPU type in the data center
    │   ├── AuthError            missing or rejected API key / HF token
    │   ├── BalanceError         the account cannot pay for the resource
    │   ├── RateLimitError       429: slow down (retryable)
    │   ├── TransientError       5xx, timeouts, dropped connections (retryable)
    │   ├── RefusedError         400/403/409/422: a rule, a pool or the contract said no (carries the status)
    │   ├── NotFoundError        the resource is gone
    │   ├── PodFailedError       a pod it made died, crash-looped or vanished while starting
    │   └── StartTimeoutError    a pod or cluster did not start within its budget
    ├── DeploymentError          the Pulumi engine failed an operation (carries its first error line)
    │   └── StateError           the stack's state or config cannot be read: nothing is removed by name
    ├── WeightCacheError         the checkpoint could not be downloaded or verified
    ├── SshError                 connecting to or running commands on a pod
    │   └── SshConnectError, SshAuthError, HostKeyChangedError, HostKeyNotPinnedError, SshCommandTimeout (infra.ssh)
    ├── ValidationFailed         a validation stage failed (carries the stage and cause)
    ├── CanaryFailed             a RunPod assumption did not hold on the user's account: no GPU is rented
    └── TeardownError            resources could not be removed (carries their ids)

    Terminated (BaseException)   SIGTERM, raised like Ctrl-C so that `finally` blocks (the teardown) run

Lower-level errors (runpod SDK, httpx, paramiko, huggingface_hub) are mapped to these at the
edge where they are caught; the CLI prints `str(error)` and exits with `exit_code(error)`, read from
the one table `EXIT_CODES` below (the README's exit-code table is generated from it).

An error raised inside a Pulumi dynamic provider crosses the engine as text. `carried(err)` writes its
class and fields into that text and `rebuilt(text)` makes the same error again on our side, so a
`CapacityError` from a provider reaches the user as a `CapacityError`, not as a generic engine failure.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any


class V4InfraError(Exception):
    """Base class: `str(e)` is the one line a user sees."""


class ConfigError(V4InfraError):
    pass


class CatalogError(ConfigError):
    pass


class PlanError(V4InfraError):
    pass


class ProviderError(V4InfraError):
    """A cloud provider refused or failed a call."""

    retryable = False

    def __init__(self, message: str, *, provider: str = "runpod", resource: str | None = None) -> None:
        super().__init__(message)
        self.provider = provider
        self.resource = resource


class CapacityError(ProviderError):
    pass


class AuthError(ProviderError):
    pass


class BalanceError(ProviderError):
    pass


class RateLimitError(ProviderError):
    retryable = True


class TransientError(ProviderError):
    retryable = True


class NotFoundError(ProviderError):
    pass


class RefusedError(ProviderError):
    """RunPod refused the request itself; `status` tells a placement (400/403) from a broken contract (422)."""

    def __init__(
        self, message: str, *, status: int, provider: str = "runpod", resource: str | None = None
    ) -> None:
        super().__init__(message, provider=provider, resource=resource)
        self.status = status


class DeploymentError(V4InfraError):
    pass


class StateError(DeploymentError):
    """The Pulumi state (or the stack's secret config) cannot be read, so ownership is unknown."""


class WeightCacheError(V4InfraError):
    pass


class SshError(V4InfraError):
    """Reaching or using a pod over SSH; carries the host and port (subclasses live in infra.ssh)."""

    def __init__(self, message: str, *, host: str = "", port: int = 0) -> None:
        super().__init__(message)
        self.host = host
        self.port = port


class ValidationFailed(V4InfraError):
    def __init__(self, message: str, *, stage: str) -> None:
        super().__init__(message)
        self.stage = stage


class CanaryFailed(V4InfraError):
    pass


class TeardownError(V4InfraError):
    def __init__(self, message: str, *, leftover: list[str]) -> None:
        super().__init__(message)
        self.leftover = leftover


class PodFailedError(ProviderError):
    """A pod (or cluster member) the provider made died, crash-looped or vanished while starting."""


class StartTimeoutError(ProviderError):
    """A pod (or cluster) did not reach the state asked for within its time budget."""


class Terminated(BaseException):
    """SIGTERM, raised like Ctrl-C so `finally` blocks (the teardown) run."""


# ---- the exit-code table ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ExitCode:
    """One row of the exit-code table: the code, what raises it, and what it tells the user."""

    code: int
    raised_by: tuple[type[BaseException], ...]
    meaning: str


# The one table the CLI reads and the README prints (generated; a test keeps the two equal).
# A class not listed takes the code of its nearest listed base class.
EXIT_CODES: tuple[ExitCode, ...] = (
    ExitCode(1, (V4InfraError,), "the run failed (engine, weights, SSH): the message says what and where"),
    ExitCode(2, (ConfigError,), "a stack file, flag or name is wrong: nothing was created"),
    ExitCode(3, (PlanError,), "the model does not fit the GPUs asked for: nothing was created"),
    ExitCode(4, (ValidationFailed,), "a validation stage failed; everything was torn down (see the report)"),
    ExitCode(5, (TeardownError,), "something could not be removed and may still bill: the message names it"),
    ExitCode(6, (CanaryFailed,), "the provider no longer behaves as the deploy path assumes: nothing rented"),
    ExitCode(7, (CapacityError,), "no capacity for any acceptable GPU type in any data center tried"),
    ExitCode(8, (AuthError,), "an API key or HF token is missing or was rejected"),
    ExitCode(9, (BalanceError,), "the provider account cannot pay for the resources"),
    ExitCode(10, (ProviderError,), "the provider refused or failed a call (rate limit, 5xx, rule, gone)"),
    ExitCode(130, (KeyboardInterrupt,), "interrupted (Ctrl-C)"),
    ExitCode(143, (Terminated,), "terminated (SIGTERM)"),
)
_CODE_OF: dict[type[BaseException], int] = {cls: row.code for row in EXIT_CODES for cls in row.raised_by}
# What an error the table does not know (an OSError from the machine, a Pulumi CLI failure) exits with.
EXIT_OTHER = 1


def exit_code(err: BaseException) -> int:
    """The exit code for an error: its class's row, else its nearest listed base class's."""
    for cls in type(err).__mro__:
        if cls in _CODE_OF:
            return _CODE_OF[cls]
    return EXIT_OTHER


def exit_code_table() -> str:
    """The table as Markdown, as the README prints it."""
    rows = ["| code | raised by | meaning |", "| --- | --- | --- |", "| 0 | | success |"]
    for row in EXIT_CODES:
        names = ", ".join(f"`{cls.__name__}`" for cls in row.raised_by)
        rows.append(f"| {row.code} | {names} | {row.meaning} |")
    return "\n".join(rows) + "\n"


# ---- errors across the Pulumi engine ---------------------------------------------------------------

_MARK = "[v4infra-error "
_MARKED = re.compile(re.escape(_MARK) + r"(?P<cls>[A-Za-z]+) ")


def _error_classes() -> dict[str, type[V4InfraError]]:
    found: dict[str, type[V4InfraError]] = {}
    pending: list[type[V4InfraError]] = [V4InfraError]
    while pending:
        cls = pending.pop()
        found[cls.__name__] = cls
        pending.extend(cls.__subclasses__())
    return found


def carried(err: V4InfraError) -> str:
    """The error as one line of text that names its class and fields, for `rebuilt` on the other side."""
    fields = {k: v for k, v in vars(err).items() if _jsonable(v)}
    message = " ".join(str(err).split())
    return f"{_MARK}{type(err).__name__} {json.dumps(fields, separators=(',', ':'))}] {message}"


def rebuilt(text: str) -> V4InfraError | None:
    """The error `carried` wrote somewhere in `text` (its class, fields and message), or None."""
    found = _MARKED.search(text)
    if found is None:
        return None
    cls = _error_classes().get(found.group("cls"))
    try:
        fields, end = json.JSONDecoder().raw_decode(text, found.end())
    except ValueError:
        return None
    if cls is None or not isinstance(fields, dict) or not text.startswith("] ", end):
        return None
    err = cls.__new__(cls)
    Exception.__init__(err, text[end + 2 :].strip())
    err.__dict__.update(fields)
    return err


def without_carried(text: str) -> str:
    """`text` with the class and fields `carried` wrote taken out: what the user reads."""
    found = _MARKED.search(text)
    if found is None:
        return text
    try:
        _, end = json.JSONDecoder().raw_decode(text, found.end())
    except ValueError:
        return text
    return text[: found.start()] + text[end:].removeprefix("] ")


class CarriedError(Exception):
    """What a dynamic provider raises to the engine: the original error's class and fields in its text."""

    def __init__(self, err: V4InfraError) -> None:
        super().__init__(carried(err))


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True
