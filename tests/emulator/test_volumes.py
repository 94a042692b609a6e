"""Network volumes: created in one data center, grown, mounted by pods there, deleted when unused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import runpod
from recording_runtime import RecordingRuntime
from runpod.error import QueryError
from sdk_pods import VOLUMES, h200_pod, running_runtime, volume_body
from v2_client import V2

from infra.emulator import Emulator


def test_volume_crud_and_data_center_constraint(emulator: Emulator, runtimes: list[RecordingRuntime]) -> None:
    with V2(emulator) as v2:
        bad = v2.post(VOLUMES, volume_body("w", 100, "MARS-1"))
        assert bad.status_code == 400 and "MARS-1" in bad.json()["detail"]
        assert emulator.inventory()["volumes"] == []

        created = v2.post(VOLUMES, volume_body("weights", 100, "US-TX-3"))
        assert created.status_code == 201
        volume = created.json()
        assert volume == {
            "id": volume["id"], "name": "weights", "size": 100, "dataCenter": "US-TX-3", "type": "STANDARD",
        }  # fmt: skip
        path = f"{VOLUMES}/{volume['id']}"
        assert v2.get(VOLUMES).json() == {"networkVolumes": [volume]}
        assert v2.get(path).json() == volume
        assert v2.patch(path, {"size": 50}).status_code == 400  # volumes only grow
        assert v2.patch(path, {"size": 200}).json()["size"] == 200
        directory = Path(emulator.state_dir) / "volumes" / volume["id"]
        assert directory.is_dir()

        with pytest.raises(QueryError, match="US-TX-3"):
            h200_pod(network_volume_id=volume["id"], data_center_id="EU-RO-1")
        with pytest.raises(QueryError, match="Secure Cloud"):
            h200_pod(network_volume_id=volume["id"], data_center_id=None, cloud_type="COMMUNITY")
        # Without a data center the SDK looks the volume up (myself.networkVolumes) and uses its one.
        pod_id = h200_pod(network_volume_id=volume["id"], data_center_id=None)["id"]
        assert emulator.inventory()["pods"][0]["dataCenterId"] == "US-TX-3"
        running_runtime(pod_id)
        assert runtimes[0].launch.volume_dir == directory
        assert runtimes[0].launch.volume_mount_path == "/workspace"

        in_use = v2.delete(path)
        assert in_use.status_code == 409 and pod_id in in_use.json()["detail"]
        runpod.terminate_pod(pod_id)
        assert v2.delete(path).status_code == 204
        assert v2.get(path).status_code == 404
        assert not directory.exists()


def test_volumes_survive_a_restart_with_a_state_dir(
    make_emulator: Callable[..., Emulator], tmp_path: Path
) -> None:
    first = make_emulator(state_dir=tmp_path)
    with V2(first) as v2:
        volume = v2.post(VOLUMES, volume_body("hf", 10, "EU-SE-1")).json()
    (tmp_path / "volumes" / volume["id"] / "weights.bin").write_bytes(b"w")
    first.stop()
    second = make_emulator(state_dir=tmp_path)
    with V2(second) as v2:
        assert v2.get(VOLUMES).json() == {"networkVolumes": [volume]}
    assert (tmp_path / "volumes" / volume["id"] / "weights.bin").read_bytes() == b"w"
