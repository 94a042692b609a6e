"""The account's records: ports and RunPod's JSON start command, read as RunPod documents them."""

from __future__ import annotations

import pytest

from infra.emulator.resources import Cluster, member_ip, parse_ports, parse_start_command


def test_ports_are_a_comma_list_with_blanks_dropped():
    assert parse_ports(" 8000/http, 22/tcp ,,") == ["8000/http", "22/tcp"]
    assert parse_ports("") == []


@pytest.mark.parametrize(
    ("args", "form"),
    [
        ('{"entrypoint": ["bash", "-c"], "cmd": ["echo hi"]}', (["bash", "-c"], ["echo hi"])),
        ('{"cmd": ["serve"]}', (None, ["serve"])),
        ('  {"entrypoint": []}  ', ([], None)),
    ],
)
def test_the_json_start_command_gives_entrypoint_and_cmd(args, form):
    assert parse_start_command(args) == form


@pytest.mark.parametrize(
    "args",
    [
        "vllm serve x --port 8000",  # plain arguments for the image's ENTRYPOINT
        '{"entrypoint": "bash"}',  # not a list
        '{"cmd": ["a"], "env": {}}',  # a key RunPod's form does not have
        "{}",
        "{not json",
        '{"cmd": [1]}',
    ],
)
def test_anything_else_is_plain_arguments(args):
    assert parse_start_command(args) is None


def test_members_are_numbered_from_dot_two_on_the_private_network():
    cluster = Cluster("c", "c", "TRAINING", "NVIDIA H200", 8, 3, "EU-RO-1", 0.0, [])
    assert [member_ip(cluster, rank) for rank in range(3)] == ["10.65.0.2", "10.65.0.3", "10.65.0.4"]
