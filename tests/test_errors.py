"""The error tree's promises: one exit-code table (the README's copy included), and errors that keep
their class, fields and message across the Pulumi engine's text."""

from __future__ import annotations

import re

from pulumi.automation import CommandError
from pulumi.automation._cmd import CommandResult

from infra import errors
from infra.config import project_root
from infra.engine_process import engine_error, engine_failure
from infra.errors import (
    CapacityError,
    CarriedError,
    DeploymentError,
    RefusedError,
    TeardownError,
    carried,
    exit_code,
    rebuilt,
)


def engine_output(provider_message: str) -> CommandError:
    # How the engine prints a dynamic provider's exception: gRPC's "Exception calling application: <str>".
    out = f"""Updating (flash-4xh200):
 +  pulumi-python:dynamic:Resource runpod-pod **creating failed** error: Exception calling application: {provider_message}
Diagnostics:
  pulumi:pulumi:Stack (deepseek-v4-infra-flash-4xh200):
    error: update failed
"""
    return CommandError(CommandResult(stdout=out, stderr="", code=1))


def test_a_capacity_error_from_a_provider_comes_back_as_itself() -> None:
    raised = CapacityError("no capacity for 4x NVIDIA H200 in US-TX-3, EU-RO-1", resource="pod v4i-x")
    failure = engine_failure(engine_output(str(CarriedError(raised))))
    assert isinstance(failure, CapacityError)
    assert str(failure) == "no capacity for 4x NVIDIA H200 in US-TX-3, EU-RO-1"
    assert (failure.provider, failure.resource) == ("runpod", "pod v4i-x")
    assert exit_code(failure) == 7 != exit_code(DeploymentError("x"))
    # What the user reads has no class tag in it.
    assert engine_error(engine_output(str(CarriedError(raised)))) == str(raised)


def test_fields_survive_even_with_brackets_and_newlines() -> None:
    left = TeardownError("could not remove\npod a] [b", leftover=["pod a]", "volume {c}"])
    back = rebuilt("x " + carried(left) + " trailing")
    assert isinstance(back, TeardownError)
    assert back.leftover == ["pod a]", "volume {c}"]
    assert str(back) == "could not remove pod a] [b trailing"
    refused = rebuilt(carried(RefusedError("bad field", status=422)))
    assert isinstance(refused, RefusedError) and refused.status == 422


def test_an_engine_failure_without_a_carried_error_is_a_deployment_error() -> None:
    failure = engine_failure(engine_output("no capacity for 4x NVIDIA H200 in US-TX-3"))
    assert type(failure) is DeploymentError and str(failure) == "no capacity for 4x NVIDIA H200 in US-TX-3"
    # An unknown class name or broken fields are not trusted: plain text.
    assert rebuilt("[v4infra-error NoSuchError {}] x") is None
    assert rebuilt("[v4infra-error CapacityError {oops] x") is None


def test_every_error_has_a_code_from_the_table() -> None:
    assert exit_code(errors.RateLimitError("slow down")) == exit_code(errors.ProviderError("x")) == 10
    assert exit_code(errors.StateError("x")) == 1
    assert exit_code(errors.CatalogError("x")) == 2
    assert exit_code(KeyboardInterrupt()) == 130 and exit_code(errors.Terminated()) == 143
    assert exit_code(OSError("port in use")) == errors.EXIT_OTHER == 1


def test_the_readme_prints_the_table() -> None:
    readme = (project_root() / "README.md").read_text()
    found = re.search(r"<!-- exit-codes:begin -->\n(.*?)<!-- exit-codes:end -->", readme, re.S)
    assert found, "README.md has no exit-code table"
    assert found.group(1) == errors.exit_code_table()
