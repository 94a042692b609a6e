"""Report files: where they go, that they parse, what they say, and that no secret reaches them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.planner import PlanRequest, plan
from infra.ssh import generate_keypair
from infra.validate.redact import Redactor
from infra.validate.report import (
    REHEARSAL_BANNER,
    RunCost,
    Teardown,
    ValidationReport,
    render_markdown,
    write_report,
)
from infra.validate.stages import StageResult

CANARY = "sk-CANARY-7d1e0f9a2b3c"
HF_CANARY = "hf_CANARYabcdefghijklmnop"
UNLISTED_BEARER = "Bearer eyJhbGciOiJIUzI1NiJ9.unlisted"


def flash_plan() -> dict[str, object]:
    data = plan(PlanRequest("flash", "H200", 4)).to_dict()
    engine = dict(data["engine"])
    engine["env"] = {**engine["env"], "VLLM_API_KEY": CANARY, "HF_TOKEN": HF_CANARY}
    data["engine"] = engine
    return data


def stages(private_key: str) -> list[StageResult]:
    return [
        StageResult("gpu-preflight", True, 1.25, "4x NVIDIA H200, driver 570.133.20", {"gpus": 4}),
        StageResult(
            "engine-health",
            True,
            42.0,
            "engine healthy after 42.0 s",
            {"seconds_to_healthy": 42.0, "last_log_lines": [f"non-default args: api_key={CANARY}"]},
        ),
        StageResult(
            "api",
            False,
            0.5,
            f"models: GET /v1/models answered HTTP 401 for key {CANARY} | {UNLISTED_BEARER}",
            {"checks": [{"name": "models", "passed": False, "detail": private_key}]},
        ),
        StageResult(
            "load",
            True,
            3.0,
            "10/10 requests",
            {
                "requests": 10,
                "completed": 10,
                "output_tokens_per_s": 812.4,
                "ratio_to_estimate": 0.312,
                "ttft_p50_s": 0.12,
                "ttft_p95_s": 0.2,
                "itl_p50_s": 0.011,
                "itl_p95_s": 0.019,
                "hub_token": HF_CANARY,
            },
        ),
    ]


def report(*, rehearsal: bool = True, teardown: Teardown | None = None) -> ValidationReport:
    private_key, _ = generate_keypair()
    return ValidationReport(
        stack="flash-4xh200",
        plan=flash_plan(),
        stages=stages(private_key),
        started="2026-03-01T10:00:00+00:00",
        ended="2026-03-01T10:30:00+00:00",
        teardown=teardown or Teardown(ok=True, removed=["pod abc123", "network volume vol-1"], leftover=[]),
        rehearsal=rehearsal,
    )


def test_report_files_exist_parse_and_keep_every_secret_out(tmp_path: Path) -> None:
    json_path, markdown_path = write_report(report(), tmp_path / "reports", secrets=[CANARY, None, ""])
    assert json_path.parent == tmp_path / "reports" / "flash-4xh200" / "20260301T100000Z"
    assert markdown_path.parent == json_path.parent
    data = json.loads(json_path.read_text())
    markdown = markdown_path.read_text()
    for text in (json_path.read_text(), markdown):
        assert CANARY not in text
        assert HF_CANARY not in text
        assert "eyJhbGciOiJIUzI1NiJ9" not in text
        assert "PRIVATE KEY" not in text
    assert data["passed"] is False
    assert data["failed_stage"] == "api"
    assert [stage["name"] for stage in data["stages"]] == ["gpu-preflight", "engine-health", "api", "load"]
    assert data["plan"]["engine"]["env"]["VLLM_API_KEY"] == "***"
    assert data["teardown"] == {
        "ok": True,
        "removed": ["pod abc123", "network volume vol-1"],
        "leftover": [],
        "error": None,
        "seconds": 0.0,
    }
    assert "| Stage | Result | Seconds | Reason |" in markdown
    assert (
        "| api | **FAIL** | 0.5 | models: GET /v1/models answered HTTP 401 for key *** \\| Bearer *** |"
        in markdown
    )
    assert "**Verdict: FAILED** at `api`" in markdown
    assert f"> **{REHEARSAL_BANNER}.**" in markdown
    assert "Teardown confirmed: every resource is gone" in markdown


def test_cost_comes_from_the_plans_price_and_the_measured_duration(tmp_path: Path) -> None:
    run = report()
    price = run.plan["cost"]["usd_per_hour"]
    json_path, markdown_path = write_report(run, tmp_path)
    cost = json.loads(json_path.read_text())["cost"]
    assert cost["gpu_hours"] == 2.0  # 4 GPUs for half an hour
    assert cost["usd"] == pytest.approx(price / 2, abs=1e-3)
    assert "had it run on RunPod (nothing was spent)" in markdown_path.read_text()
    given = write_report(
        ValidationReport("s", {}, [], "2026-03-01T10:00:00Z", "2026-03-01T10:00:05Z", cost=RunCost(0.1, 1.5)),
        tmp_path,
    )[0]
    assert json.loads(given.read_text())["cost"] == {
        "gpu_hours": 0.1,
        "usd": 1.5,
        "usd_per_hour": None,
        "source": "uptime x the plan's rate",
    }


def test_measured_figures_stand_beside_the_plans_estimate(tmp_path: Path) -> None:
    markdown = render_markdown(report(rehearsal=False), secrets=[CANARY])
    estimate = flash_plan()["cost"]["est_output_tokens_per_s"]  # type: ignore[index]
    assert f"| Output tokens/s (load test) | 812 tok/s | {estimate:.0f} tok/s (measured 0.31x) |" in markdown
    assert "| Time to first token p50 / p95 | 120.0 / 200.0 ms |" in markdown
    assert "| Engine load time | 42 s |" in markdown
    assert REHEARSAL_BANNER not in markdown


def test_teardown_that_left_resources_is_loud(tmp_path: Path) -> None:
    failed = Teardown(ok=False, removed=["pod abc123"], leftover=["network volume vol-1"], error="HTTP 500")
    markdown = write_report(report(teardown=failed), tmp_path)[1].read_text()
    assert "**TEARDOWN INCOMPLETE — resources may still be billing: `network volume vol-1`.**" in markdown
    assert "`v4infra cleanup flash-4xh200 --yes`" in markdown


def test_two_runs_in_the_same_second_get_their_own_folders(tmp_path: Path) -> None:
    first = write_report(report(), tmp_path)[0]
    second = write_report(report(), tmp_path)[0]
    assert first.parent != second.parent
    assert second.parent.name == "20260301T100000Z-2"


def test_stack_names_cannot_escape_the_reports_folder(tmp_path: Path) -> None:
    run = ValidationReport("../../etc", {}, [], "2026-03-01T10:00:00Z", "2026-03-01T10:00:01Z")
    json_path, _ = write_report(run, tmp_path / "reports")
    assert json_path.resolve().is_relative_to((tmp_path / "reports").resolve())


def test_redactor_masks_values_and_token_shapes() -> None:
    private_key, _ = generate_keypair()
    redactor = Redactor(["s3cret-value", "  "])
    text = redactor.text(
        f"key=s3cret-value hf_abcdefghijkl Authorization: Bearer abc.def rpa_ABCDEFGHIJKLMNOPQRST\n{private_key}"
    )
    assert text == "key=*** *** Authorization: Bearer *** ***\n***\n"
    assert redactor.data({"s3cret-value": ["s3cret-value", 3, None]}) == {"***": ["***", 3, None]}
