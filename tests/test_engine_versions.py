"""What each engine version changes in a plan: the image and the driver it needs, reproducible tags,
flags spelled per version, and the memory a version reserves."""

from __future__ import annotations

from dataclasses import replace

import pytest

from infra.catalog import GIB, load_catalog
from infra.config import parse
from infra.engine_flags import refused_spellings
from infra.errors import ConfigError
from infra.planner import PlanRequest, plan

CAT = load_catalog()
AUTOTUNE_OLD, AUTOTUNE_NEW = "--no-enable-flashinfer-autotune", "--disable-flashinfer-autotune"
INDEXER_OLD, INDEXER_NEW = (
    "--attention_config.use_fp4_indexer_cache=True",
    "--attention_config.indexer_kv_dtype=mxfp4",
)


def test_the_plan_takes_the_newest_image_and_names_the_driver_it_needs():
    p = plan(PlanRequest("pro", "H200", 8))
    assert p.engine.image == "vllm/vllm-openai:v0.31.0"
    assert (p.engine.cuda, p.engine.min_driver) == ("13.0", 580)
    note = next(r for r in p.reasons if "NVIDIA driver" in r)
    assert "driver >= 580" in note and "vllm/vllm-openai:v0.31.0-cu129 (CUDA 12.9, driver >= 525)" in note
    assert p.engine.to_dict()["min_driver"] == 580
    sglang = plan(PlanRequest("flash", "H200", 4, engine="sglang"))
    assert sglang.engine.image == "lmsysorg/sglang:v0.5.21" and sglang.engine.min_driver == 580


def test_a_pinned_cu129_tag_needs_only_a_cuda_12_driver_and_an_unknown_image_says_so():
    p = plan(PlanRequest("pro", "H200", 8, image="vllm/vllm-openai:v0.30.0-cu129"))
    assert (p.engine.version, p.engine.cuda, p.engine.min_driver) == ("0.30.0", "12.9", 525)
    other = plan(PlanRequest("pro", "H200", 8, image="registry.local/vllm:v0.31.0"))
    assert other.engine.cuda is None and any(
        "CUDA, and so the NVIDIA driver it needs, is unknown" in r for r in other.reasons
    )


@pytest.mark.parametrize("image", ["vllm/vllm-openai:latest", "vllm/vllm-openai", "vllm/vllm-openai:nightly"])
def test_a_floating_image_is_refused_unless_the_stack_opts_in(image):
    with pytest.raises(ConfigError, match="names no engine version") as err:
        plan(PlanRequest("flash", "H200", 4, image=image))
    assert "vllm/vllm-openai:v0.31.0" in str(err.value) and "allowFloatingImage: true" in str(err.value)
    assert "\n" not in str(err.value)
    assert plan(PlanRequest("flash", "H200", 4, image=image, allow_floating_image=True)).engine.image == image


def test_a_digest_or_a_catalog_tag_without_a_version_is_reproducible():
    digest = "vllm/vllm-openai@sha256:" + "a" * 64
    assert plan(PlanRequest("flash", "H200", 4, image=digest)).engine.image == digest
    assert (
        plan(PlanRequest("flash", "H200", 4, image="vllm/vllm-openai:deepseekv4-cu129")).engine.cuda == "12.9"
    )


def test_the_stack_key_allow_floating_image_reaches_the_plan():
    raw = {"model": "flash", "gpu": "H200", "gpuCount": 4, "image": "vllm/vllm-openai:latest"}
    spec = parse(raw, stack="t", source="stacks/Pulumi.t.yaml")
    assert spec.allow_floating_image is False
    with pytest.raises(ConfigError, match="allowFloatingImage"):
        plan(spec.plan_request(), spec.catalog)
    opted = parse({**raw, "allowFloatingImage": True}, stack="t", source="stacks/Pulumi.t.yaml")
    assert plan(opted.plan_request(), opted.catalog).engine.image == "vllm/vllm-openai:latest"


def test_the_hopper_autotune_switch_is_spelled_per_version():
    default = plan(PlanRequest("pro", "H200", 8)).engine.args
    assert AUTOTUNE_OLD in default and AUTOTUNE_NEW not in default
    newest = plan(PlanRequest("pro", "H200", 8, image="vllm/vllm-openai:v0.33.0")).engine.args
    assert AUTOTUNE_NEW in newest and AUTOTUNE_OLD not in newest


def test_the_fp4_indexer_cache_is_spelled_per_version_on_blackwell_only():
    assert INDEXER_NEW in plan(PlanRequest("pro", "B200", 8)).engine.args
    old = plan(PlanRequest("pro", "B200", 8, image="vllm/vllm-openai:v0.25.0")).engine.args
    assert INDEXER_OLD in old and INDEXER_NEW not in old
    assert not any("indexer" in a for a in plan(PlanRequest("pro", "H200", 8)).engine.args)


@pytest.mark.parametrize(
    ("version", "given", "refused"),
    [
        ("0.33.0", (AUTOTUNE_OLD,), True),
        ("0.31.0", (AUTOTUNE_NEW,), True),
        ("0.31.0", (AUTOTUNE_OLD,), False),
        ("0.30.0", (INDEXER_OLD,), True),
        ("0.25.0", (INDEXER_NEW,), True),
        ("0.25.0", (INDEXER_OLD,), False),
    ],
)
def test_each_version_refuses_the_other_spelling(version, given, refused):
    found = refused_spellings(CAT.engine("vllm"), version, given)
    assert bool(found) is refused
    if refused:
        assert f"is refused for vllm {version}" in found[0] and "; use " in found[0]


def test_a_recipe_flag_the_version_refuses_makes_the_plan_no_fit():
    recipes = tuple(
        replace(r, extra_args=(AUTOTUNE_NEW,)) if (r.model, r.gpu, r.engine) == ("pro", "H200", "vllm") else r
        for r in CAT.recipes
    )
    p = plan(PlanRequest("pro", "H200", 8), replace(CAT, recipes=recipes))
    assert p.verdict == "no-fit"
    assert p.reasons[0].startswith(f"{AUTOTUNE_NEW} is refused for vllm 0.31.0")


def test_the_memory_calibration_follows_the_engine_version():
    new = plan(PlanRequest("pro", "H200", 8))
    old = plan(PlanRequest("pro", "H200", 8, image="vllm/vllm-openai:v0.25.0"))
    assert new.memory.engine_reserve_bytes == 4 * GIB and old.memory.engine_reserve_bytes == 0
    assert old.memory.kv_cache_bytes - new.memory.kv_cache_bytes == 4 * GIB
    assert any("4.0 GiB more reserved per GPU" in r and "vllm#54677" in r for r in new.reasons)
    assert not any("more reserved per GPU" in r for r in old.reasons)


def test_an_older_image_is_planned_when_only_the_newer_ones_reserve_too_much():
    p = plan(PlanRequest("flash", "H100-SXM", 2))
    assert p.verdict == "tight" and p.engine.image == "vllm/vllm-openai:v0.25.0"
    assert any("v0.31.0 does not fit" in r and "newest image that fits" in r for r in p.reasons)
    pinned = plan(PlanRequest("flash", "H100-SXM", 2, image="vllm/vllm-openai:v0.31.0"))
    assert pinned.verdict == "no-fit"  # a pinned image is planned as pinned
