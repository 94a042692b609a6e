"""The vendored H200 captures are the ones in shared/ (real nvidia-smi output, not edited)."""

from __future__ import annotations

from paths import H200_FIXTURES, SHARED

CAPTURES = {
    "nvidia-smi.txt",
    "nvidia-smi-L.txt",
    "nvidia-smi-q.xml",
    "query-gpu.csv",
    "query-gpu-noheader.csv",
}


def test_vendored_captures_are_complete_and_identical_to_shared() -> None:
    vendored = {path.name: path.read_bytes() for path in H200_FIXTURES.iterdir()}
    assert set(vendored) >= CAPTURES
    source = SHARED / "fixtures" / "gpu" / "h200"
    if source.is_dir():  # beside the repo in CI and on the developers' machines
        for path in source.iterdir():
            assert vendored.get(path.name) == path.read_bytes(), f"{path.name} differs from shared/"
