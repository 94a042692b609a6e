"""Where the repository and the shared fixtures live; shared/ sits beside the repository in CI too."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
H200_FIXTURES = SHARED / "fixtures" / "gpu" / "h200"
