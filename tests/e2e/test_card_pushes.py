"""Cards end to end (issue 15 item 3): a reminder and a return, composed as the jobs compose them,
pushed by a real RQ worker (`python -m bot.worker`) to the stub platform server, which checks
every card against the platform's documented schema (tests/stubs/platform_server.py): a WeCom
group robot gets a template_card, a DingTalk custom robot an actionCard, the DingTalk OpenAPI a
sampleActionCard; a reminder that must @ a liaison arrives as Markdown with the same links
where the route can @ (the OpenAPI cannot, so it gets the card)."""

from __future__ import annotations

import json

from bot import filllinks, rules
from bot.catalog import load_catalog
from bot.commands import Services
from bot.config import ROOT
from bot.messages import Notice
from bot.progress import Assignment, Role, Status
from bot.reminders import compose_reminder
from tests.e2e.world import DEPT, wecom
from tests.outbox import queue_notices
from tests.stubs.platform_server import DINGTALK_GROUP_SEND, DINGTALK_ROBOT, WECOM_WEBHOOK

PUBLIC = "https://duban.example.gov.cn"
CATALOG = load_catalog(ROOT / "indicators.yaml")


def notices(settings) -> list[Notice]:
    services = Services(settings=settings, link_key="e2e-cards-key")

    def door(items=()):
        return filllinks.door_for(services, DEPT, tuple(items))

    items = [
        Assignment(12, DEPT, Role.LEAD, Status.RETURNED, reason="缺少2019年台账"),
        Assignment(40, DEPT, Role.COOPERATE),
    ]
    reminder = compose_reminder(DEPT, items, CATALOG, frozenset(), {}, "", door=door)
    edit = rules.return_item(
        Assignment(13, DEPT, Role.LEAD, Status.IN_PROGRESS, version=2), CATALOG.get(13),
        "请补充盖章版", buttons=tuple(door((13,))), by="dingtalk:office", at="2020-08-14T02:00:00Z",
    )  # fmt: skip
    urgent = compose_reminder(
        DEPT, items, CATALOG, frozenset(), {}, "", days_left=1,
        mentions=("dingtalk:li", "wecom:li"), door=door,
    )  # fmt: skip
    return [reminder, *edit.notices, urgent]


def test_reminder_and_return_arrive_as_cards_on_every_robot(world_for, stub):
    chats = [
        wecom("robot-1"),
        {"platform": "dingtalk", "webhook": f"{stub.url}/robot/send?access_token=ding-tok"},
        {"platform": "dingtalk", "conversation_id": "cid-sfj"},
    ]
    w = world_for(chats, DUBAN_PUBLIC_URL=PUBLIC)
    reminder, returned, urgent = notices(w.settings)
    assert urgent.mentions  # the urgent one @-mentions the liaisons
    queue_notices(w.store, [reminder, returned, urgent])
    w.start_worker()
    w.wait_until(
        lambda: (
            len(stub.requests_to(WECOM_WEBHOOK)) >= 3
            and len(stub.requests_to(DINGTALK_ROBOT)) >= 3
            and len(stub.requests_to(DINGTALK_GROUP_SEND)) >= 3
        ),
        40,
        "three pushes on each robot",
    )
    assert stub.rejected == []  # every card passed the schema check
    wecom_bodies = [r.json for r in stub.requests_to(WECOM_WEBHOOK)]
    ding_bodies = [r.json for r in stub.requests_to(DINGTALK_ROBOT)]
    openapi = [r.json for r in stub.requests_to(DINGTALK_GROUP_SEND)]
    assert sorted(b["msgtype"] for b in wecom_bodies) == [
        "markdown",
        "template_card",
        "template_card",
    ]
    assert sorted(b["msgtype"] for b in ding_bodies) == ["actionCard", "actionCard", "markdown"]
    # the OpenAPI route cannot @ anyone (sampleMarkdown has no at list): a card every time
    assert [b["msgKey"] for b in openapi] == ["sampleActionCard2"] * 3
    cards = [b["template_card"] for b in wecom_bodies if b["msgtype"] == "template_card"]
    jumps = {j["title"]: j["url"] for c in cards for j in c["jump_list"]}
    assert set(jumps) == {"打开填报页", "查看第12项", "查看第13项"}
    # every button a group sees is the department's door, never a person's page
    door = filllinks.door_url(PUBLIC, "e2e-cards-key", DEPT)
    assert jumps["打开填报页"] == door and jumps["查看第13项"] == f"{door}?n=13"
    btns = [b for body in ding_bodies if body["msgtype"] == "actionCard"
            for b in body["actionCard"]["btns"]]  # fmt: skip
    assert {b["actionURL"] for b in btns} == {door, f"{door}?n=12", f"{door}?n=13"}
    params = [json.loads(b["msgParam"]) for b in openapi]
    assert {p["actionURL1"] for p in params} == {door}
    # the urgent reminder: Markdown that @-mentions, with the door as a link
    (md,) = [b for b in ding_bodies if b["msgtype"] == "markdown"]
    assert md["at"]["atUserIds"] == ["li"] and f"[打开填报页]({door})" in md["markdown"]["text"]
