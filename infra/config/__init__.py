"""Stack configuration: one schema, validated before anything else runs.

The face of three modules, each one concept:
- `schema`: the key table (`SCHEMA`, `KEYS`), the source of Pulumi.yaml's `config:` block;
- `spec`: `StackSpec` and `parse`, which turns raw config into it or one `ConfigError`;
- `discovery`: the project root and `stacks/Pulumi.<stack>.yaml`, found and loaded.
Callers write `from infra import config` and `config.load_stack(...)`, whichever module holds the name.
"""

from __future__ import annotations

from infra.config.discovery import load_stack, project_root, stack_names, stacks_dir
from infra.config.schema import (
    DNS_LABEL,
    DNS_SUBDOMAIN,
    IMAGE_REF,
    KEYS,
    LABEL_VALUE,
    PROJECT,
    REPO_ID,
    REQUIRED,
    SCHEMA,
    STACK_NAME,
    Key,
    pulumi_yaml_config,
)
from infra.config.spec import StackSpec, check_stack_name, parse
from infra.errors import ConfigError  # callers catch it as config.ConfigError
from infra.quoting import one_line, shown

__all__ = [
    "DNS_LABEL",
    "DNS_SUBDOMAIN",
    "IMAGE_REF",
    "KEYS",
    "LABEL_VALUE",
    "PROJECT",
    "REPO_ID",
    "REQUIRED",
    "SCHEMA",
    "STACK_NAME",
    "ConfigError",
    "Key",
    "StackSpec",
    "check_stack_name",
    "load_stack",
    "one_line",
    "parse",
    "project_root",
    "pulumi_yaml_config",
    "shown",
    "stack_names",
    "stacks_dir",
]
