"""Instant Clusters on the account: one data center for every member, all or nothing, rank-aware env."""

from __future__ import annotations

from pathlib import Path

import pytest
from sdk_pods import H200, IMAGE
from stopped_clock import StoppedClock

from infra.emulator.account import Account
from infra.emulator.clusters import cluster_pods, create_cluster, delete_cluster, member_env
from infra.emulator.errors import NoCapacity
from infra.emulator.faults import Faults, Timing
from infra.emulator.resources import Cluster, PodRequest


def account_with(tmp_path: Path, stock: dict[str, dict[str, int]]) -> Account:
    account = Account(StoppedClock(), Timing(), Faults(), tmp_path)
    account.set_stock(stock)
    return account


def two_nodes(account: Account) -> Cluster:
    template = PodRequest(name="c", image_name=IMAGE, env={"A": "1"})
    return create_cluster(account, "c", "TRAINING", H200, 8, 2, template, [])


def test_every_member_lands_in_the_one_data_center_with_room_for_all(tmp_path: Path) -> None:
    # EU-RO-1 has room for one node only; EUR-IS-1 for both, so both go there.
    account = account_with(tmp_path, {"EU-RO-1": {H200: 8}, "EUR-IS-1": {H200: 16}})
    made = two_nodes(account)
    members = cluster_pods(account, made.id)
    assert [(p.name, p.data_center_id, p.cluster_rank) for p in members] == [
        ("c-node-0", "EUR-IS-1", 0),
        ("c-node-1", "EUR-IS-1", 1),
    ]
    assert account.stock == {**account.stock, "EU-RO-1": {H200: 8}, "EUR-IS-1": {H200: 0}}


def test_a_cluster_that_does_not_fit_leaves_nothing_billed(tmp_path: Path) -> None:
    account = account_with(tmp_path, {"EU-RO-1": {H200: 8}, "EUR-IS-1": {H200: 8}})
    with pytest.raises(NoCapacity):
        two_nodes(account)
    assert account.pods == {} and account.clusters == {}
    assert account.stock["EU-RO-1"][H200] == 8 and account.stock["EUR-IS-1"][H200] == 8


def test_members_learn_their_rank_and_the_primary_and_deleting_terminates_them(tmp_path: Path) -> None:
    account = account_with(tmp_path, {"EU-RO-1": {H200: 16}})
    made = two_nodes(account)
    primary, worker = cluster_pods(account, made.id)
    env = member_env(account, made, worker)
    assert env["NODE_RANK"] == "1" and env["NUM_NODES"] == "2" and env["WORLD_SIZE"] == "16"
    assert env["NODE_ADDR"] == "10.65.0.3" and env["MASTER_ADDR"] == env["PRIMARY_ADDR"] == "10.65.0.2"
    assert env["RUNPOD_PRIMARY_POD_ID"] == primary.id
    delete_cluster(account, made.id)
    assert account.pods == {} and account.clusters == {} and account.stock["EU-RO-1"][H200] == 16
