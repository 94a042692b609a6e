"""REST v2's billing history: `GET /v2/billing/pods`, `/v2/billing/network-volumes`, `/v2/billing/clusters`.

Shaped as RunPod's OpenAPI v2 file defines them (ListPodBillingResponse and its siblings): records per
resource per time bucket over a window (`startTime`/`endTime` snapped to `bucketSize`, default the last 30
days, or `lastN` buckets ending with the current one), and metadata echoing the resolved query with totals.
The emulator keeps one running total per pod and volume, billed in simulated time; a record's amount is
that total spread evenly over the time the resource was billed, the part that falls in its bucket. It
bills no pod disk and no cluster networking, so those components are 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from infra.emulator import catalog
from infra.emulator.account import Account
from infra.emulator.errors import Invalid
from infra.emulator.rest_v2_http import Answer, Call

BUCKETS = ("hour", "day", "week", "month", "year")
DEFAULT_DAYS = 30


def _floor(t: datetime, size: str) -> datetime:
    if size == "hour":
        return t.replace(minute=0, second=0, microsecond=0)
    day = t.replace(hour=0, minute=0, second=0, microsecond=0)
    if size == "day":
        return day
    if size == "week":
        return day - timedelta(days=day.weekday())
    if size == "month":
        return day.replace(day=1)
    return day.replace(month=1, day=1)


def _next(t: datetime, size: str) -> datetime:
    if size in ("hour", "day", "week"):
        return t + {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}[size]
    if size == "month":
        return t.replace(year=t.year + t.month // 12, month=t.month % 12 + 1)
    return t.replace(year=t.year + 1)


def _instant(text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(f"not an RFC 3339 date-time: {text!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def window(call: Call, now: datetime) -> tuple[datetime, datetime, str]:
    """The resolved [start, end) and bucket size, as BillingStartTime / EndTime / LastN describe them."""
    q = call.query
    size = str(q.get("bucketSize") or "day")
    if size not in BUCKETS:
        raise Invalid(f"bucketSize must be one of {', '.join(BUCKETS)}")
    if "lastN" in q and ("startTime" in q or "endTime" in q):
        raise Invalid("lastN is mutually exclusive with startTime/endTime")
    if "lastN" in q:
        end = _next(_floor(now, size), size)
        start = _floor(now, size)
        for _ in range(int(q["lastN"]) - 1):
            start = _floor(start - timedelta(seconds=1), size)
        return start, end, size
    start = _floor(_instant(q["startTime"]) if "startTime" in q else now - timedelta(days=DEFAULT_DAYS), size)
    end_at = _instant(q["endTime"]) if "endTime" in q else now
    floor = _floor(end_at, size)
    end = end_at if floor == end_at else _next(floor, size)
    if end <= start:
        raise Invalid("endTime must be after startTime")
    return start, end, size


def _buckets(start: datetime, end: datetime, size: str) -> Iterable[tuple[datetime, datetime]]:
    t = start
    while t < end:
        yield t, min(_next(t, size), end)
        t = _next(t, size)


def _share(total: float, billed: tuple[datetime, datetime], bucket: tuple[datetime, datetime]) -> float:
    """The part of `total` that falls in `bucket`, billed evenly over `billed`."""
    span = (billed[1] - billed[0]).total_seconds()
    overlap = (min(billed[1], bucket[1]) - max(billed[0], bucket[0])).total_seconds()
    if overlap <= 0:
        return 0.0
    return total if span <= 0 else total * overlap / span


def _stamp(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


Amounts = Callable[[float], dict[str, float]]


@dataclass(frozen=True)
class Billed:
    """One resource's bill: its id, its total so far, when it was billed, and how an amount splits."""

    rid: str
    usd: float
    start: datetime
    end: datetime
    amounts: Amounts


def _records(call: Call, items: list[Billed], keys: Amounts, id_field: str, unique_field: str) -> Answer:
    state: Account = call.state
    start, end, size = window(call, state.clock.wall(state.clock.now()))
    wanted = call.query.get(id_field)
    records: list[dict[str, Any]] = []
    totals = dict.fromkeys(keys(0.0), 0.0)
    seen: set[str] = set()
    for item in items:
        if wanted and item.rid != wanted:
            continue
        for bucket in _buckets(start, end, size):
            part = _share(item.usd, (item.start, item.end), bucket)
            if part <= 0:
                continue
            amount = {k: round(v, 6) for k, v in item.amounts(part).items()}
            records.append(
                {"startTime": _stamp(bucket[0]), "endTime": _stamp(bucket[1]), id_field: item.rid, **amount}
            )
            seen.add(item.rid)
            for k, v in amount.items():
                totals[k] = round(totals[k] + v, 6)
    query = {"startTime": _stamp(start), "endTime": _stamp(end), "bucketSize": size, id_field: wanted}
    metadata = {"query": query, "recordCount": len(records), unique_field: len(seen), "totals": totals}
    return Answer(200, {"records": records, "metadata": metadata})


def _pod_amounts(gpu: bool) -> Amounts:
    return lambda usd: {
        "totalAmount": usd,
        "gpuAmount": usd if gpu else 0.0,
        "cpuAmount": 0.0 if gpu else usd,
        "diskAmount": 0.0,
    }


def _volume_amounts(high: bool) -> Amounts:
    return lambda usd: {
        "totalAmount": usd,
        "standardAmount": 0.0 if high else usd,
        "highPerformanceAmount": usd if high else 0.0,
    }


def _cluster_amounts(usd: float) -> dict[str, float]:
    return {"totalAmount": usd, "gpuAmount": usd, "diskAmount": 0.0, "networkingAmount": 0.0}


def list_pod_billing(call: Call) -> Answer:
    state = call.state
    with state.lock:
        now = state.accrue_all()
        wall = state.clock.wall
        items = [
            Billed(
                p.id, p.usd, wall(p.created_at), wall(p.terminated_at or now), _pod_amounts(p.kind == "gpu")
            )
            for p in [*state.history, *state.pods.values()]
            if p.cluster_id is None
        ]
    return _records(call, items, _pod_amounts(True), "podId", "uniquePodCount")


def list_volume_billing(call: Call) -> Answer:
    state = call.state
    with state.lock:
        now = state.accrue_all()
        wall = state.clock.wall
        items = [
            Billed(
                v.id,
                v.billed_usd,
                wall(v.created_at),
                wall(v.billed_until or now),
                _volume_amounts(v.volume_type == catalog.HIGH_PERFORMANCE),
            )
            for v in [*state.volume_history, *state.volumes.values()]
        ]
    return _records(call, items, _volume_amounts(False), "networkVolumeId", "uniqueNetworkVolumeCount")


def list_cluster_billing(call: Call) -> Answer:
    state = call.state
    with state.lock:
        now = state.accrue_all()
        totals: dict[str, tuple[float, float, float]] = {}
        for pod in [*state.history, *state.pods.values()]:
            if pod.cluster_id is None:
                continue
            usd, first, last = totals.get(pod.cluster_id, (0.0, pod.created_at, pod.created_at))
            totals[pod.cluster_id] = (
                usd + pod.usd,
                min(first, pod.created_at),
                max(last, pod.terminated_at or now),
            )
        wall = state.clock.wall
        items = [Billed(c, usd, wall(a), wall(b), _cluster_amounts) for c, (usd, a, b) in totals.items()]
    return _records(call, items, _cluster_amounts, "clusterId", "uniqueClusterCount")
