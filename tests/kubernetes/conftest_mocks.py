"""Pulumi mocks that record each registration (parent, dependencies, secret-marked inputs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks

from infra.config import PROJECT


@dataclass
class Registered:
    typ: str
    name: str
    parent: str
    dependencies: list[str]
    object: dict[str, Any]
    urn: str = ""


@dataclass
class Recorder(pulumi.runtime.Mocks):
    registered: list[Registered] = field(default_factory=list)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        outputs = dict(args.inputs)
        if args.typ == "pulumi-python:dynamic:Resource":
            outputs["value"] = "generated-under-mocks"
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        return {}, None

    def by_name(self, name: str) -> Registered:
        return next(r for r in self.registered if r.name == name)


def install_recorder(monkeypatch: Any) -> Recorder:
    """Mocks that also keep each registration's parent, dependencies and raw (secret-marked) inputs."""
    rec = Recorder()
    original = pulumi_mocks.MockMonitor.RegisterResource

    def register(self: Any, request: Any) -> Any:
        response = original(self, request)
        rec.registered.append(
            Registered(
                request.type,
                request.name,
                request.parent,
                list(request.dependencies),
                json_format.MessageToDict(request.object),
                response.urn,
            )
        )
        return response

    monkeypatch.setattr(pulumi_mocks.MockMonitor, "RegisterResource", register)
    pulumi.runtime.set_mocks(rec, project=PROJECT, stack="test", preview=False)
    return rec
