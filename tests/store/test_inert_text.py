"""What people and web pages wrote cannot mention, link or format in the bot's messages: a
hostile nickname, page title, material name, reason or URL is made inert where it enters a
reply or a push, in every dialect delivery renders (WeCom markdown and text, DingTalk markdown
and text), and is stored byte for byte."""

from __future__ import annotations

import re

import pytest

from bot import bindings, delivery, reminders
from bot.linkcheck import fill_titles
from bot.messages import Incoming
from bot.progress import Status
from bot.records import Change
from tests.outbox import read_outbox
from tests.store.conftest import Chat

NICK = (
    "<@wcadmin> <@all> [领取补贴](http://evil.example/nick) @13800000000 <font color=red>急</font>"
)
TITLE = "原文](http://evil.example/phish) <@wcadmin> ![x](http://evil.example/i.png) @all"
REASON = '缺材料 [点此补交](http://evil.example/r) <@wcadmin> @all <font color="warning">!</font>'
# One address as the paste parser reads it (a second "http://" would start a link of its own).
URL = "https://www.example.gov.cn/a](//evil.example/u"
# A markdown link or image whose target leads to the attacker's host.
_EVIL_LINK = re.compile(r"\]\(\s*(?:https?:)?//evil\.example")

ROUTES = [
    delivery.Route("wecom_webhook", "wecom", "r", "x", url="http://stub"),
    delivery.Route("dingtalk_webhook", "dingtalk", "r", "x", url="http://stub"),
    delivery.Route("dingtalk_openapi", "dingtalk", "r", "x", conversation_id="cid"),
]


def rendered(text: str, mentions=()) -> list[str]:
    """Every body delivery would post for `text`: WeCom markdown/text, DingTalk markdown/text."""
    out = []
    for route in ROUTES:
        for body in delivery.bodies_for(route, text, mentions, "robot"):
            out.append(repr(body))
    for kind in ("text", "markdown"):
        from bot.platforms.wecom import webhook_bodies

        out += [repr(b) for b in webhook_bodies(text, (), kind)]
    return out


def assert_inert(text: str) -> None:
    for body in [text, *rendered(text)]:
        assert "@" not in body, body  # no mention, no @all, no @mobile (none of Duban's here)
        assert "<font" not in body and "<@" not in body, body
        assert not _EVIL_LINK.search(body), body


def dingtalk(rt, user: str, nick: str, text: str) -> str:
    msg = Incoming("dingtalk", user, text, mentioned=True, message_id=f"x-{text}", user_name=nick)
    return rt.dispatcher.handle(msg).text


def test_a_nickname_cannot_mention_or_link_in_the_binding_notices(rt):
    reply = dingtalk(rt, "staff9", NICK, "绑定 司法局")
    assert "司法局" in reply
    dingtalk(rt, "staff9", NICK, "解绑")  # within the person's window: folded
    notices = [n for _, n, _ in read_outbox(rt.store) if n.kind == "binding"]
    notices.append(bindings.compose_summary(NICK, 1, "司法局", ""))  # told when it ends
    assert len(notices) == 2
    for n in notices:
        assert_inert(n.text)
        assert "领取补贴" in n.text  # still readable
    # the stored name is exactly what the platform sent
    dingtalk(rt, "staff9", NICK, "绑定 司法局")
    assert rt.store.bindings.get("dingtalk", "staff9").name == NICK


def test_a_fetched_page_title_cannot_link_in_the_reminder(rt, chat):
    sfj = chat("u-sfj", "张三")
    sfj("绑定 司法局")
    url = "https://www.example.gov.cn/dead.html"
    assert "已收到" in sfj(f"提交 12 {url}")
    assert fill_titles(rt, {url: TITLE}) == 1
    rt.store.links.record(url, {"ok": False, "status": 404, "error": "http_404"})
    a, _ = rt.store.assignments.get(12, "司法局")
    assert a.materials[0].title == TITLE  # stored byte for byte
    notice = reminders.compose_reminder(
        "司法局", [a], rt.catalog, frozenset(), rt.store.links.states([url]), ""
    )
    assert_inert(notice.text)
    assert f"]({url})" in notice.text  # Duban's own link to the material stays a link
    assert_inert(sfj("查看 12"))


def test_names_reasons_and_urls_are_inert_in_replies_and_review_notices(rt, chat):
    sfj = chat("u-sfj", "张三")
    sfj("绑定 司法局")
    office = Chat(rt, "boss", "王主任", admin=True)
    assert_inert(sfj(f"纸质 12 {TITLE}"))
    assert_inert(sfj(f"提交 12 {URL} 方案] <@wcadmin> @all <font color=red>急</font> [x"))
    a, _ = rt.store.assignments.get(12, "司法局")
    assert [m.url for m in a.materials if m.url] == [URL]  # stored as typed
    view = sfj("查看 12")
    assert_inert(view)
    assert "https://www.example.gov.cn/a%5D%28//evil.example/u" in view  # still opens
    assert "已退回司法局第12项" in office(f"退回 12 司法局 {REASON}")
    [review] = [n for _, n, _ in read_outbox(rt.store) if n.kind == "review"]
    assert_inert(review.text)
    assert rt.store.assignments.get(12, "司法局")[0].reason == REASON
    for text in ("我的任务", "查看 12", "删除 12 1", "撤销 12"):
        assert_inert(sfj(text))


@pytest.mark.parametrize(
    "text",
    [
        f"绑定 {NICK}",  # an unknown department is named back
        f"帮助 {NICK}",  # so is an unknown command
        f"完成 12 {NICK}",  # and text left over after a command
        "提交 12 ftp://evil.example/<@all>",  # and a link that is not http(s)
    ],
)
def test_what_a_refusal_quotes_back_is_inert(chat, text):
    sfj = chat("u-sfj", "张三")
    sfj("绑定 司法局")
    assert_inert(sfj(text))


def test_a_cooperating_units_reason_is_inert(rt, chat):
    ind, dept = next((i, d) for (i, d), r in rt.assignments.items() if r.value == "cooperate")
    c = chat("u-coop")
    c(f"绑定 {dept}")
    assert_inert(c(f"不涉及 {ind} {REASON}"))
    assert_inert(c("我的任务 全部"))
    a, raw = rt.store.assignments.get(ind, dept)
    after = a.changed("test", rt.store.now_iso(), status=Status.RETURNED, reason=REASON)
    rt.store.assignments.save(Change(raw, after, "test", "test", undo="keep"))
    assert_inert(c("我的任务"))


def test_places_rectifications_declarations_and_senders_are_inert_too(rt, chat, admin):
    """The texts issue 12 added (where paper is kept, a ★ rectification note, a declaration,
    the sender named in a 报送, an approval's second look, the inspection readiness push)
    quote what people wrote as inert."""
    sfj = chat("u-sfj", NICK)
    sfj("绑定 司法局")
    assert_inert(sfj(f"纸质 12 {TITLE} 存放：{REASON}"))
    assert_inert(sfj(f"纸质 12 年度报告 存放：{REASON}"))
    assert_inert(sfj(f"存放 12 2 {REASON}"))  # the same place again is refused, quoting it
    assert_inert(sfj(f"存放 12 2 {TITLE}"))
    assert_inert(sfj(f"纸质 12 {NICK}"))  # no place yet
    assert_inert(sfj("查看 12"))
    assert_inert(sfj(f"纸质 77 {TITLE}"))  # a 涉密 item needs a place: the name is quoted back
    assert_inert(sfj(f"提交 77 https://www.example.gov.cn/s.html {TITLE}"))
    assert "须先发送「整改 4 整改情况」" in admin("星标 4")
    assert_inert(sfj(f"整改 4 {REASON}"))
    assert_inert(sfj("查看 4"))
    assert_inert(sfj(f"声明 98 有 {REASON}"))
    [sender] = [line for line in sfj("报送 确认").splitlines() if "报送人" in line]
    assert_inert(sender)  # the nickname (the mail address of the office above is Duban's own)
    a, _ = rt.store.assignments.get(12, "司法局")
    assert [m.location for m in a.materials] == [REASON, TITLE, ""]  # stored byte for byte
    readiness = reminders.compose_readiness("司法局", [a], rt.catalog, "9月实地查验。", False)
    assert readiness is not None and "尚未写明存放位置" in readiness.text
    assert_inert(readiness.text)
    assert "已退回" in admin(f"退回 12 司法局 {REASON}")
    assert_inert(admin("通过 12 司法局"))  # asks first, quoting the reason it was returned for
