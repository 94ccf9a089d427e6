"""Cards and the page link in chat (issue 15 items 1 and 3), through really signed DingTalk
callbacks: 我的任务 answered as an ActionCard, with the person's own link in a one-to-one chat and
the department's door in a group; the door (and every link a group push carries) gives nobody
in the group the department's pen; 填报 in a group hands out no link."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import pytest

from bot import reminders
from bot.config import Settings
from bot.delivery import Route, bodies_for
from bot.messages import Incoming
from bot.platforms import wecom
from bot.progress import Role, Status
from bot.render import split_actions
from tests.e2e.background import set_status
from tests.http.callbacks import (
    ding_payload,
    ding_post,
    smartbot_crypto,
    smartbot_json,
    smartbot_request,
)
from tests.http.conftest import runtime_for, work
from tests.http.conftest import testing_app as app_of
from tests.outbox import read_outbox
from tests.stubs.platform_server import DINGTALK_SESSION, WECOM_WEBHOOK, card_problems

PUBLIC = "https://duban.example.gov.cn"
DEPT = "司法局"
USER = "staff001"


@pytest.fixture
def card_rt(hook_settings, monkeypatch, redis_client, clock):
    """The hooks' settings with a public address phones can reach (so replies carry links)."""
    monkeypatch.setenv("DUBAN_PUBLIC_URL", PUBLIC)
    monkeypatch.setenv("DUBAN_SECRET_KEY", "cards-secret-key")
    yield from runtime_for(Settings.from_env(), clock)


@pytest.fixture
def client(card_rt):
    return app_of(card_rt).test_client()


def reply(client, text: str, msg_id: str, group: bool = True) -> dict:
    resp = ding_post(client, ding_payload(text, msg_id, user=USER, group=group))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return json.loads(resp.get_data())


def buttons(body: dict) -> list[tuple[str, str]]:
    assert body["msgtype"] == "actionCard", body
    card = body["actionCard"]
    if "btns" in card:
        return [(b["title"], b["actionURL"]) for b in card["btns"]]
    return [(card["singleTitle"], card["singleURL"])]


def path_of(url: str) -> str:
    assert url.startswith(PUBLIC), url
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def lead_item(rt) -> int:
    return min(i for (i, d), r in rt.assignments.items() if d == DEPT and r is Role.LEAD)


@pytest.fixture
def bound(client, card_rt):
    assert "已绑定" in json.dumps(reply(client, f"绑定 {DEPT}", "bind-1"), ensure_ascii=False)
    return card_rt


def test_my_tasks_one_to_one_is_a_card_opening_the_persons_page(client, bound):
    n = lead_item(bound)
    body = reply(client, "我的任务", "tasks-1", group=False)
    got = buttons(body)
    assert got[0][0] == "打开填报页" and "/m/d/" not in got[0][1]
    page = path_of(got[0][1])
    html = client.get(page).get_data(as_text=True)
    assert f'data-id="{n}"' in html  # the person's page: the department's items
    link = bound.store.fill_links.current("dingtalk", USER)
    assert link is not None and link.department == DEPT


def test_my_tasks_in_a_group_carries_the_door_and_no_persons_link(client, bound):
    body = reply(client, "我的任务", "tasks-g")
    (label, url), *_ = buttons(body)
    assert label == "打开填报页" and "/m/d/" in url
    assert (
        "还有" in body["actionCard"]["text"] and "私聊我发送「填报」" in body["actionCard"]["text"]
    )
    assert bound.store.fill_links.current("dingtalk", USER) is None  # nothing issued to the group
    door = client.get(path_of(url))
    html = door.get_data(as_text=True)
    assert door.status_code == 200 and f"{DEPT}填报页" in html and "私聊机器人" in html
    assert "<form" not in html and "data-id=" not in html  # no item, no pen


def test_a_group_push_link_gives_nobody_in_the_group_write_access(client, bound):
    n = lead_item(bound)
    before = bound.store.assignments.get(n, DEPT)[0]
    result = reminders.send_reminders(bound, bound.store.clock(), "cards", [DEPT], on_demand=True)
    assert result.queued == 1, result
    (notice,) = [
        x for _, x, _ in read_outbox(bound.store) if x.department == DEPT and "督办提醒" in x.text
    ]
    _, group_buttons = split_actions(notice.text)
    assert group_buttons and all("/m/d/" in u for _, u in group_buttons)
    for _, url in group_buttons:
        page = client.get(path_of(url))
        html = page.get_data(as_text=True)
        assert page.status_code == 200 and "<form" not in html and "data-id=" not in html
    door = urlsplit(group_buttons[0][1]).path
    token = door.rsplit("/", 1)[1]
    # whatever one tries with it: no write route under the door, and it is no page token
    for attempt in (f"{door}/{n}/done", f"/m/{token}/{n}/done"):
        assert client.post(attempt, data={"v": str(before.version)}).status_code in (400, 404, 405)
    assert client.get(f"/m/{token}").status_code == 404
    assert client.get(f"/m/{token}/{n}").status_code == 404
    assert bound.store.assignments.get(n, DEPT)[0] == before


def test_a_forged_door_is_refused(client, bound):
    body = reply(client, "我的任务", "tasks-f")
    door = urlsplit(buttons(body)[0][1]).path
    name, sig = door.rsplit("/", 1)[1].split(".")
    other = "5biC5Zy655uR566h5bGA"  # base64 of another department's name, same signature
    for forged in (f"{other}.{sig}", f"{name}.{sig[:-1]}A", name):
        resp = client.get(f"/m/d/{forged}")
        assert resp.status_code == 404 and "链接无效" in resp.get_data(as_text=True)


def test_fill_in_a_group_sends_no_link(client, bound):
    body = reply(client, "填报", "fill-g")
    text = body.get("text", {}).get("content") or body.get("markdown", {}).get("text", "")
    assert "私聊" in text and not re.search(r"https?://", text)
    assert bound.store.fill_links.current("dingtalk", USER) is None
    # and one to one, the link as before
    body = reply(client, "填报", "fill-1", group=False)
    assert f"{PUBLIC}/m/" in json.dumps(body, ensure_ascii=False)
    assert bound.store.fill_links.current("dingtalk", USER) is not None


# --- the other routes a reply takes ----------------------------------------------------------


def test_smart_bot_group_reply_is_a_stream_with_a_card_of_the_door(client, card_rt):
    def say(text: str, msg_id: str) -> dict:
        resp = client.post(
            "/hooks/wecom", query_string=(req := smartbot_request(smartbot_json(text, msg_id)))[0],
            data=req[1], content_type="application/json",
        )  # fmt: skip
        package = json.loads(resp.get_data())
        plain = smartbot_crypto().decrypt_message(
            {"Encrypt": package["encrypt"]}, package["msgsignature"], package["timestamp"],
            package["nonce"],
        )  # fmt: skip
        return json.loads(plain)

    say(f"绑定 {DEPT}", "wc-bind")
    body = say("我的任务", "wc-tasks")
    assert body["msgtype"] == "stream_with_template_card"
    assert f"**{DEPT} · 共" in body["stream"]["content"] and "➜" not in body["stream"]["content"]
    card = {"msgtype": "template_card", "template_card": body["template_card"]}
    problems, _ = card_problems(WECOM_WEBHOOK, card, len(json.dumps(card).encode()))
    assert problems == []
    assert all("/m/d/" in j["url"] for j in body["template_card"]["jump_list"])
    assert card_rt.store.fill_links.current("wecom", "zhangsan") is None


class TestQueuedReplies:
    """DUBAN_DINGTALK_REPLY=queue: a worker posts the reply to the sessionWebhook (the stub)."""

    @pytest.fixture
    def dingtalk_reply(self):
        return "queue"

    def test_my_tasks_reaches_the_session_as_an_action_card(self, client, card_rt, stub):
        for text, msg_id in ((f"绑定 {DEPT}", "q-bind"), ("我的任务", "q-tasks")):
            payload = ding_payload(text, msg_id, user=USER, oapi_base=stub.url)
            assert json.loads(ding_post(client, payload).get_data()) == {"msgtype": "empty"}
            work(card_rt)
        (sent,) = stub.requests_to(DINGTALK_SESSION, key="sess-q-tasks")
        assert stub.rejected == [] and sent.json["msgtype"] == "actionCard"
        assert buttons(sent.json)[0][0] == "打开填报页" and "/m/d/" in buttons(sent.json)[0][1]


def test_my_tasks_of_the_largest_department_is_one_card_of_one_screen(client, card_rt):
    counts: dict[str, int] = {}
    for _, d in card_rt.assignments:
        counts[d] = counts.get(d, 0) + 1
    largest = max(counts, key=lambda d: (counts[d], d))
    reply(client, f"绑定 {largest}", "big-bind")
    body = reply(client, "我的任务", "big-tasks", group=False)
    size = len(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode())
    problems, _ = card_problems(DINGTALK_SESSION, body, size)
    assert problems == [] and size <= 20000
    lines = [x for x in body["actionCard"]["text"].split("\n\n") if x.strip()]
    assert len(lines) + 1 <= 15, lines  # the text and the row of buttons: one phone screen
    assert f"{largest} · 共 {counts[largest]}" in lines[0] or largest in lines[0]


def test_my_tasks_item_button_opens_that_items_page(client, bound):
    n = lead_item(bound)
    set_status(bound, n, DEPT, Status.RETURNED, reason="缺少2019年台账")
    body = reply(client, "我的任务", "tasks-r", group=False)
    (_, page), (label, item) = buttons(body)[:2]
    assert label == f"查看第{n}项" and item == f"{page}/{n}"
    html = client.get(path_of(item)).get_data(as_text=True)
    assert "缺少2019年台账" in html and "<form" in html  # the person's own page: their pen


def test_a_return_from_chat_carries_the_doors_buttons(client, bound):
    n = lead_item(bound)
    set_status(bound, n, DEPT, Status.IN_PROGRESS, explanation="已上传。")
    office = Incoming(
        "console", "admin", f"退回 {n} {DEPT} 缺少盖章版", mentioned=True, is_admin=True
    )
    assert "退回" in bound.dispatcher.handle(office).text
    (notice,) = [x for _, x, _ in read_outbox(bound.store) if "被依法治区办退回" in x.text]
    _, got = split_actions(notice.text)
    assert [t for t, _ in got] == ["打开填报页", f"查看第{n}项"]
    assert all("/m/d/" in u for _, u in got)
    # the liaison it @-mentions (org.yaml's, on the sandbox) no robot here can @: a card on
    # both; a DingTalk liaison would be @-mentioned on the DingTalk robot, and the ping wins
    ding = Route("dingtalk_webhook", "dingtalk", "r", "钉钉", url="https://oapi.dingtalk.com/x")
    (card,) = bodies_for(ding, notice.text, notice.mentions, "")
    assert card["msgtype"] == "actionCard"
    (md,) = bodies_for(ding, notice.text, ("dingtalk:staff001",), "")
    assert md["msgtype"] == "markdown" and md["at"]["atUserIds"] == ["staff001"]
    assert "/m/d/" in md["markdown"]["text"]
    wecom_route = Route("wecom_webhook", "wecom", "r", "企业微信", url="https://qyapi/x")
    (card,) = bodies_for(wecom_route, notice.text, notice.mentions, "")
    assert card["msgtype"] == "template_card"
    assert card_problems(WECOM_WEBHOOK, card, len(json.dumps(card).encode())) == ([], 0)


def test_the_doors_item_number_is_a_number_or_nothing(client, bound):
    (_, url), *_ = buttons(reply(client, "我的任务", "tasks-n"))
    door = urlsplit(url).path
    html = client.get(f"{door}?n=<script>alert(1)</script>").get_data(as_text=True)
    assert "<script>alert" not in html and 'id="item"' not in html
    assert 'id="item"' in client.get(f"{door}?n=12").get_data(as_text=True)


def test_the_wecom_apps_plain_reply_keeps_the_link_line_for_the_largest_department(card_rt):
    counts: dict[str, int] = {}
    for _, d in card_rt.assignments:
        counts[d] = counts.get(d, 0) + 1
    largest = max(counts, key=lambda d: (counts[d], d))
    bind = Incoming("wecom_app", "wangwu", f"绑定 {largest}", mentioned=True, message_id="a-1")
    card_rt.dispatcher.handle(bind)
    tasks = Incoming("wecom_app", "wangwu", "我的任务", mentioned=True, message_id="a-2")
    text = card_rt.dispatcher.handle(tasks).text
    plain = wecom.markup(text, "text")
    # the passive text reply holds 2,048 bytes: the page's line must not be what is cut
    assert len(plain.encode()) <= wecom.WECOM_TEXT_LIMIT
    assert plain.splitlines()[-1].startswith(f"➜ 打开填报页 {PUBLIC}/m/")
