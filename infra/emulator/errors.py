"""What the emulated account refuses, in its own terms; each wire module chooses status codes and wording."""

from __future__ import annotations


class DomainError(Exception):
    """A request the account refuses; `message` is RunPod's sentence where one is known."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Invalid(DomainError):
    """The request breaks a rule (an unknown GPU type, a volume in another data center)."""


class NotFound(DomainError):
    """No such pod, volume, cluster or GPU type on this account."""

    def __init__(self, kind: str, ident: str) -> None:
        super().__init__(f"{kind} {ident} not found")
        self.kind = kind
        self.ident = ident


class NoCapacity(DomainError):
    """Nothing free matches the request (RunPod's wording, see NO_CAPACITY)."""


class BalanceTooLow(DomainError):
    """The account cannot pay for another resource."""


class Conflict(DomainError):
    """The resource is in a state that does not allow this (an action not in `actions[]`, a volume in use)."""


class Forbidden(DomainError):
    """The key is valid but may not do this (a pod's own key on another pod)."""


class CreatedButFailed(DomainError):
    """The resource exists but the call answers 500 (`Faults.error_after_create`)."""
