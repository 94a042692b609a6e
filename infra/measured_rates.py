"""Read rates measured by `infra/read_rate_probe.py`, and the file of them a stack may name.

The probe prints one JSON line per run. Those lines, kept one per line in a file (`measuredRates`), are
the measurements a plan may use: only one from the same data center and volume tier counts. A file that
cannot be read, or that holds only other data centers' measurements, is a user mistake (ConfigError,
before anything is rented). A measurement that failed is not: the plan uses the published rate and says
the measurement failed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.errors import ConfigError
from infra.read_rates import MEASURED, Rate, Storage, volume_rate

KEY = "measuredRates"
PROBE = "v4infra-read-rate"  # infra/read_rate_probe.py PROBE


@dataclass(frozen=True)
class Measurement:
    """One probe run: where, when, how, and the rate at each reader count (none if it failed)."""

    data_center: str
    tier: str
    storage: str
    measured_at: str
    fs_type: str | None
    method: str
    rate: Rate
    error: str | None

    @property
    def usable(self) -> bool:
        return self.error is None and self.rate.known


def from_record(record: dict[str, Any]) -> Measurement:
    """A probe's JSON object as a Measurement; ValueError names the field that is wrong."""
    if record.get("probe") != PROBE:
        raise ValueError(f"not a {PROBE} record (probe={record.get('probe')!r})")
    for field in ("data_center", "tier", "measured_at"):
        if not isinstance(record.get(field), str) or not record[field]:
            raise ValueError(f"field '{field}' is missing or empty")
    points: list[tuple[int, float]] = []
    for level in record.get("levels") or []:
        readers, bps = int(level["readers"]), float(level["bytes_per_s"])
        if readers < 1 or bps <= 0:
            raise ValueError(f"level {level!r} has no readers or no bytes per second")
        points.append((readers, bps))
    error = record.get("error")
    method = str(record.get("method") or "")
    where = f"{record['data_center']} {record['tier']} {record.get('storage', '')}".strip()
    rate = Rate(
        points=tuple(sorted(points)),
        basis=MEASURED,
        source=f"read-rate probe, {where}, {method or 'no reads'}",
        method=f"{len(points)} reader counts" if points else "no reads",
        dated=str(record["measured_at"])[:10],
    )
    return Measurement(
        data_center=str(record["data_center"]),
        tier=str(record["tier"]),
        storage=str(record.get("storage") or ""),
        measured_at=str(record["measured_at"]),
        fs_type=record.get("fs_type"),
        method=method,
        rate=rate,
        error=str(error) if error else (None if points else "no level was read"),
    )


def from_probe_output(text: str, data_center: str, tier: str) -> Measurement:
    """What a probe run printed, never raising: anything but a good record becomes a failed measurement."""
    line = next((ln for ln in reversed(text.strip().splitlines()) if ln.startswith("{")), "")
    try:
        return from_record(json.loads(line))
    except (ValueError, KeyError, TypeError) as err:
        shown = (text.strip().splitlines() or ["nothing"])[-1][:120]
        return Measurement(
            data_center=data_center,
            tier=tier,
            storage="",
            measured_at="",
            fs_type=None,
            method="",
            rate=Rate((), MEASURED, "read-rate probe", "no reads"),
            error=f"the probe printed no usable result ({err}; last line: {shown})",
        )


def load_file(path: str | Path, *, data_center: str, tier: str) -> Measurement:
    """The newest measurement in `path` for this data center and tier; ConfigError for a bad file."""
    return max((m for _, m in _matching(path, (data_center,), tier)), key=lambda m: m.measured_at)


def stack_lines(path: str | Path, *, data_centers: Sequence[str], tier: str) -> tuple[str, ...]:
    """The probe lines in `path` a stack may plan with: measured in one of its data centers (any, when it
    names none) on its tier (`auto`: any); ConfigError for a file that cannot be used."""
    return tuple(line for line, _ in _matching(path, tuple(data_centers), tier))


def _matching(path: str | Path, data_centers: tuple[str, ...], tier: str) -> list[tuple[str, Measurement]]:
    where = f"{KEY} '{path}'"
    dcs = ", ".join(data_centers) or "any data center"
    on = "any tier of" if tier == "auto" else f"a {tier}"
    valid = f"valid: a file of {PROBE} lines measured in {dcs} on {on} volume"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError, ValueError) as err:  # ValueError: a NUL byte in the path
        reason = getattr(err, "strerror", None) or type(err).__name__
        raise ConfigError(f"{where} cannot be read ({reason}); {valid}") from None
    records: list[tuple[str, Measurement]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append((line, from_record(json.loads(line))))
        except (ValueError, KeyError, TypeError) as err:
            raise ConfigError(f"{where} line {number} is not a probe record ({err}); {valid}") from None
    if not records:
        raise ConfigError(f"{where} holds no measurement; {valid}")
    here = [r for r in records if not data_centers or r[1].data_center in data_centers]
    if not here:
        others = ", ".join(sorted({m.data_center for _, m in records}))
        raise ConfigError(
            f"{where} was measured in {others}, not in {dcs}; {valid} (or drop {KEY} to plan "
            "with the published rate)"
        )
    same_tier = [r for r in here if tier == "auto" or r[1].tier == tier]
    if not same_tier:
        tiers = ", ".join(sorted({m.tier for _, m in here}))
        raise ConfigError(f"{where} measured {tiers} volumes in {dcs}, not {tier}; {valid}")
    return same_tier


def planning_rate(store: Storage, measurement: Measurement | None) -> tuple[Rate, str]:
    """The rate the start model uses: the measurement when it worked, else the published figure."""
    if measurement is None:
        return volume_rate(store, None)
    if measurement.usable:
        return volume_rate(store, measurement.rate)
    return volume_rate(store, None, failure=measurement.error)
