"""Network volumes on the emulated account: created in one data center, grown, renamed, deleted when unused.

A volume bills per GB-month from creation until deletion (`catalog.volume_usd_per_second`); its
files live in a directory of the emulator's state, which pods that mount it see.
"""

from __future__ import annotations

import shutil

from infra.emulator import catalog
from infra.emulator.account import Account
from infra.emulator.errors import Conflict, Invalid, NotFound
from infra.emulator.resources import Volume, new_id


def create_volume(
    account: Account, name: str, size: int, data_center_id: str, volume_type: str | None = None
) -> Volume:
    with account.lock:
        dc = catalog.DATA_CENTERS.get(data_center_id)
        if dc is None:
            raise Invalid(
                f"invalid data center id {data_center_id!r}; known: {', '.join(catalog.DATA_CENTERS)}"
            )
        if not dc.volume_types:
            raise Invalid(f"data center {dc.id} offers no network volumes")
        chosen = volume_type or dc.volume_types[0]
        if chosen not in dc.volume_types:
            raise Invalid(
                f"data center {dc.id} does not offer {chosen} network volumes; "
                f"it offers {', '.join(dc.volume_types)}"
            )
        _check_size(size)
        volume_id = new_id(10)
        directory = account.state_dir / "volumes" / volume_id
        directory.mkdir(parents=True, exist_ok=True)
        now = account.clock.now()
        volume = Volume(volume_id, name, size, data_center_id, directory, now, chosen, billed_until=now)
        account.volumes[volume_id] = volume
        account.save_volumes()
        return volume


def get_volume(account: Account, volume_id: str) -> Volume:
    with account.lock:
        volume = account.volumes.get(volume_id)
        if volume is None:
            raise NotFound("network volume", volume_id)
        return volume


def update_volume(account: Account, volume_id: str, name: str | None, size: int | None) -> Volume:
    with account.lock:
        volume = get_volume(account, volume_id)
        if size is not None:
            _check_size(size)
            if size < volume.size:
                raise Invalid(f"network volume size can only grow: {volume.size} GB -> {size} GB")
            volume.accrue(account.clock.now())
            volume.size = size
        if name is not None:
            volume.name = name
        account.save_volumes()
        return volume


def delete_volume(account: Account, volume_id: str) -> None:
    with account.lock:
        volume = get_volume(account, volume_id)
        users = sorted(pod.id for pod in account.pods.values() if pod.request.network_volume_id == volume_id)
        if users:
            raise Conflict(
                f"network volume {volume_id} is attached to pod(s) {', '.join(users)}; terminate them first"
            )
        volume.accrue(account.clock.now())
        del account.volumes[volume_id]
        account.volume_history.append(volume)
        account.save_volumes()
    shutil.rmtree(volume.directory, ignore_errors=True)


def _check_size(size: int) -> None:
    if not 1 <= size <= catalog.MAX_VOLUME_GB:
        raise Invalid(f"size must be between 1 and {catalog.MAX_VOLUME_GB} GB, got {size}")
