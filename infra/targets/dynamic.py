"""Typed Pulumi dynamic providers: inputs and outputs as dataclasses, errors that keep their class.

Pulumi hands a dynamic provider plain dicts: a resource's props (its inputs, and after a create its
outputs as well). `TypedProvider` reads them into the resource's inputs and outputs dataclasses
once, at this edge, so a provider's own methods take and return those; a dataclass's fields are its
prop keys, written once. Every error of the project's tree leaves a provider as `CarriedError`, so
the lifecycle rebuilds it with its class and fields (errors.py) instead of a generic engine failure.

Providers are pickled into the state by reference to their class, so they hold no clients or keys
and their classes stay where they are (a moved class would strand the stacks that recorded it).
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import types
import typing
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar

from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)

from infra.errors import CarriedError, V4InfraError

__all__ = [
    "CheckFailure",
    "DiffResult",
    "Props",
    "PropsDataclass",
    "TypedProvider",
    "carried_errors",
    "changed",
]


class Props(Protocol):
    """Anything that writes itself as props and reads itself back (a dataclass below, RunPodSettings)."""

    def to_props(self) -> Mapping[str, Any]: ...


class PropsDataclass:
    """A frozen dataclass whose fields are prop keys; a field that is itself `Props` is flattened in."""

    def to_props(self) -> dict[str, Any]:
        props: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            # Asked of the type: a Pulumi Output answers any attribute, `to_props` included.
            if callable(getattr(type(value), "to_props", None)):
                props.update(value.to_props())
            else:
                props[f.name] = value
        return props

    @classmethod
    def from_props(cls, props: Mapping[str, Any]) -> Self:
        """The dataclass from props: a null or missing key takes the field's default (a state written
        before that key existed); a key without a default must be there."""
        hints = typing.get_type_hints(cls)
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            hint = hints[f.name]
            nested = typing.get_origin(hint) or hint
            if isinstance(nested, type) and hasattr(nested, "from_props"):
                values[f.name] = nested.from_props(props)
            elif props.get(f.name) is not None:
                values[f.name] = _coerced(hint, props[f.name])
            elif f.name in props or (
                f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            ):
                # A null the caller gave is kept; a required key that is absent is the caller's bug.
                values[f.name] = props[f.name]
        return cls(**values)

    @classmethod
    def prop_keys(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]

    @classmethod
    def unset(cls) -> dict[str, None]:
        """Every key as an output the provider fills in (what a resource registers before create)."""
        return dict.fromkeys(cls.prop_keys())


def _coerced(hint: Any, value: Any) -> Any:
    """Pulumi carries every number as a float: an `int` field gets an int back."""
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if int in options and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def changed(olds: Props, news: Props, keys: Iterable[str]) -> list[str]:
    """Those of `keys` whose props differ between two values (what a diff replaces or updates)."""
    old, new = olds.to_props(), news.to_props()
    return [k for k in keys if old.get(k) != new.get(k)]


Inputs = TypeVar("Inputs", bound=PropsDataclass)
Outputs = TypeVar("Outputs", bound=PropsDataclass)


@contextlib.contextmanager
def carried_errors() -> Iterator[None]:
    """An error of the project's tree crosses the engine with its class (see errors.CarriedError)."""
    try:
        yield
    except V4InfraError as err:
        raise CarriedError(err) from None


class TypedProvider(ResourceProvider, Generic[Inputs, Outputs], abc.ABC):
    """A dynamic provider over typed inputs and outputs; subclasses implement the `on_*` verbs.

    `on_create` finds by name first (adopting what a crashed create left) and rents only what is
    missing; `on_read` answers None for what is gone; `on_delete` treats already gone as deleted.
    """

    # The dataclasses of the Generic parameters (a ClassVar cannot name a TypeVar, hence the casts below).
    inputs: ClassVar[type[PropsDataclass]]
    outputs: ClassVar[type[PropsDataclass]]

    def on_check(self, news: Inputs) -> list[CheckFailure]:
        return []

    @abc.abstractmethod
    def on_create(self, inputs: Inputs) -> tuple[str, Outputs]:
        """Adopt what the name already finds, else create; the id and outputs."""

    @abc.abstractmethod
    def on_read(self, id: str, inputs: Inputs, outputs: Outputs) -> tuple[Inputs, Outputs] | None:
        """The resource as the provider shows it now (inputs too: a volume may have grown), or None when gone."""

    @abc.abstractmethod
    def on_diff(self, id: str, olds: Inputs, outputs: Outputs, news: Inputs) -> DiffResult:
        """What changed, and whether it replaces the resource."""

    def on_update(self, id: str, olds: Inputs, outputs: Outputs, news: Inputs) -> Outputs:
        """What an in-place update leaves; by default the outputs stay as they are."""
        return outputs

    @abc.abstractmethod
    def on_delete(self, id: str, inputs: Inputs, outputs: Outputs) -> None:
        """Remove it; already gone counts as removed."""

    # ---- what Pulumi calls: props in, typed values through, props out --------------------------

    def check(self, olds: Mapping[str, Any], news: Mapping[str, Any]) -> CheckResult:
        with carried_errors():
            return CheckResult(dict(news), self.on_check(self._inputs(news)))

    def create(self, props: Mapping[str, Any]) -> CreateResult:
        with carried_errors():
            id_, outputs = self.on_create(self._inputs(props))
            return CreateResult(id_, {**props, **outputs.to_props()})

    def read(self, id: str, props: Mapping[str, Any]) -> ReadResult:
        with carried_errors():
            found = self.on_read(id, self._inputs(props), self._outputs(props))
            if found is None:
                return ReadResult(None, {})
            inputs, outputs = found
            return ReadResult(id, {**props, **inputs.to_props(), **outputs.to_props()})

    def diff(self, id: str, olds: Mapping[str, Any], news: Mapping[str, Any]) -> DiffResult:
        with carried_errors():
            return self.on_diff(id, self._inputs(olds), self._outputs(olds), self._inputs(news))

    def update(self, id: str, olds: Mapping[str, Any], news: Mapping[str, Any]) -> UpdateResult:
        with carried_errors():
            outputs = self.on_update(id, self._inputs(olds), self._outputs(olds), self._inputs(news))
            return UpdateResult({**news, **outputs.to_props()})

    def delete(self, id: str, props: Mapping[str, Any]) -> None:
        with carried_errors():
            self.on_delete(id, self._inputs(props), self._outputs(props))

    def _inputs(self, props: Mapping[str, Any]) -> Inputs:
        return typing.cast(Inputs, self.inputs.from_props(props))

    def _outputs(self, props: Mapping[str, Any]) -> Outputs:
        return typing.cast(Outputs, self.outputs.from_props(props))
