"""The key table: Pulumi.yaml declares exactly it, and its patterns match whole values."""

from __future__ import annotations

import pytest
import yaml

from infra import config
from infra.config import parse

BASE = {"model": "flash", "gpu": "H200", "gpuCount": 4}
SRC = "stacks/Pulumi.test.yaml"


def test_pulumi_yaml_declares_exactly_the_schema():
    root = config.project_root()
    doc = yaml.safe_load((root / "Pulumi.yaml").read_text())
    assert doc["config"] == config.pulumi_yaml_config()
    assert doc["stackConfigDir"] == "stacks"


TYPES = {"string": str, "integer": int, "number": (int, float), "boolean": bool, "array": list}


@pytest.mark.parametrize("key", [k for k in config.SCHEMA if k.default is not None], ids=lambda k: k.name)
def test_every_default_is_a_value_its_own_key_accepts(key):
    # A default the key's own check would refuse would fail every stack that leaves it out.
    assert isinstance(key.default, TYPES[key.type]) and not (key.type != "boolean" and key.default is True)
    assert key.minimum is None or key.default >= key.minimum
    assert key.maximum is None or key.default <= key.maximum
    assert not key.choices or key.default in key.choices
    assert key.pattern is None or key.pattern.fullmatch(key.default)
    assert parse({**BASE, key.name: key.default}, stack="s", source="s").stack == "s"


def test_secret_keys_have_no_default_and_required_keys_are_in_the_table():
    assert [k.name for k in config.SCHEMA if k.secret and k.default is not None] == []
    assert set(config.REQUIRED) <= set(config.KEYS)
