"""A passing canary record, as `v4infra canary` leaves it, for tests whose subject is not the canary.

`up` and `validate` run the canary first unless one passed on the account within the window; the
tests that drive them against the emulator start from a recent pass, as a user's second run would.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from infra.targets.runpod import canary


def seed_passing_canary(state_dir: Path, api_key: str) -> Path:
    checks = [canary.Check(a.key, True, "seeded by the test") for a in canary.ASSUMPTIONS]
    report = canary.CanaryReport(
        account=canary.account_id(api_key),
        api_version="v2",
        project_version=canary.project_version(),
        at=datetime.now(UTC).isoformat(timespec="seconds"),
        checks=checks,
    )
    return canary.write_record(state_dir, api_key, report)
