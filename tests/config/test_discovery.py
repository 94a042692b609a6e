"""Finding stacks: the project root, stacks/Pulumi.<stack>.yaml, and what a stack file may get wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from infra import config
from infra.config import PROJECT, load_stack, parse
from infra.errors import ConfigError

BASE = {"model": "flash", "gpu": "H200", "gpuCount": 4}
SRC = "stacks/Pulumi.test.yaml"


def test_every_preset_is_valid_and_plans():
    for name in config.stack_names():
        spec = load_stack(name)
        assert spec.stack == name


def test_unknown_stack_lists_the_presets():
    with pytest.raises(ConfigError, match=r"no stack 'flash-4xh20'.*Did you mean 'flash-4xh200'"):
        load_stack("flash-4xh20")


def test_stack_file_problems_name_the_file(tmp_path: Path):
    (tmp_path / "Pulumi.yaml").write_text("name: x\n")
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.bad.yaml").write_text("config: [oops\n")
    with pytest.raises(ConfigError, match=r"stacks/Pulumi\.bad\.yaml: not valid YAML"):
        load_stack("bad", tmp_path)
    (tmp_path / "stacks" / "Pulumi.enc.yaml").write_text(
        yaml.safe_dump(
            {
                "config": {
                    **{f"{PROJECT}:{k}": v for k, v in BASE.items()},
                    f"{PROJECT}:gpu": {"secure": "v1:abc"},
                }
            }
        )
    )
    with pytest.raises(ConfigError, match="'deepseek-v4-infra:gpu' is encrypted but is not a secret key"):
        load_stack("enc", tmp_path)


def test_secrets_count_as_set_without_being_read(tmp_path: Path):
    (tmp_path / "Pulumi.yaml").write_text("name: x\n")
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.s.yaml").write_text(
        yaml.safe_dump(
            {
                "config": {
                    **{f"{PROJECT}:{k}": v for k, v in BASE.items()},
                    f"{PROJECT}:hfToken": {"secure": "v1:zz"},
                }
            }
        )
    )
    assert "hfToken" in load_stack("s", tmp_path).secrets_set


def test_yaml_infinities_in_a_stack_file_are_refused(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text("name: deepseek-v4-infra\n")
    (tmp_path / "stacks").mkdir()
    doc = "config:\n  deepseek-v4-infra:model: flash\n  deepseek-v4-infra:gpu: H200\n"
    doc += "  deepseek-v4-infra:gpuCount: 4\n  deepseek-v4-infra:gpuPriceUsd: .nan\n"
    (tmp_path / "stacks" / "Pulumi.nan.yaml").write_text(doc)
    with pytest.raises(ConfigError, match="gpuPriceUsd' must be a finite number, got nan"):
        load_stack("nan", tmp_path)


@pytest.mark.parametrize(
    "name",
    ["exp\nb", "x" * 255, "../etc", "a/b", "", "-lead", "sp ace", "tab\t", "é", "nul\x00"],
)
def test_a_stack_name_pulumi_or_resource_names_cannot_take_is_refused_first(name):
    with pytest.raises(ConfigError, match="is not valid: use 1-100 letters") as err:
        load_stack(name)
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="is not valid"):
        parse(BASE, stack=name, source=SRC)


def test_two_kubernetes_stacks_in_one_namespace_are_refused(tmp_path):
    (tmp_path / "Pulumi.yaml").write_text("name: deepseek-v4-infra\n")
    (tmp_path / "stacks").mkdir()
    for name in ("team-a", "team-b", "runpod-one"):
        raw = {f"{PROJECT}:{k}": v for k, v in {**BASE, "target": "kubernetes"}.items()}
        if name == "runpod-one":
            raw[f"{PROJECT}:target"] = "runpod"
        (tmp_path / "stacks" / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump({"config": raw}))
    with pytest.raises(
        ConfigError, match="'team-a' and stack 'team-b' both deploy into namespace 'deepseek-v4'"
    ):
        load_stack("team-a", tmp_path)
    assert load_stack("runpod-one", tmp_path).target == "runpod", "a RunPod stack has no namespace to share"
    path = tmp_path / "stacks" / "Pulumi.team-b.yaml"
    path.write_text(path.read_text() + f"  {PROJECT}:namespace: team-b\n")
    assert load_stack("team-a", tmp_path).namespace == "deepseek-v4"
