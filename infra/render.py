"""The jinja2 environment every target renders its templates with (pure, deterministic).

Templates live in `infra/templates/<target>/` so they ship in the wheel. Undefined names fail loudly
(`StrictUndefined`); autoescape is off because the output is YAML or shell, not HTML, so every value a
template interpolates goes through a filter that makes it safe for where it lands:

    yaml_value     any value as one YAML flow node (strings quoted when YAML would misread them)
    to_yaml        a mapping or list as an indented YAML block (multi-line strings as `|` blocks)
    shell_quote    one word for a POSIX shell (shlex.quote)
    kubelet_escape `$$` and `$(` escaped, so the kubelet's `$(VAR)` expansion leaves a value exact
    comment        any value inside a `#` comment: one line, control characters escaped
"""

from __future__ import annotations

import re
import shlex
from functools import cache
from typing import Any

import jinja2
import yaml

TEMPLATE_PACKAGE = "infra"
# A `$` the kubelet would read as the start of `$$` or `$(`; a lone `$` passes through unchanged.
_KUBELET_SPECIAL = re.compile(r"\$(?=[$(])")


class _BlockDumper(yaml.SafeDumper):
    """A safe dumper that writes multi-line strings as literal blocks, so scripts stay readable."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str)


def yaml_value(value: Any) -> str:
    """`value` as a single-line YAML flow node that parses back to exactly `value`."""
    text = _flow(value, None)
    if "\n" in text:
        # Multi-line strings: double quotes keep a newline as the escape `\n`, on one line.
        text = _flow(value, '"')
    if "\n" in text:
        raise ValueError(f"cannot emit {value!r} as a single-line YAML value")
    return text


def _flow(value: Any, style: str | None) -> str:
    text = yaml.safe_dump(
        value, default_flow_style=True, default_style=style, width=2**31, allow_unicode=True, sort_keys=True
    )
    # A top-level scalar ends with a document-end marker; inside a mapping it must not.
    return text.removesuffix("\n...\n").rstrip("\n")


def to_yaml(value: Any, indent: int = 0) -> str:
    """`value` as a YAML block, every line after the first indented by `indent` spaces."""
    text = yaml.dump(
        value, Dumper=_BlockDumper, default_flow_style=False, sort_keys=True, width=2**31, allow_unicode=True
    ).rstrip("\n")
    first, *rest = text.split("\n")
    pad = " " * indent
    # Blank lines stay empty: a literal block needs no indentation on them, and no trailing spaces.
    return "\n".join([first, *(pad + line if line else line for line in rest)]) if rest else first


def comment(value: Any) -> str:
    """`value` safe inside a YAML or shell `#` comment: a newline there would end the comment and start code."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(value))


def shell_quote(value: Any) -> str:
    return shlex.quote(str(value))


def kubelet_escape(value: Any) -> str:
    """The kubelet expands `$(VAR)` in command, args and env values and reads `$$` as `$`."""
    return _KUBELET_SPECIAL.sub("$$", str(value))


@cache
def environment(target: str) -> jinja2.Environment:
    """The environment for `infra/templates/<target>/`."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader(TEMPLATE_PACKAGE, f"templates/{target}"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["yaml_value"] = yaml_value
    env.filters["to_yaml"] = to_yaml
    env.filters["shell_quote"] = shell_quote
    env.filters["kubelet_escape"] = kubelet_escape
    env.filters["comment"] = comment
    return env


def render(target: str, template: str, **context: Any) -> str:
    """Render one template of a target with `context`."""
    return environment(target).get_template(template).render(**context)
