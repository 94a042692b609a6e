"""Where stacks live: the project root, `stacks/Pulumi.<name>.yaml`, and loading one into a `StackSpec`."""

from __future__ import annotations

import difflib
import os
from dataclasses import replace
from pathlib import Path

import yaml

from infra.config.schema import KEYS, PROJECT
from infra.config.spec import StackSpec, check_stack_name, parse
from infra.errors import ConfigError


def stacks_dir(root: Path | None = None) -> Path:
    return (root or project_root()) / "stacks"


def project_root() -> Path:
    """The directory holding Pulumi.yaml: $V4INFRA_ROOT, the working directory, or the source checkout."""
    env = os.environ.get("V4INFRA_ROOT")
    candidates = [Path(env)] if env else []
    candidates += [Path.cwd(), Path(__file__).resolve().parents[2]]
    for cand in candidates:
        if (cand / "Pulumi.yaml").is_file():
            return cand
    raise ConfigError("cannot find Pulumi.yaml: run v4infra from the project directory or set V4INFRA_ROOT")


def stack_names(root: Path | None = None) -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in stacks_dir(root).glob("Pulumi.*.yaml"))


def load_stack(name: str, root: Path | None = None) -> StackSpec:
    """Read and validate `stacks/Pulumi.<name>.yaml`."""
    check_stack_name(name)
    path = stacks_dir(root) / f"Pulumi.{name}.yaml"
    if not path.is_file():
        names = stack_names(root)
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ConfigError(
            f"no stack '{name}' (no {path.relative_to(path.parent.parent)}).{hint} "
            f"Stacks: {', '.join(names)}."
        )
    rel = f"stacks/{path.name}"
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, ValueError) as err:  # ValueError: an integer longer than int() reads
        raise ConfigError(f"{rel}: not valid YAML ({' '.join(str(err).split())})") from None
    raw = doc.get("config") or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{rel}: 'config' must be a mapping of keys to values")
    spec = parse(raw, stack=name, source=rel)
    if spec.target == "kubernetes":
        _check_namespace_is_its_own(spec, root)
    env_secrets = {
        k for k, env in (("hfToken", "HF_TOKEN"), ("runpodApiKey", "RUNPOD_API_KEY")) if os.environ.get(env)
    }
    return _with_secrets(spec, env_secrets)


def _check_namespace_is_its_own(spec: StackSpec, root: Path | None) -> None:
    """Kubernetes objects are named per namespace: two stacks in one would apply, and destroy, each other's."""
    for other in stack_names(root):
        if other == spec.stack:
            continue
        try:
            doc = yaml.safe_load((stacks_dir(root) / f"Pulumi.{other}.yaml").read_text(encoding="utf-8"))
            raw = (doc or {}).get("config") or {}
        except (OSError, yaml.YAMLError, ValueError, AttributeError):
            continue  # that stack's own load reports what is wrong with it
        if not isinstance(raw, dict):
            continue
        values = {str(k).rpartition(":")[2]: v for k, v in raw.items()}
        if values.get("target") == "kubernetes" and values.get("namespace", KEYS["namespace"].default) == (
            spec.namespace
        ):
            raise ConfigError(
                f"{spec.source}: stack '{spec.stack}' and stack '{other}' both deploy into namespace "
                f"'{spec.namespace}'; give each its own '{PROJECT}:namespace', or one would replace and "
                "destroy the other's objects"
            )


def _with_secrets(spec: StackSpec, extra: set[str]) -> StackSpec:
    return replace(spec, secrets_set=spec.secrets_set | frozenset(extra))
