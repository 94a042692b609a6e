"""The checkpoints and published runs released since (infra/catalog/facts.py): the DSpark repacks and the SGLang
cookbook's cells."""

from __future__ import annotations

from infra.catalog import load_catalog

CAT = load_catalog()


def test_the_dspark_repacks_need_vllm_0_25_and_say_where_their_size_comes_from():
    for key in ("pro-dspark", "flash-dspark"):
        ckpt = CAT.checkpoint(key)
        assert ckpt.min_vllm == "0.25.0" and ckpt.speculative == "dspark"
        assert "hub listing was not read" in ckpt.size_note
    assert CAT.checkpoint("deepseek-ai/DeepSeek-V4-Pro-DSpark").vram_minimum_gb == 960


def test_cookbook_runs_carry_their_engine_version_workload_and_verified_mark():
    runs = [run for r in CAT.recipes for run in r.runs if "cookbook" in run.source]
    assert runs and all(run.marked_verified for run in runs)
    measured = [run for run in runs if run.outcome == "served"]
    assert len(measured) == 4 and all(run.engine_version == "0.5.15" for run in measured)
    assert all((run.input_tokens, run.output_tokens) == (8192, 1024) for run in measured)
    # The cell with empty benchmark cells is marked, not measured.
    assert [run.outcome for run in runs if run not in measured] == ["marked-verified"]
    points = [p for p in CAT.throughput if "cookbook" in p.source]
    assert len(points) == 8 and all(p.engine == "sglang" and p.engine_version == "0.5.15" for p in points)
    assert all(p.derived for p in points)
