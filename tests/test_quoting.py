"""A user's value and a foreign message stay one printed line, whatever they hold."""

from __future__ import annotations

from infra.quoting import one_line, shown


def test_a_value_is_quoted_its_control_characters_escaped_and_a_long_one_cut():
    assert shown("flash") == "'flash'"
    assert shown("a\nb") == "'a\\nb'" and "\n" not in shown("a\nb")
    assert shown(4) == "4" and shown(["x"]) == "['x']"
    long = shown("x" * 200)
    assert len(long) == 80 and long.endswith("...")


def test_a_foreign_message_keeps_its_text_and_loses_its_line_breaks():
    assert one_line("no stack 'a'.\nDid you mean 'b'?\x1b[0m") == "no stack 'a'.\\nDid you mean 'b'?\\x1b[0m"
