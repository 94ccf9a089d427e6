"""Several campaigns in one deployment, on the real Redis: one runtime view per campaign, each
message acting in its campaign only, the one-to-one question and 切换, an archived campaign's
refusals, a group that belongs to no campaign."""

from __future__ import annotations

import itertools
import shutil

import pytest
import redis

from bot import texts
from bot.campaigns import NO_CAMPAIGN
from bot.config import ROOT, Settings
from bot.messages import Incoming
from bot.records import Binding
from bot.runtime import build_runtime
from tests.store.conftest import CLUSTER

# a whole runtime (its RQ queue, the sandbox's personas) needs one Redis: RQ cannot run on a
# cluster (bot/worker.py refuses one); the campaigns' keys on a cluster: tests/store/test_cluster.py
pytestmark = pytest.mark.skipif(CLUSTER, reason="a whole runtime: RQ needs one Redis")

DEMO = ROOT / "demo" / "campaigns"
XIXIA = "xixia-2020"
_ids = itertools.count(1)


@pytest.fixture
def campaigns_dir(tmp_path):
    root = tmp_path / "campaigns"
    shutil.copytree(DEMO, root)
    return root


def runtime(redis_url, clock, campaigns_dir):
    s = Settings(redis_url=redis_url, key_prefix="t", demo=True, campaigns_dir=str(campaigns_dir))
    return build_runtime(s, clock=clock, client=redis.Redis.from_url(redis_url))


@pytest.fixture
def rt(redis_url, redis_client, clock, campaigns_dir):
    r = runtime(redis_url, clock, campaigns_dir)
    yield r
    r.redis.close()


def say(rt, user: str, text: str, chat: str = "", platform: str = "sandbox") -> str:
    msg = Incoming(
        platform=platform, user_id=user, text=text, chat_id=chat, is_group=bool(chat),
        mentioned=True, message_id=f"c{next(_ids)}",
    )  # fmt: skip
    reply = rt.dispatcher.handle(msg)
    return "" if reply.silent else reply.text


def test_each_campaign_is_a_view_of_its_own_with_the_shared_parts(rt):
    assert rt.campaign_id == "default" and rt.campaign_ids() == ["default", XIXIA]
    x = rt.for_campaign(XIXIA)
    assert rt.for_campaign("nope") is None
    assert x.for_campaign("default") is rt and x.for_campaign(XIXIA) is x
    assert x.redis is rt.redis and x.delivery is rt.delivery and x.settings is rt.settings
    assert x.catalog.campaign.name == "2020年西夏区法治政府建设示范创建（演示）"
    assert "西夏区人民法院" in x.org.departments and "西夏区人民法院" not in rt.org.departments
    assert x.store.keys.dept("司法局") == "t:{xixia-2020}:dept:司法局"
    assert rt.store.keys.dept("司法局") == "t:{default}:dept:司法局"  # the default too
    assert x.services.campaign == XIXIA and x.services.assignments is x.assignments
    assert not x.is_archived and rt.active_campaign_ids() == ["default", XIXIA]


def test_a_persons_commands_act_in_the_campaign_they_are_bound_in(rt):
    x = rt.for_campaign(XIXIA)
    # 赵六 is Xixia's liaison of 司法局 (its org.yaml); 张三 the default campaign's
    reply = say(rt, "zhaoliu", "说明 12 西夏区的说明")
    assert "已保存" in reply or "说明" in reply
    assert x.store.assignments.get(12, "司法局")[0].explanation == "西夏区的说明"
    assert rt.store.assignments.get(12, "司法局")[0].explanation == ""
    say(rt, "zhangsan", "说明 12 金凤区的说明")
    assert rt.store.assignments.get(12, "司法局")[0].explanation == "金凤区的说明"
    assert x.store.assignments.get(12, "司法局")[0].explanation == "西夏区的说明"
    # each campaign's audit log holds its own entries only
    assert "西夏区的说明" in str(x.store.audit.entries(50))
    assert "西夏区的说明" not in str(rt.store.audit.entries(50))


def test_bound_in_two_campaigns_one_is_asked_and_the_choice_is_remembered(rt):
    x = rt.for_campaign(XIXIA)
    b = Binding("sandbox", "zhangsan", "司法局", "张三", "liaison", x.store.now_iso())
    x.store.bindings.set("sandbox", "zhangsan", None, b, "test")
    asked = say(rt, "zhangsan", "我的任务")
    assert asked.startswith("您在以下督办活动中都有绑定")
    assert "1. 2020年金凤区法治政府建设示范创建" in asked and "2. 2020年西夏区" in asked
    assert rt.store.assignments.get(12, "司法局")[0].explanation == ""
    assert "已切换到「2020年西夏区" in say(rt, "zhangsan", "切换 2")
    say(rt, "zhangsan", "说明 12 选了西夏区")
    assert x.store.assignments.get(12, "司法局")[0].explanation == "选了西夏区"
    assert rt.store.assignments.get(12, "司法局")[0].explanation == ""
    # remembered across processes: a new runtime on the same Redis reads the same choice
    assert "已切换到「2020年金凤区" in say(rt, "zhangsan", "切换 1")
    assert "当前：「2020年金凤区" in say(rt, "zhangsan", "切换")
    assert "切换" in say(rt, "zhangsan", "帮助")


def test_a_group_chat_that_belongs_to_no_campaign_is_told_what_to_configure(rt):
    reply = say(rt, "someone", "我的任务", chat="cid-unknown", platform="dingtalk")
    assert reply == NO_CAMPAIGN.format(platform="dingtalk", chat="cid-unknown")


def test_an_archived_campaign_answers_reads_and_refuses_writes(
    redis_url, redis_client, clock, campaigns_dir
):
    spec = campaigns_dir / XIXIA / "campaign.yaml"
    spec.write_text(spec.read_text("utf-8").replace("archived: false", "archived: true"), "utf-8")
    rt = runtime(redis_url, clock, campaigns_dir)
    try:
        x = rt.for_campaign(XIXIA)
        assert x.is_archived and rt.active_campaign_ids() == ["default"]
        title = "2020年西夏区法治政府建设示范创建（演示）"
        assert say(rt, "zhaoliu", "说明 12 改不了") == texts.ARCHIVED.format(title=title)
        assert say(rt, "zhaoliu", "完成 12") == texts.ARCHIVED.format(title=title)
        assert x.store.assignments.get(12, "司法局")[0].explanation == ""
        assert "司法局" in say(rt, "zhaoliu", "我的任务")  # reads still work
        assert "说明" in say(rt, "zhangsan", "说明 12 默认活动照常")  # the others do not care
    finally:
        rt.redis.close()


def test_a_single_campaign_deployment_has_no_switch_in_its_help(redis_url, redis_client, clock):
    rt = runtime(redis_url, clock, "")
    try:
        assert rt.campaign_ids() == ["default"] and rt.dispatcher.router is None
        assert "切换" not in say(rt, "zhangsan", "帮助")
        assert "无需切换" in say(rt, "zhangsan", "切换")
    finally:
        rt.redis.close()


def test_a_redelivered_message_of_another_campaign_gets_the_first_copys_reply(rt):
    """A message's claim and stored reply live in its campaign's keys. A platform's redelivery
    of a message that acted in the second campaign gets the reply the first copy stored there,
    not an empty answer (it was looked up in the default campaign's keys)."""
    import json

    from bot.stream.accept import answer_wecom
    from tests.http.callbacks import smartbot_json

    x = rt.for_campaign(XIXIA)
    b = Binding("wecom", "wx-zhao", "司法局", "赵六", "liaison", x.store.now_iso())
    x.store.bindings.set("wecom", "wx-zhao", None, b, "system:test")
    body = json.loads(smartbot_json("我的任务", "wx-m1", user="wx-zhao", group=False))
    _, first = answer_wecom(rt, body)
    assert "司法局" in first.text and not first.silent
    _, again = answer_wecom(rt, body)  # the platform delivers it once more
    assert again.text == first.text


def test_a_redelivery_while_the_first_copy_still_runs_in_another_campaign_waits_for_it(
    rt, monkeypatch
):
    """While the first copy of a second-campaign message still holds its claim (nothing
    committed yet), a redelivery must wait for it and, if it never finishes, not be
    acknowledged (FirstCopyUnfinished): it must not take the claim's absence from the default
    campaign's keys for "the first copy gave up" and answer nothing."""
    import json

    from bot import inbound
    from bot.stream.accept import answer_wecom
    from tests.http.callbacks import smartbot_json

    monkeypatch.setattr(inbound, "WAIT_FOR_FIRST_S", 0.3)
    x = rt.for_campaign(XIXIA)
    b = Binding("wecom", "wx-zhao", "司法局", "赵六", "liaison", x.store.now_iso())
    x.store.bindings.set("wecom", "wx-zhao", None, b, "system:test")
    first, _ = x.store.inbox.claim("wecom", "wx-m2")  # a first copy, still running
    assert first
    body = json.loads(smartbot_json("我的任务", "wx-m2", user="wx-zhao", group=False))
    with pytest.raises(inbound.FirstCopyUnfinished):
        answer_wecom(rt, body)
