"""What a failed Pulumi call says to the user: the one line that explains it."""

from __future__ import annotations

from pulumi.automation import CommandError
from pulumi.automation._cmd import CommandResult

from infra.engine_process import engine_error


def failure(stdout: str) -> CommandError:
    return CommandError(CommandResult(stdout=stdout, stderr="", code=1))


def test_a_provider_error_beats_update_failed() -> None:
    out = """Updating (flash-4xh200):
 +  pulumi-python:dynamic:Resource runpod-pod **creating failed** error: Exception calling application: no capacity for 4x NVIDIA H200 in US-TX-3
Diagnostics:
  pulumi:pulumi:Stack (deepseek-v4-infra-flash-4xh200):
    error: update failed
"""
    assert engine_error(failure(out)) == "no capacity for 4x NVIDIA H200 in US-TX-3"


def test_a_policy_violation_names_the_policy_resource_and_reason() -> None:
    out = """Policies:
    \u274c deepseek-v4-infra@v0.1.0 (local: /repo/policy)
        - [mandatory]  gpu-pod-time-to-live  (pulumi-python:dynamic:Resource: runpod-pod)
          A GPU pod has a time-to-live unless the stack is permanent.
          GPU pod 'v4i-x-pod-1' has no time-to-live (ttl_seconds: None) and is not marked permanent
"""
    assert engine_error(failure(out)) == (
        "policy gpu-pod-time-to-live refused runpod-pod: GPU pod 'v4i-x-pod-1' has no time-to-live "
        "(ttl_seconds: None) and is not marked permanent"
    )
