"""The store on a real Redis Cluster of three masters (tests/cluster.py), with two campaigns whose
hash tags live on different masters: every Lua script runs there (one slot each, no CROSSSLOT),
each campaign's keys sit in its slot, the migration moves keys across slots, a campaign's backup
and restore leave the other alone, and an RQ worker refuses to start on a cluster.

The rest of tests/store/ runs on such a cluster with DUBAN_TEST_REDIS_CLUSTER=1 (conftest.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from importlib import resources
from pathlib import Path

import pytest
import redis

from bot import backup
from bot.config import Settings
from bot.messages import Notice
from bot.records import Begin, Finish, Finished
from bot.runtime import build_runtime
from bot.store import RedisStore, StateError
from bot.store.migration import Migration
from tests.store.conftest import CLUSTER, Chat
from tests.store.test_layout import FIXTURE, _comparable, scenario, snapshot, tagged
from tests.store.test_migration import reads, write_old_layout

ROOT = Path(__file__).resolve().parents[2]
ALL_SCRIPTS = {
    p.name.removesuffix(".lua")
    for p in resources.files("bot.store").joinpath("lua").iterdir()
    if p.name.endswith(".lua") and p.name != "shared.lua"
}


@pytest.fixture
def cluster(local_cluster):
    client = local_cluster.client()
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def _runtime(local_cluster, campaign: str, clock):
    settings = Settings(
        redis_url=local_cluster.url, key_prefix="t", demo=True, redis_cluster=True,
        campaign=campaign,
    )  # fmt: skip
    return build_runtime(settings, clock=clock, client=local_cluster.client())


def _the_rest_of_the_scripts(s: RedisStore) -> None:
    """The scripts the chat scenario does not reach, called the way their callers call them."""
    s.delivery.push_begin("push-9", 0, "robot-9", "tok", 5000, 20, 60000, 3600)
    # a reply's first part is not claimed with its finish here: its keys are in other slots
    begin = Begin(s.delivery.begin_keys("push-8", 0, "robot-8"), "tok", 5000, 20, 60000, 3600)
    assert s.inbox.claim("dingtalk", "m-fin") == (True, "")
    assert s.inbox.finish(Finish("dingtalk", "m-fin", "好", begin=begin)) == Finished(False)
    s.delivery.reset_parts("push-9", [0, 1])
    s.delivery.claim_expired(2e9, 60, 10)
    s.delivery.drop_token("wecom", "secret-token")
    s.bindings.take_folds(10)
    s.links.dead(["https://www.jinfeng.gov.cn/a.html", "https://a.cn/x"])
    s.health.waiting_ages("g")
    s.reminders.release(["司法局"], s.now_iso())
    assert s.inbox.claim("dingtalk", "m-free") == (True, "")
    assert s.inbox.release_claim("dingtalk", "m-free")
    s.inspections.set_mark("司法局", 12, "", {"ok": True}, "boss", "")
    s.scheduler.release_lock("sched", "tok-1")
    assert s.assignments.statuses() == s.assignments.statuses()  # whole, then by the log


def test_two_campaigns_on_two_masters_run_every_script_in_their_own_slot(
    local_cluster, cluster, cluster_campaigns, clock
):
    c1, c2 = cluster_campaigns
    node = {c: cluster.get_node_from_key(f"t:{{{c}}}:dept:司法局").name for c in (c1, c2)}
    assert node[c1] != node[c2]
    used: set[str] = set()
    for campaign in (c1, c2):
        rt = _runtime(local_cluster, campaign, clock)
        scenario(rt, lambda user, name="", admin=False, rt=rt: Chat(rt, user, name, admin))
        _the_rest_of_the_scripts(rt.store)
        used |= set(rt.store.scripts._registered)
        rt.redis.close()
    assert used == ALL_SCRIPTS, ALL_SCRIPTS - used

    # one campaign, one slot: every key of a campaign is on its master, and the two are apart
    names = [k.decode() for k in cluster.scan_iter(match="t:*")]
    for campaign in (c1, c2):
        mine = [k for k in names if k.startswith(f"t:{{{campaign}}}:")]
        assert len(mine) > 100
        assert {cluster.keyslot(k) for k in mine} == {cluster.keyslot(mine[0])}
        assert {cluster.get_node_from_key(k).name for k in mine} == {node[campaign]}
    deployment = [k for k in names if k.startswith("t:{_}:")]
    assert len({cluster.keyslot(k) for k in deployment}) == 1
    # each campaign reads its own state, the same scenario giving the same reads
    one = RedisStore(cluster, "t", clock, campaign=c1)
    two = RedisStore(cluster, "t", clock, campaign=c2)
    assert one.assignments.of_department("司法局") == two.assignments.of_department("司法局")
    assert one.audit.length() == two.audit.length() > 10
    one.outbox.add_once([("only-one", Notice("只在一个活动", "司法局", (), "remind"))])
    assert one.outbox.latest(1)[0][1].text == "只在一个活动"
    assert two.outbox.latest(1)[0][1].text != "只在一个活动"


@pytest.mark.skipif(CLUSTER, reason="compares with one Redis: the session's is the cluster here")
def test_the_migration_moves_keys_across_slots_on_a_cluster(cluster, redis_client, clock):
    old_layout = json.loads(FIXTURE.read_text(encoding="utf-8"))
    write_old_layout(cluster, old_layout)  # one command a key: the old keys span the slots
    # the old layout's scripts span slots: what it reads is read on one Redis
    write_old_layout(redis_client, old_layout)
    before = reads(RedisStore(redis_client, "t", clock, campaign=None))
    migration = Migration(cluster, "t", "default")
    assert migration.cluster
    result = migration.run()
    assert result.moved == len(old_layout) and not result.conflicts
    assert _comparable(snapshot(cluster, "t", {})) == _comparable(tagged(old_layout))
    after = reads(RedisStore(cluster, "t", clock, campaign="default"))
    for got in (before, after):  # two servers: their own stream ids, the same entries
        got["cooldowns"] = {d: r // 60 for d, r in got["cooldowns"].items()}
        got["audit"] = [replace(e, id="") for e in got["audit"]]
        got["outbox"] = [entry[1:] for entry in got["outbox"]]
    assert after == before
    assert migration.run().moved == 0


def test_a_campaign_is_backed_up_and_restored_alone_on_a_cluster(
    local_cluster, cluster, cluster_campaigns, clock, tmp_path
):
    c1, c2 = cluster_campaigns
    stores = {}
    for campaign in (c1, c2):
        rt = _runtime(local_cluster, campaign, clock)
        chat = Chat(rt, "u-sfj", "张三")
        assert "已绑定" in chat("绑定 司法局")
        assert "已收到第12项" in chat("提交 12 https://www.nxjf.gov.cn/a.html 制度文件")
        stores[campaign] = rt.store
    path = tmp_path / "c1.jsonl.gz"
    count = backup.write_backup(stores[c1], path, clock(), campaign=c1)
    before = snapshot(cluster, "t", {})
    with pytest.raises(StateError):
        backup.restore_backup(stores[c1], path)
    Chat(_runtime(local_cluster, c1, clock), "u-sfj", "张三")("完成 12")
    Chat(_runtime(local_cluster, c2, clock), "u-sfj", "张三")("说明 12 第二个活动")
    others = {k: v for k, v in snapshot(cluster, "t", {}).items() if f"{{{c1}}}" not in k}
    assert backup.restore_backup(stores[c1], path, replace=True) == count
    after = snapshot(cluster, "t", {})
    # the campaign's keys as backed up: all but the statuses' change log, which goes
    assert _comparable({k: v for k, v in after.items() if f"{{{c1}}}" in k}) == _comparable(
        {k: v for k, v in before.items() if f"{{{c1}}}" in k and not k.endswith(":statuslog")}
    )
    assert _comparable({k: v for k, v in after.items() if f"{{{c1}}}" not in k}) == _comparable(
        others
    )
    assert stores[c1].assignments.get(12, "司法局")[0].status.value == "in_progress"
    assert stores[c2].assignments.get(12, "司法局")[0].explanation == "第二个活动"


def test_an_rq_worker_refuses_to_start_on_a_cluster(local_cluster, cluster):
    from rq import Queue, SimpleWorker

    with pytest.raises(AttributeError):  # why: RQ's worker wants one connection pool
        SimpleWorker([Queue("t", connection=cluster)], connection=cluster)
    env = {**os.environ, "DUBAN_REDIS_URL": local_cluster.url, "DUBAN_REDIS_CLUSTER": "1"}
    out = subprocess.run(
        [sys.executable, "-m", "bot.worker", "--burst"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "不能在 Redis Cluster 上运行" in out.stderr


def test_a_cluster_client_comes_from_the_settings(local_cluster):
    from bot.store.connection import connect_redis

    client, embedded = connect_redis(
        Settings(redis_url=local_cluster.url, redis_cluster=True), socket_connect_timeout=1
    )
    assert isinstance(client, redis.RedisCluster) and embedded is None
    assert len(client.get_primaries()) == 3
    client.close()


def test_a_cluster_needs_the_url_of_a_node_and_no_sentinels():
    assert any("DUBAN_REDIS_CLUSTER" in p for p in Settings(redis_cluster=True).problems())
    with_sentinels = Settings(
        redis_cluster=True, redis_url="redis://h:1/0", redis_sentinels=("h:2",)
    )
    assert any("DUBAN_REDIS_CLUSTER" in p for p in with_sentinels.problems())
    assert not any(
        "CLUSTER" in p for p in Settings(redis_cluster=True, redis_url="redis://h:1/0").problems()
    )
