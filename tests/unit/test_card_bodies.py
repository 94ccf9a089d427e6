"""Cards with buttons (issue 15 item 3): the neutral buttons line, and each platform's card of a
reminder, a return and 我的任务, checked against the documented schema and byte limits as the
stub platform server checks them (tests/stubs/platform_server.py); Markdown with the same links
where a card cannot be (someone to @, too long, no card on that route)."""

from __future__ import annotations

import json
import urllib.request
from datetime import date

import pytest

from bot import filllinks, rules
from bot.catalog import load_catalog
from bot.commands import Services
from bot.config import ROOT, Settings
from bot.messages import Incoming, Reply
from bot.org import build_assignments, load_org
from bot.platforms import dingtalk, wecom
from bot.platforms.base import encode_json
from bot.progress import Assignment, Material, Role, Score, Status, rank
from bot.reminders import compose_ranking, compose_readiness, compose_reminder
from bot.render import actions_line, inert, split_actions, with_actions
from tests.stubs.platform_server import (
    DINGTALK_GROUP_SEND,
    DINGTALK_ROBOT,
    DINGTALK_SESSION,
    WECOM_WEBHOOK,
    PlatformStub,
    card_problems,
)

DEPT = "司法局"
KEY = "k" * 32
PUBLIC = "https://duban.example.gov.cn"
SERVICES = Services(settings=Settings(public_url=PUBLIC), link_key=KEY)
CATALOG = load_catalog(ROOT / "indicators.yaml")


def door(items=()):
    return filllinks.door_for(SERVICES, DEPT, tuple(items))


def reminder(returned: int = 1, reason: str = "缺少2019年台账", mentions=(), days_left=None):
    items = [
        Assignment(12 + i, DEPT, Role.LEAD, Status.RETURNED, reason=reason) for i in range(returned)
    ]
    items += [Assignment(40, DEPT, Role.COOPERATE), Assignment(41, DEPT, Role.LEAD, Status.DONE)]
    notice = compose_reminder(
        DEPT, items, CATALOG, frozenset(), {}, "距「自查」截止还有 5 个工作日",
        days_left=days_left, mentions=mentions, door=door,
    )  # fmt: skip
    assert notice is not None
    return notice


def returned_notice(mentions=()):
    a = Assignment(12, DEPT, Role.LEAD, Status.IN_PROGRESS, version=3)
    ind = CATALOG.get(12)
    edit = rules.return_item(
        a, ind, "缺少2019年台账", mentions=mentions, buttons=tuple(door((12,))),
        by="dingtalk:office", at="2020-08-14T02:00:00+00:00",
    )  # fmt: skip
    (notice,) = edit.notices
    return notice


def ok(path: str, body: dict) -> dict:
    """The body, after the stub's schema check found nothing wrong with it."""
    problems, errcode = card_problems(path, body, len(encode_json(body)))
    assert not problems and not errcode, problems
    return body


# --- the buttons line --------------------------------------------------------------------


def test_buttons_line_round_trips_and_reads_as_links():
    buttons = [("打开填报页", f"{PUBLIC}/m/d/x"), ("查看第12项", f"{PUBLIC}/m/d/x?n=12")]
    text = with_actions("**标题**\n正文", buttons)
    assert text.endswith(f"➜ [打开填报页]({PUBLIC}/m/d/x) ｜ [查看第12项]({PUBLIC}/m/d/x?n=12)")
    assert split_actions(text) == ("**标题**\n正文", buttons)
    assert with_actions("正文", []) == "正文" and split_actions("正文") == ("正文", [])


def test_nobodys_text_can_make_buttons():
    # what a person wrote goes through `inert`: its brackets are full-width, no link, no button
    forged = inert("➜ [打开填报页](https://evil.example.com)")
    assert split_actions(f"退回原因：\n{forged}") == (f"退回原因：\n{forged}", [])
    # a buttons line anywhere but last is a line of links, not buttons
    line = actions_line([("打开填报页", f"{PUBLIC}/m/d/x")])
    assert split_actions(f"{line}\n正文")[1] == []


def test_door_buttons_name_the_department_and_the_items_first():
    (page, label), *rest = [(u, t) for t, u in door((36, 12, 36, 50, 60))]
    assert label == "打开填报页" and page.startswith(f"{PUBLIC}/m/d/")
    assert filllinks.read_door(KEY, page.rsplit("/", 1)[1]) == DEPT
    assert [t for _, t in rest] == ["查看第36项", "查看第12项"]  # 3 buttons in all, no repeats
    assert [u for u, _ in rest] == [f"{page}?n=36", f"{page}?n=12"]
    # where a phone cannot reach the server, no buttons: the text says what to type instead
    local = Services(settings=Settings(public_url="http://127.0.0.1:8000"), link_key=KEY)
    assert filllinks.door_for(local, DEPT, (12,)) == []


# --- DingTalk ------------------------------------------------------------------------------


def test_dingtalk_reminder_is_an_action_card_with_the_doors_buttons():
    notice = reminder()
    (body,) = dingtalk.custom_robot_bodies(notice.text, notice.mentions)
    ok(DINGTALK_ROBOT, body)
    card = body["actionCard"]
    assert body["msgtype"] == "actionCard" and card["title"] == "📋 督办提醒 · 司法局"
    assert [b["title"] for b in card["btns"]] == ["打开填报页", "查看第12项"]
    assert all("/m/d/" in b["actionURL"] for b in card["btns"])
    assert "缺少2019年台账" in card["text"] and "➜" not in card["text"]
    assert len(encode_json(body)) <= dingtalk.DINGTALK_BODY_LIMIT


def test_dingtalk_return_is_an_action_card_and_the_session_reply_too():
    notice = returned_notice()
    (body,) = dingtalk.custom_robot_bodies(notice.text, notice.mentions)
    ok(DINGTALK_ROBOT, body)
    assert body["actionCard"]["title"].startswith("🔴 第12项被依法治区办退回")
    session = dingtalk.session_webhook_body(Reply(notice.text))
    assert ok(DINGTALK_SESSION, session) == body


def test_dingtalk_openapi_send_is_a_sample_action_card():
    notice = reminder()
    (body,) = dingtalk.openapi_group_bodies("ding-robot", "cid-1", notice.text)
    ok(DINGTALK_GROUP_SEND, body)
    param = json.loads(body["msgParam"])
    assert body["msgKey"] == "sampleActionCard2"
    assert (param["actionTitle1"], param["actionTitle2"]) == ("打开填报页", "查看第12项")
    single = with_actions("**留言**\n正文", door())
    (body,) = dingtalk.openapi_group_bodies("ding-robot", "cid-1", single)
    assert ok(DINGTALK_GROUP_SEND, body)["msgKey"] == "sampleActionCard"


def test_a_push_that_must_mention_stays_markdown_with_the_links():
    # an actionCard has no `at`: the ping wins, the buttons stay links in the Markdown
    notice = reminder(days_left=1, mentions=("dingtalk:li",))
    assert notice.mentions
    (body,) = dingtalk.custom_robot_bodies(notice.text, ["li"])
    assert body["msgtype"] == "markdown" and body["at"]["atUserIds"] == ["li"]
    assert "[打开填报页](https://duban.example.gov.cn/m/d/" in body["markdown"]["text"]
    (body,) = wecom.webhook_bodies(notice.text, ["li"], "markdown")
    assert body["msgtype"] == "markdown" and "<@li>" in body["markdown"]["content"]


def test_a_card_over_the_byte_limit_falls_back_to_markdown_parts():
    text = with_actions(
        "**很长的通知**\n" + "\n".join(f"第{i}行：" + "内容" * 40 for i in range(200)), door()
    )
    assert len(encode_json(dingtalk.action_card(*split_actions(text)))) > 20000
    bodies = dingtalk.custom_robot_bodies(text)
    assert len(bodies) > 1 and {b["msgtype"] for b in bodies} == {"markdown"}
    assert all(len(encode_json(b)) <= dingtalk.DINGTALK_BODY_LIMIT for b in bodies)
    assert "[打开填报页](" in bodies[-1]["markdown"]["text"]  # the links come last, as written


def test_my_tasks_passive_reply_is_an_action_card():
    page = f"{PUBLIC}/m/abc.def.ghi"
    text = with_actions(
        "**司法局 · 共 3 项，已完成 1 项，未完成 2 项**\n- 12 ❌ 已退回",
        filllinks.buttons(page, (12,)),
    )
    msg = Incoming("dingtalk", "u1", "我的任务", mentioned=True, message_id="m1")
    out, follow = dingtalk.DingTalk(Settings(dingtalk_app_secret="s")).reply_plan(
        None, msg, Reply(text), 0
    )
    body = json.loads(out.body)
    assert follow is None and ok(DINGTALK_SESSION, body)["msgtype"] == "actionCard"
    assert [(b["title"], b["actionURL"]) for b in body["actionCard"]["btns"]] == [
        ("打开填报页", page),
        ("查看第12项", f"{page}/12"),
    ]


# --- WeCom ---------------------------------------------------------------------------------


def test_wecom_reminder_is_a_text_notice_card():
    notice = reminder()
    (body,) = wecom.webhook_bodies(notice.text, (), "markdown")
    card = ok(WECOM_WEBHOOK, body)["template_card"]
    assert card["card_type"] == "text_notice"
    assert card["main_title"]["title"] == "📋 督办提醒 · 司法局"
    assert [j["title"] for j in card["jump_list"]] == ["打开填报页", "查看第12项"]
    assert card["card_action"]["url"] == card["jump_list"][0]["url"]
    returned = card["vertical_content_list"][0]
    assert returned["title"].startswith("已退回 1 项") and "缺少2019年台账" in returned["desc"]


def test_wecom_return_is_a_text_notice_card():
    notice = returned_notice()
    (body,) = wecom.webhook_bodies(notice.text, (), "markdown")
    card = ok(WECOM_WEBHOOK, body)["template_card"]
    assert card["main_title"]["title"] == "🔴 第12项被依法治区办退回。"
    assert card["main_title"]["desc"] == "原因：缺少2019年台账"
    assert card["sub_title_text"] == "请补充修改后发送「完成 12」。查看详情：查看 12"
    assert [j["title"] for j in card["jump_list"]] == ["打开填报页", "查看第12项"]


def test_wecom_daily_reminder_fits_a_card_line_by_line():
    items = [Assignment(i, DEPT, Role.LEAD if i % 3 else Role.COOPERATE) for i in range(10, 40)]
    items[2] = Assignment(12, DEPT, Role.LEAD, Status.RETURNED, reason="缺少2019年台账")
    notice = compose_reminder(
        DEPT, items, CATALOG, frozenset({12}), {}, "距「自查自评」截止还有 12 个工作日（8月31日）",
        submit_line="尚未报送资料目录（截止 8月19日）：材料齐全后发送「报送」", door=door,
    )  # fmt: skip
    (body,) = wecom.webhook_bodies(notice.text, (), "markdown")
    card = ok(WECOM_WEBHOOK, body)["template_card"]
    assert card["main_title"] == {
        "title": "📋 督办提醒 · 司法局",
        "desc": "距「自查自评」截止还有 12 个工作日（8月31日）",
    }
    assert card["sub_title_text"].startswith("尚未报送资料目录")
    items = card["vertical_content_list"]
    assert items[0] == {
        "title": "已退回 1 项，请按原因修改后重新标记完成：",
        "desc": "· 第12项：「缺少2019年台账」",
    } or items[0]["desc"].startswith("· 第12项：")
    # a long line that is no list item gets an item of its own, split at its first clause
    assert items[1]["title"] == "共 30 项" and items[1]["desc"].startswith("已完成 0 项")
    # nothing of the text is lost: every line's words are on the card
    words = json.dumps(card, ensure_ascii=False)
    for line in split_actions(notice.text)[0].split("\n")[1:]:
        assert line.strip("*- ")[:6] in words, line


def test_wecom_text_beyond_the_cards_lengths_is_markdown_within_4096_bytes():
    # the readiness push with 15 paper items without a place: more than the card holds
    paper = tuple(
        Material(f"2019年至2020年行政执法案卷（第{i}册，含卷内目录）", "") for i in range(15)
    )
    items = [Assignment(12, DEPT, Role.LEAD, Status.DONE, materials=paper)]
    notice = compose_readiness(DEPT, items, CATALOG, "实地查验：9月15日", True, door=door)
    assert wecom.webhook_card_body(notice.text) is None
    bodies = wecom.webhook_bodies(notice.text, (), "markdown")
    assert [b["msgtype"] for b in bodies] == ["markdown"]
    assert len(bodies[0]["markdown"]["content"].encode()) <= wecom.WECOM_MARKDOWN_LIMIT
    assert "[打开填报页](https://duban.example.gov.cn/m/d/" in bodies[0]["markdown"]["content"]
    # and DingTalk, which has room, shows it as a card
    (ding,) = dingtalk.custom_robot_bodies(notice.text)
    assert ok(DINGTALK_ROBOT, ding)["msgtype"] == "actionCard"


def test_smart_bot_reply_is_a_stream_with_a_template_card():
    page = f"{PUBLIC}/m/abc.def.ghi"
    text = with_actions("**司法局 · 共 3 项**\n- 12 ❌ 已退回", filllinks.buttons(page, (12,)))
    msg = Incoming("wecom", "u1", "我的任务", mentioned=True, message_id="m1")
    body = wecom.reply_stream_body(msg, Reply(text))
    assert body["msgtype"] == "stream_with_template_card"
    assert body["stream"]["finish"] and "➜" not in body["stream"]["content"]
    ok(WECOM_WEBHOOK, {"msgtype": "template_card", "template_card": body["template_card"]})
    assert [j["url"] for j in body["template_card"]["jump_list"]] == [page, f"{page}/12"]


# --- the stub's schema check can fail ------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "errcode"),
    [
        (WECOM_WEBHOOK, {"msgtype": "template_card", "template_card": {
            "card_type": "text_notice", "main_title": {"title": "标题"}}}, 42045),
        (WECOM_WEBHOOK, {"msgtype": "template_card", "template_card": {
            "card_type": "text_notice", "main_title": {"title": "标题"},
            "card_action": {"type": 1, "url": "https://a.cn"},
            "jump_list": [{"type": 1, "title": f"按钮{i}", "url": "https://a.cn"} for i in range(4)],
        }}, 40035),
        (WECOM_WEBHOOK, {"msgtype": "template_card", "template_card": {
            "card_type": "text_notice", "main_title": {"title": "标" * 27},
            "card_action": {"type": 1, "url": "https://a.cn"}}}, 40035),
        (DINGTALK_ROBOT, {"msgtype": "actionCard", "actionCard": {
            "title": "标题", "text": "正文",
            "btns": [{"title": f"按钮{i}", "actionURL": "https://a.cn"} for i in range(5)]}}, 40035),
        (DINGTALK_ROBOT, {"msgtype": "actionCard", "actionCard": {
            "title": "标题", "text": "正文", "singleTitle": "打开"}}, 40035),
        (DINGTALK_ROBOT, {"msgtype": "actionCard", "actionCard": {
            "title": "标题", "text": "长" * 7000, "singleTitle": "打开",
            "singleURL": "https://a.cn"}}, 460101),
        (DINGTALK_GROUP_SEND, {"msgKey": "sampleActionCard3", "msgParam": json.dumps(
            {"title": "标题", "text": "正文", "actionTitle1": "a", "actionURL1": "https://a.cn"})}, 40035),
    ],
)  # fmt: skip
def test_the_stub_refuses_cards_that_break_the_schema(path, body, errcode):
    problems, code = card_problems(path, body, len(encode_json(body)))
    assert problems and code == errcode


def test_the_stub_passes_what_is_no_card():
    assert card_problems(
        WECOM_WEBHOOK, {"msgtype": "markdown", "markdown": {"content": "x"}}, 9
    ) == ([], 0)


def test_reminder_rework_date_and_returned_first_survive_in_the_card():
    items = [
        Assignment(12, DEPT, Role.LEAD, Status.RETURNED, reason="缺台账", rework="2020-08-20"),
        Assignment(13, DEPT, Role.LEAD, Status.IN_PROGRESS,
                   materials=(Material("执法公示", "https://www.jinfeng.gov.cn/dead.html"),)),
    ]  # fmt: skip
    states = {"https://www.jinfeng.gov.cn/dead.html": {"ok": False, "status": 404}}
    notice = compose_reminder(
        DEPT, items, CATALOG, frozenset(), states, "", door=door, today=date(2020, 8, 14)
    )
    _, buttons = split_actions(notice.text)
    assert [t for t, _ in buttons] == ["打开填报页", "查看第12项", "查看第13项"]


def test_routes_without_cards_keep_every_url_readable():
    # the WeCom app's passive reply is plain text: each button becomes its label and URL
    page = f"{PUBLIC}/m/abc.def.ghi"
    text = with_actions("**司法局 · 共 3 项**\n- 12 ❌ 已退回", filllinks.buttons(page, (12,)))
    plain = wecom.markup(text, "text")
    assert plain.endswith(f"➜ 打开填报页 {page} ｜ 查看第12项 {page}/12")
    assert len(plain.encode()) <= wecom.WECOM_TEXT_LIMIT
    # and @all (a text message on WeCom) is never a card
    (body,) = wecom.webhook_bodies(reminder().text, ["@all"], "text")
    assert body["msgtype"] == "text" and f"{PUBLIC}/m/d/" in body["text"]["content"]


# --- the stub over HTTP --------------------------------------------------------------------


def test_the_stub_answers_a_broken_card_as_the_platform_would_and_lists_it():
    def send(url: str, body: dict) -> dict:
        req = urllib.request.Request(
            url, data=encode_json(body), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.loads(resp.read())

    good = wecom.webhook_bodies(reminder().text, (), "markdown")[0]
    broken = json.loads(json.dumps(good))
    del broken["template_card"]["card_action"]
    with PlatformStub() as stub:
        url = wecom.webhook_url(stub.url, "robot-1")
        assert send(url, good)["errcode"] == 0
        assert send(url, broken)["errcode"] == 42045
        ding = f"{stub.url}/robot/send?access_token=t"
        assert send(ding, dingtalk.custom_robot_bodies(reminder().text)[0])["errcode"] == 0
        assert (
            send(ding, {"msgtype": "actionCard", "actionCard": {"title": "x"}})["errcode"] == 40035
        )
        assert [problems for _, problems in stub.rejected][0] == [
            "card_action missing or of an unknown type"
        ]
        assert len(stub.rejected) == 2


def test_approval_and_ranking_pushes_carry_the_doors_buttons():
    a = Assignment(12, DEPT, Role.LEAD, Status.DONE, explanation="已完成。", version=3)
    edit = rules.approve(
        a, CATALOG.get(12), confirmed=False, links=dict, buttons=tuple(door((12,))),
        by="dingtalk:office", at="2020-08-14T02:00:00+00:00",
    )  # fmt: skip
    (notice,) = edit.notices
    (body,) = dingtalk.custom_robot_bodies(notice.text)
    assert [b["title"] for b in ok(DINGTALK_ROBOT, body)["actionCard"]["btns"]] == [
        "打开填报页",
        "查看第12项",
    ]
    rows = rank([Score(DEPT, 3, 10, done_count=3, total_count=10), Score("财政局", 1, 10)])
    *mine, table = compose_ranking(
        rows, {}, "8月14日 10:00", door=lambda d: door() if d == DEPT else []
    )
    assert split_actions(mine[0].text)[1] == door() and split_actions(mine[1].text)[1] == []
    assert table.department == "" and split_actions(table.text)[1] == []  # the office's table
    (body,) = wecom.webhook_bodies(mine[0].text, (), "markdown")
    assert ok(WECOM_WEBHOOK, body)["msgtype"] == "template_card"


@pytest.mark.parametrize("returned", [0, 3])
def test_every_departments_daily_reminder_is_a_card_on_both_platforms(returned):
    org = load_org(ROOT / "org.yaml")
    by: dict[str, list[Assignment]] = {}
    for (ind, d), role in sorted(build_assignments(CATALOG, org).items()):
        if ind in CATALOG.regular_ids:
            back = len(by.get(d, [])) < returned
            status = Status.RETURNED if back else Status.TODO
            why = "缺少2019年至2020年的执法台账，请补充盖章版" if back else ""
            by.setdefault(d, []).append(Assignment(ind, d, role, status, reason=why))
    assert len(by) > 40
    for d, items in by.items():
        notice = compose_reminder(
            d, items, CATALOG, frozenset(), {}, "距「自查自评」截止还有 12 个工作日（8月31日）",
            submit_line="尚未报送资料目录（截止 8月19日）：材料齐全后发送「报送」",
            door=lambda it, d=d: filllinks.door_for(SERVICES, d, tuple(it)),
        )  # fmt: skip
        (w,) = wecom.webhook_bodies(notice.text, (), "markdown")
        (k,) = dingtalk.custom_robot_bodies(notice.text)
        assert ok(WECOM_WEBHOOK, w)["msgtype"] == "template_card", d
        assert ok(DINGTALK_ROBOT, k)["msgtype"] == "actionCard", d
