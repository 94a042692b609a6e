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
    │   └── NotFoundError        the resource is gone
    ├── DeploymentError          the Pulumi engine failed an operation (carries its first error line)
    │   └── StateError           the stack's state or config cannot be read: nothing is removed by name
    ├── WeightCacheError         the checkpoint could not be downloaded or verified
    ├── SshError                 connecting to or running commands on a pod
    │   └── SshConnectError, SshAuthError, HostKeyChangedError, SshCommandTimeout (infra.ssh)
    ├── ValidationFailed         a validation stage failed (carries the stage and cause)
    ├── CanaryFailed             a RunPod assumption did not hold on the user's account: no GPU is rented
    └── TeardownError            resources could not be removed (carries their ids)

Lower-level errors (runpod SDK, httpx, paramiko, huggingface_hub) are mapped to these at the
edge where they are caught; the CLI prints `str(error)` and exits with `error.exit_code`.
"""

from __future__ import annotations


class V4InfraError(Exception):
    """Base class: `str(e)` is the one line a user sees."""

    exit_code = 1


class ConfigError(V4InfraError):
    exit_code = 2


class CatalogError(ConfigError):
    pass


class PlanError(V4InfraError):
    exit_code = 3


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
    exit_code = 4

    def __init__(self, message: str, *, stage: str) -> None:
        super().__init__(message)
        self.stage = stage


class CanaryFailed(V4InfraError):
    exit_code = 6


class TeardownError(V4InfraError):
    exit_code = 5

    def __init__(self, message: str, *, leftover: list[str]) -> None:
        super().__init__(message)
        self.leftover = leftover
