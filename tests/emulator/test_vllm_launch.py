"""The stand-in's `vllm serve` flags (infra/emulator/vllm_launch.py), parsed as vLLM's CLI parses them."""

from __future__ import annotations

import pytest

from infra.emulator.vllm_launch import Launch, nondefault_args, parse


def test_human_readable_lengths_and_the_model_tag_read_as_vllm_reads_them() -> None:
    args, unknown = parse(
        ["deepseek-ai/DeepSeek-V4-Flash", "--max-model-len", "200k", "--max-num-batched-tokens", "1K"]
    )

    assert (args.model, args.max_model_len, args.max_num_batched_tokens) == (
        "deepseek-ai/DeepSeek-V4-Flash",
        200_000,
        1024,
    )
    assert unknown == []


def test_unknown_long_flags_pass_but_stray_words_and_short_flags_stop_the_launch() -> None:
    _, unknown = parse(["m", "--some-newer-flag", "1"])
    assert unknown == ["--some-newer-flag", "1"]
    for stray in (["m", "extra"], ["m", "--x", "-z"]):
        with pytest.raises(SystemExit):
            parse(stray)


def test_the_logged_nondefault_args_never_show_the_api_key() -> None:
    args, _ = parse(["m", "--api-key", "sk-secret", "-tp", "4"])

    shown = nondefault_args(args)

    assert shown["tensor_parallel_size"] == 4 and "sk-secret" not in str(shown)


def test_a_data_parallel_rank_runs_only_its_local_share_of_the_world() -> None:
    args, _ = parse(["m", "-tp", "4", "-dp", "4", "--data-parallel-size-local", "2"])

    launch = Launch(args, (0, 25, 0), None, 8, None, 0.0)

    assert launch.world_size == 8
