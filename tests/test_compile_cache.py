"""Compile caches on the weight volume: one directory per engine version, GPU and flags, reached through
variables the pinned engines actually read."""

from __future__ import annotations

import json
from typing import Any

import pytest
from paths import REPO_ROOT

from infra.catalog import data_file
from infra.compile_cache import cache_variables, flags_digest, placement
from infra.errors import ConfigError

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "engine_options"
ARGV = ["--model", "deepseek-ai/DeepSeek-V4-Pro", "--tensor-parallel-size", "8", "--port", "8000"]


def _versions() -> list[tuple[str, str]]:
    return [(e, v) for e, row in data_file("compile_caches.yaml")["engines"].items() for v in row["versions"]]


@pytest.mark.parametrize(("engine", "version"), _versions())
def test_every_cache_variable_is_read_by_the_pinned_wheels(engine: str, version: str) -> None:
    wheel: dict[str, Any] = json.loads((FIXTURES / f"{engine}-{version}.json").read_text())
    missing = [name for name in cache_variables(engine, version) if name not in wheel["env"]]
    assert not missing, f"{engine} {version} does not read {missing} (wheels: {wheel['wheels']})"


def _place(**over: str) -> dict[str, str]:
    args = {"gpu": "H200", "compute_capability": "9.0", "digest": flags_digest(ARGV), "mount": "/workspace"}
    args.update(over)
    engine, version = args.pop("engine", "vllm"), args.pop("version", "0.25.0")
    return placement(engine, version, **args).env_dict()


def test_vllm_caches_all_go_under_one_keyed_directory_on_the_volume() -> None:
    env = _place()
    root = f"/workspace/.v4infra/compile-cache/vllm-0.25.0/h200-sm90/{flags_digest(ARGV)[:16]}"
    assert env == {
        "VLLM_CACHE_ROOT": f"{root}/vllm",
        "DG_JIT_CACHE_DIR": f"{root}/deep_gemm",
        "FLASHINFER_WORKSPACE_BASE": f"{root}/flashinfer",
        "TILELANG_CACHE_DIR": f"{root}/tilelang",
        "TRITON_CACHE_DIR": f"{root}/triton",
    }


def test_sglang_sets_its_own_deepgemm_variable_because_it_overwrites_the_generic_one() -> None:
    env = _place(engine="sglang", version="0.5.12")
    assert "SGLANG_DG_CACHE_DIR" in env and "DG_JIT_CACHE_DIR" not in env
    assert env["SGLANG_CACHE_DIR"].endswith("/sglang")


def test_a_different_engine_version_gpu_or_flags_gets_a_different_directory() -> None:
    base = _place()["VLLM_CACHE_ROOT"]
    assert _place()["VLLM_CACHE_ROOT"] == base  # the second start with the same configuration reuses it
    assert _place(version="0.30.0")["VLLM_CACHE_ROOT"] != base
    assert _place(gpu="H100-SXM")["VLLM_CACHE_ROOT"] != base
    assert _place(digest=flags_digest([*ARGV, "--max-model-len", "200000"]))["VLLM_CACHE_ROOT"] != base


def test_the_digest_ignores_the_port_and_never_includes_secrets() -> None:
    moved = ["--model", "deepseek-ai/DeepSeek-V4-Pro", "--tensor-parallel-size", "8", "--port=9000"]
    assert flags_digest(moved) == flags_digest(ARGV)
    with_key = [*ARGV, "--api-key", "sk-one"]
    assert flags_digest(with_key) == flags_digest([*ARGV, "--api-key", "sk-two"]) == flags_digest(ARGV)
    env_a = {"VLLM_USE_BREAKABLE_CUDAGRAPH": "1", "HF_TOKEN": "hf_aaa"}
    env_b = {"VLLM_USE_BREAKABLE_CUDAGRAPH": "1", "HF_TOKEN": "hf_bbb"}
    assert flags_digest(ARGV, env_a) == flags_digest(ARGV, env_b)
    assert flags_digest(ARGV, {"VLLM_USE_BREAKABLE_CUDAGRAPH": "0"}) != flags_digest(ARGV, env_a)


def test_the_cache_variables_themselves_do_not_change_the_digest() -> None:
    env = _place()
    assert flags_digest(ARGV, env, "vllm", "0.25.0") == flags_digest(ARGV, {}, "vllm", "0.25.0")


@pytest.mark.parametrize("mount", ["workspace", "/work space", "/a/../etc", "/w;rm -rf /", "/w$(id)"])
def test_a_mount_path_that_is_not_plain_is_refused_before_it_reaches_a_shell(mount: str) -> None:
    with pytest.raises(ConfigError, match="is not a plain absolute path; valid: letters, digits"):
        _place(mount=mount)


def test_an_engine_version_without_recorded_variables_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"no compile-cache variables recorded for vllm 0\.33\.0"):
        _place(version="0.33.0")


def test_the_runpod_start_scripts_put_the_caches_on_the_volume_keyed_by_the_plan() -> None:
    import shlex

    from infra.planner import PlanRequest, plan
    from infra.targets.runpod.start_script import cluster_start_script, gpu_start_script

    single = plan(PlanRequest("pro", "H200", 8))
    two = plan(PlanRequest("pro", "H100-SXM", 8, nodes=2))
    for p, script in (
        (single, gpu_start_script(single, stack="s", pod_name="pod", ttl_seconds=None)),
        (two, cluster_start_script(two, stack="s", cluster_name="c")),
    ):
        assert p.start is not None
        exports = dict(
            line.removeprefix("export ").split("=", 1)
            for line in script.splitlines()
            if line.startswith("export ")
        )
        gpu = "h200-sm90" if p.gpu == "H200" else "h100-sxm-sm90"
        key = f"/workspace/.v4infra/compile-cache/vllm-{p.engine.version}/{gpu}/{p.start.compile_cache_digest[:16]}"
        for name in cache_variables("vllm", p.engine.version):
            assert shlex.split(exports[name])[0].startswith(key + "/")
        assert f"mkdir -p {key}/" in script


def test_the_loading_flags_do_not_change_the_cache_key() -> None:
    from infra.planner import PlanRequest, plan

    lazy = plan(PlanRequest("flash", "H200", 4, load_strategy="lazy"))
    prefetch = plan(PlanRequest("flash", "H200", 4, load_strategy="prefetch"))
    assert lazy.engine.args != prefetch.engine.args
    assert lazy.start is not None and prefetch.start is not None
    assert lazy.start.compile_cache_digest == prefetch.start.compile_cache_digest
