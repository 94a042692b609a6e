"""TypedProvider (infra/targets/dynamic.py): Pulumi's dicts in and out, typed values through, and every
error of the project's tree handed to the engine with its class."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from infra.errors import CapacityError, CarriedError, ConfigError, rebuilt
from infra.targets.dynamic import DiffResult, PropsDataclass, TypedProvider, changed


@dataclass(frozen=True)
class ThingInputs(PropsDataclass):
    name: str
    size_gb: int
    note: str | None = None


@dataclass(frozen=True)
class ThingOutputs(PropsDataclass):
    thing_id: str | None = None
    size_gb_seen: int = 0


class ThingProvider(TypedProvider[ThingInputs, ThingOutputs]):
    inputs = ThingInputs
    outputs = ThingOutputs

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[object] = []

    def on_create(self, inputs: ThingInputs) -> tuple[str, ThingOutputs]:
        self.seen.append(inputs)
        if inputs.name == "full":
            raise CapacityError("no capacity for 4x NVIDIA H200 in US-TX-3", resource="pod x")
        return "t1", ThingOutputs(thing_id="t1", size_gb_seen=inputs.size_gb)

    def on_read(
        self, id: str, inputs: ThingInputs, outputs: ThingOutputs
    ) -> tuple[ThingInputs, ThingOutputs] | None:
        return None if inputs.name == "gone" else (inputs, outputs)

    def on_diff(self, id: str, olds: ThingInputs, outputs: ThingOutputs, news: ThingInputs) -> DiffResult:
        return DiffResult(
            changes=bool(changed(olds, news, ("size_gb",))), replaces=changed(olds, news, ("name",))
        )

    def on_delete(self, id: str, inputs: ThingInputs, outputs: ThingOutputs) -> None:
        raise ConfigError("refusing: a rule says no")


def test_create_reads_typed_inputs_and_writes_inputs_and_outputs_back() -> None:
    provider = ThingProvider()
    made = provider.create({"name": "a", "size_gb": 200.0})
    assert provider.seen == [ThingInputs("a", 200)]
    assert made.id == "t1" and made.outs == {
        "name": "a",
        "size_gb": 200.0,
        "thing_id": "t1",
        "size_gb_seen": 200,
    }


def test_an_error_of_the_tree_crosses_the_engine_with_its_class_and_fields() -> None:
    with pytest.raises(CarriedError) as caught:
        ThingProvider().create({"name": "full", "size_gb": 1})
    error = rebuilt(str(caught.value))
    assert isinstance(error, CapacityError) and error.resource == "pod x"
    assert str(error) == "no capacity for 4x NVIDIA H200 in US-TX-3"
    with pytest.raises(CarriedError) as caught:
        ThingProvider().delete("t1", {"name": "a", "size_gb": 1})
    assert isinstance(rebuilt(str(caught.value)), ConfigError)


def test_read_says_gone_and_diff_compares_typed_values() -> None:
    provider = ThingProvider()
    assert provider.read("t1", {"name": "gone", "size_gb": 1}).id is None
    assert provider.read("t1", {"name": "a", "size_gb": 1, "thing_id": "t1"}).outs["thing_id"] == "t1"
    diff = provider.diff("t1", {"name": "a", "size_gb": 1.0}, {"name": "b", "size_gb": 2})
    assert diff.changes and diff.replaces == ["name"]
    assert not provider.diff("t1", {"name": "a", "size_gb": 1.0}, {"name": "a", "size_gb": 1}).changes


def test_update_keeps_the_outputs_by_default() -> None:
    updated = ThingProvider().update(
        "t1", {"name": "a", "size_gb": 1, "thing_id": "t1"}, {"name": "a", "size_gb": 2}
    )
    assert updated.outs == {"name": "a", "size_gb": 2, "thing_id": "t1", "size_gb_seen": 0}
