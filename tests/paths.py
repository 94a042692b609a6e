"""Where the repository and its test inputs live.

The H200 captures are vendored from shared/fixtures/gpu/h200 so a clone tests on its own;
tests/test_fixtures.py keeps the copy byte-identical to shared/ wherever shared/ sits beside the repo (CI).
"""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
H200_FIXTURES = REPO_ROOT / "tests" / "fixtures" / "gpu" / "h200"
