"""The planner learns from this account's runs: a recorded point of the same configuration and load replaces
the published estimate, labelled; a rehearsal records nothing; another engine build or flag finds nothing.

The point is built from the real vLLM result format (tests/fixtures/bench/vllm-0.25.0-save-result.json)
and a real accuracy stage's details, as a passing validate records it (infra/validate/evidence_record.py).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from infra import config
from infra.cli import main
from infra.evidence import EvidenceStore
from infra.planner import plan
from infra.validate import accuracy, benchmark
from infra.validate.evidence_record import plan_config, record_run, run_context
from infra.validate.stages import StageResult

STACK = "flash-4xh200"  # declared load: 8,192 in / 1,024 out at concurrency 8
SAMPLE = (Path(__file__).resolve().parent / "fixtures" / "bench" / "vllm-0.25.0-save-result.json").read_text()


def _stages(concurrency: int = 8) -> list[StageResult]:
    the_plan = plan(config.load_stack(STACK).plan_request())
    measured = benchmark.parse_result(
        "vllm", SAMPLE, benchmark.Workload("declared", 8192, 1024, concurrency, 16)
    )
    runs = [benchmark.Comparison(measured, None, the_plan.cost.est_output_tokens_per_s).as_dict()]
    answers = [accuracy.Answer(i, 3, 3, "") for i in range(200)]
    judged = accuracy.judge(
        accuracy.AccuracyRun(answers),
        accuracy.reference_for(the_plan.model, None, None),
        accuracy.AccuracySettings(),
        "d",
    )
    return [judged, StageResult("benchmark", True, 60.0, "measured", {"runs": runs})]


def _record(store: EvidenceStore, *, rehearsal: bool = False, concurrency: int = 8) -> str:
    spec = config.load_stack(STACK)
    the_plan = plan(spec.plan_request(), spec.catalog)
    image = {"digest": "sha256:" + "c" * 64, "source": "the registry's manifest (registry-1.docker.io)"}
    return record_run(
        store, the_plan, STACK, _stages(concurrency), image, rehearsal=rehearsal, today="2026-12-02"
    )


def test_a_rehearsal_records_nothing(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path / "evidence.jsonl")
    line = _record(store, rehearsal=True)
    assert store.points() == [] and not store.path.exists()
    assert "rehearsal numbers never enter the evidence file" in line


def test_a_recorded_point_changes_the_next_plans_estimate_and_label(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path / "evidence.jsonl")
    spec = config.load_stack(STACK)
    published = plan(spec.plan_request(), spec.catalog)
    _record(store)

    learned = plan(spec.plan_request(), spec.catalog, own_points=store.throughput_point)

    assert published.throughput is not None and learned.throughput is not None
    assert published.throughput.output_tokens_per_s == 949.0 and published.throughput.measured == ""
    assert learned.throughput.output_tokens_per_s == pytest.approx(1436.3, abs=0.1)
    assert learned.throughput.measured == "measured on this account on 2026-12-02"
    assert learned.throughput.source.startswith("measured on this account on 2026-12-02 (stack flash-4xh200")
    # The cost per token follows the measured rate.
    assert learned.cost.est_output_tokens_per_s == pytest.approx(1436.3, abs=0.1)
    assert learned.cost.usd_per_million_output < published.cost.usd_per_million_output  # type: ignore[operator]
    (point,) = store.points()
    assert point.image_digest == "sha256:" + "c" * 64 and point.config == plan_config(published)


def test_plan_json_carries_the_own_point(capsys: pytest.CaptureFixture[str]) -> None:
    # The default evidence file, under this test's own XDG_DATA_HOME (tests/conftest.py).
    _record(EvidenceStore())
    assert main(["plan", STACK, "--json"]) == 0
    throughput = json.loads(capsys.readouterr().out)["throughput"]
    assert throughput["measured"] == "measured on this account on 2026-12-02"
    assert throughput["output_tokens_per_s"] == pytest.approx(1436.3, abs=0.1)


@pytest.mark.parametrize(
    "change",
    [
        {"max_num_seqs": 128},  # another --max-num-seqs: another flags digest
        {"image": "vllm/vllm-openai:v0.30.0"},  # another engine version
        {"expected_concurrency": 16},  # another load: the point says nothing about it
    ],
    ids=["flags", "engine-version", "load"],
)
def test_a_changed_configuration_or_load_ignores_the_point(tmp_path: Path, change: dict[str, object]) -> None:
    store = EvidenceStore(tmp_path / "evidence.jsonl")
    _record(store)
    spec = replace(config.load_stack(STACK), **change)  # type: ignore[arg-type]

    other = plan(spec.plan_request(), spec.catalog, own_points=store.throughput_point)

    assert other.throughput is not None and other.throughput.measured == ""
    assert "measured on this account" not in other.throughput.source


def test_the_flags_digest_is_what_tells_them_apart() -> None:
    spec = config.load_stack(STACK)
    one = plan_config(plan(spec.plan_request(), spec.catalog))
    two = plan_config(plan(replace(spec, max_num_seqs=128).plan_request(), spec.catalog))
    assert (one.engine, one.engine_version) == (two.engine, two.engine_version)
    assert one.flags_digest != two.flags_digest and one.digest != two.digest


def test_a_recorded_run_is_the_own_accuracy_reference_of_the_next_real_validate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the report folder is made under reports/
    store = EvidenceStore(tmp_path / "evidence.jsonl")
    spec = config.load_stack(STACK)
    the_plan = plan(spec.plan_request(), spec.catalog)
    assert (
        run_context(STACK, the_plan, spec, store, rehearsal=False, started="2026-12-02T10:00:00").own_accuracy
        is None
    )
    _record(store)

    real = run_context(STACK, the_plan, spec, store, rehearsal=False, started="2026-12-02T11:00:00")
    rehearsal = run_context(STACK, the_plan, spec, store, rehearsal=True, started="2026-12-02T12:00:00")

    assert real.own_accuracy == (1.0, "2026-12-02") and real.ask_registry
    assert rehearsal.own_accuracy is None and not rehearsal.ask_registry
    # Where no figure is published, that is the threshold the stage uses (infra/validate/accuracy.py).
    reference = accuracy.reference_for("someone/custom-v4", *real.own_accuracy)
    assert reference is not None and reference.label == "measured on this account on 2026-12-02"
    assert real.report_dir is not None and real.report_dir.is_dir()
