"""The engines as the December 2026 catalog holds them (infra/catalog/engines.py): current images with their CUDA
and driver, the versions without an image, architectures, flag spellings and memory calibration."""

from __future__ import annotations

import pytest

from infra.catalog import load_catalog

CAT = load_catalog()


def test_every_image_tag_names_its_cuda_and_the_driver_that_cuda_needs():
    for engine in CAT.engines.values():
        for tag in engine.tags:
            assert tag.cuda.split(".")[0] in ("12", "13"), tag
            assert tag.min_driver == (580 if tag.cuda.startswith("13") else 525), tag
            assert tag.source and tag.read, tag
    vllm = {t.tag: t for t in CAT.engine("vllm").tags}
    assert vllm["v0.30.0"].cuda == "13.0" and vllm["v0.30.0-cu129"].cuda == "12.9"
    assert vllm["v0.31.0"].version == vllm["v0.31.0-cu129"].version == "0.31.0"


def test_the_newest_tags_come_first_and_pypi_only_releases_are_not_images():
    for engine in CAT.engines.values():
        versions = [tuple(int(p) for p in t.version.split(".")[:3] if p.isdigit()) for t in engine.tags]
        assert versions == sorted(versions, reverse=True), engine.key
        tagged = {t.version for t in engine.tags}
        assert all(r.version not in tagged and "no source" in r.why for r in engine.releases_without_image)
    assert [r.version for r in CAT.engine("vllm").releases_without_image] == ["0.33.0"]
    assert [r.version for r in CAT.engine("sglang").releases_without_image] == ["0.5.23"]
    assert [t.tag for t in CAT.engine("sglang").tags][:2] == ["v0.5.21", "v0.5.20"]


def test_v41_is_registered_only_by_the_versions_that_load_it():
    def registers(engine: str, version: str) -> bool:
        rows = [a for a in CAT.engine(engine).architectures if _v(a.since) <= _v(version)]
        return "DeepseekV41ForCausalLM" in rows[-1].names

    assert not registers("sglang", "0.5.20") and registers("sglang", "0.5.21")
    assert not registers("vllm", "0.25.0") and registers("vllm", "0.30.0")


@pytest.mark.parametrize("flag", ["autotune_off", "fp4_indexer_cache"])
def test_each_version_refuses_the_other_versions_spelling(flag):
    spellings = CAT.engine("vllm").flags[flag].spellings
    assert len(spellings) == 2 and _v(spellings[0].since) > _v(spellings[1].since)
    new, old = spellings
    assert [r.args for r in new.refused] == [old.args] and [r.args for r in old.refused] == [new.args]
    assert all(r.why for s in spellings for r in s.refused)
    assert new.args != old.args


def test_the_autotune_flag_changes_spelling_at_0_33_and_the_indexer_flag_at_0_30():
    flags = CAT.engine("vllm").flags
    assert flags["autotune_off"].spellings[0].since == "0.33.0"
    assert flags["autotune_off"].spellings[0].args == ("--disable-flashinfer-autotune",)
    assert flags["fp4_indexer_cache"].spellings[0].since == "0.30.0"
    assert flags["fp4_indexer_cache"].spellings[0].args == ("--attention_config.indexer_kv_dtype=mxfp4",)


def test_the_memory_calibration_belongs_to_an_engine_version_and_cites_its_facts():
    calibration = CAT.engine("vllm").calibration
    assert [c.since for c in calibration] == ["0.28.0", "0.20.0"]
    newer = calibration[0]
    assert newer.extra_reserve_gib == 4.0
    assert any("vllm#54677" in f for f in newer.facts) and any("#41834" in f for f in newer.facts)


def _v(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".")[:3] if p.isdigit())
