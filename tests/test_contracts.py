"""RunPod's OpenAPI v2 schema, as vendored, is RunPod's file and judges what it should."""

from __future__ import annotations

from paths import REPO_ROOT, SHARED

from infra import contracts

VENDORED = REPO_ROOT / "infra" / "contracts" / contracts.RUNPOD_V2_FILE


def test_vendored_schema_is_identical_to_shared() -> None:
    assert contracts.runpod_v2()["info"]["title"] == "Runpod REST API"
    source = SHARED / "reference" / contracts.RUNPOD_V2_FILE
    if source.is_file():  # beside the repo in CI and on the developers' machines
        assert VENDORED.read_bytes() == source.read_bytes(), "infra/contracts differs from shared/reference"


def test_a_misspelt_create_field_is_named() -> None:
    body = {
        "name": "p",
        "image": "busybox",
        "gpu": {"id": "NVIDIA H200", "count": 1},
        "dataCenterId": "US-TX-3",
    }
    errors = contracts.request_errors("POST", "/v2/pods", body)
    assert errors and any("dataCenterId" in line for line in errors)
    del body["dataCenterId"]
    assert contracts.request_errors("POST", "/v2/pods", body) == []


def test_wrong_enum_and_wrong_list_shape_are_refused() -> None:
    assert contracts.request_errors("POST", "/v2/pods/abc/action", {"action": "resume"})
    assert contracts.request_errors("POST", "/v2/pods/abc/action", {"action": "terminate"}) == []
    assert contracts.response_errors("GET", "/v2/pods", 200, [{"id": "x"}])
    assert contracts.response_errors("GET", "/v2/pods", 200, {"pods": []}) == []


def test_problem_answers_follow_rfc_9457() -> None:
    problem = {"title": "Not Found", "status": 404, "detail": "pod not found"}
    assert contracts.response_errors("GET", "/v2/pods/abc", 404, problem) == []
    assert contracts.response_errors("GET", "/v2/pods/abc", 404, {"error": "pod not found"})
