"""The Pulumi names of a Kubernetes stack's objects: fixed, so that existing stacks' state sees no replace."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from infra import config
from infra.errors import ConfigError
from infra.planner import plan
from infra.targets.kubernetes.dependency_graph import ObjectRef
from infra.targets.kubernetes.state_names import state_name, state_names

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize("stack", sorted(p.name for p in GOLDEN.iterdir()))
def test_each_object_keeps_the_name_its_file_stem_gave_it_when_stacks_were_created(stack: str) -> None:
    # Stacks created before the names were written out got `<stack>-<file stem>`, e.g. `...-pvc-model-cache`.
    spec = config.load_stack(stack)
    names = state_names(spec, plan(spec.plan_request(), spec.catalog))
    files = sorted((GOLDEN / stack).glob("[0-9][0-9]-*.yaml"))
    assert files
    for path in files:
        obj = yaml.safe_load(path.read_text(encoding="utf-8"))
        stem = path.name.split("-", 1)[1].removesuffix(".yaml")
        assert names[ObjectRef(obj["kind"], obj["metadata"]["name"])] == stem, path.name


def test_the_secrets_keep_their_names() -> None:
    spec = config.load_stack("k8s-flash-4xh200")
    names = state_names(spec, plan(spec.plan_request(), spec.catalog))
    assert names[ObjectRef("Secret", "hf-token")] == "secret-hf-token"
    assert names[ObjectRef("Secret", "vllm-api-key")] == "secret-api-key"


def test_an_object_without_a_name_is_refused_before_anything_is_created() -> None:
    with pytest.raises(ConfigError, match="Job fetch-weights has no Pulumi name"):
        state_name({}, ObjectRef("Job", "fetch-weights"), "stacks/Pulumi.s.yaml")
