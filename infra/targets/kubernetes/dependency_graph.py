"""Objects that wait for other objects, named by kind and name, and an order of creation that honours them.

Each object of a stack declares what it waits for (dependencies.py), every dependency either required or
waited for only when the stack has it. `resolve` checks those declarations against the objects a stack
actually has and puts the objects in an order where each comes after everything it waits for, keeping the
given order wherever the declarations leave it free. Nothing here knows file names, so renaming or
renumbering a template file can neither drop a dependency nor break the order.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from infra.errors import ConfigError

DECLARED_IN = "infra/targets/kubernetes/dependencies.py"


@dataclass(frozen=True, order=True)
class ObjectRef:
    """An object as Kubernetes names it inside the stack's namespace: its kind and its name."""

    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


@dataclass(frozen=True)
class Dependency:
    """One thing an object waits for."""

    on: ObjectRef
    required: bool
    """True: the stack must have it, else the render fails; False: waited for only when the stack has it."""


def required(kind: str, name: str) -> Dependency:
    return Dependency(ObjectRef(kind, name), required=True)


def when_present(kind: str, name: str) -> Dependency:
    return Dependency(ObjectRef(kind, name), required=False)


@dataclass(frozen=True)
class StackObject:
    """One object a stack creates, and the namespace it lives in (None: cluster-scoped or not Kubernetes)."""

    ref: ObjectRef
    namespace: str | None = None


def resolve(
    objects: Sequence[StackObject],
    declared: Mapping[ObjectRef, Sequence[Dependency]],
    *,
    where: str,
    outside: Collection[ObjectRef] = (),
) -> dict[ObjectRef, tuple[ObjectRef, ...]]:
    """Each object -> the objects it waits for, in an order of creation (dict order).

    A namespaced object also waits for its Namespace. `outside` are objects the stack relies on but does
    not create itself (the GitOps Secrets a user applies): they count as present and are not ordered.
    Raises ConfigError, one line naming the objects, for an object without a declaration, a required
    dependency the stack does not have, or objects that wait for each other.
    """
    refs = [o.ref for o in objects]
    if len(set(refs)) != len(refs):
        twice = sorted({str(r) for r in refs if refs.count(r) > 1})
        raise ConfigError(f"{where}: the stack renders {', '.join(twice)} more than once")
    present = set(refs)
    waits: dict[ObjectRef, tuple[ObjectRef, ...]] = {}
    for obj in objects:
        if obj.ref not in declared:
            raise ConfigError(
                f"{where}: {obj.ref} declares nothing it waits for; add it to {DECLARED_IN} (with `()` if "
                "it waits for nothing)"
            )
        deps = list(declared[obj.ref])
        if obj.namespace is not None:
            deps.insert(0, required("Namespace", obj.namespace))
        found: list[ObjectRef] = []
        for dep in deps:
            if dep.on in present:
                found.append(dep.on)
            elif dep.required and dep.on not in outside:
                raise ConfigError(
                    f"{where}: {obj.ref} waits for {dep.on}, which the stack does not create "
                    f"(the dependencies are declared in {DECLARED_IN})"
                )
        waits[obj.ref] = tuple(dict.fromkeys(found))
    return _ordered(refs, waits, where)


def _ordered(
    refs: list[ObjectRef], waits: dict[ObjectRef, tuple[ObjectRef, ...]], where: str
) -> dict[ObjectRef, tuple[ObjectRef, ...]]:
    """Repeatedly the first object, in the given order, whose dependencies are all placed (stable)."""
    placed: dict[ObjectRef, tuple[ObjectRef, ...]] = {}
    left = list(refs)
    while left:
        ready = next((r for r in left if all(d in placed for d in waits[r])), None)
        if ready is None:
            raise ConfigError(
                f"{where}: {', '.join(map(str, left))} wait for each other; nothing can go first"
            )
        placed[ready] = waits[ready]
        left.remove(ready)
    return placed
