"""Files and cards on Feishu (issue 15, the Feishu part), end to end through POST /hooks/feishu
with events encrypted and signed for real, a real RQ worker, and the stub platform server
serving the message resource API (tenant token checked) and checking every card it is sent:

- a Feishu group sends a photo (a post with an @ and the picture, as Feishu sends a photo pasted
  after @督办), then the item number: the photo is downloaded once and filed under that item,
  once, also when both events are redelivered; the replies are the DingTalk/WeCom ones;
- a file sent one to one, kept under its own name; a refused tenant token fetched anew;
- a download Feishu refuses is told in the department's chat and nothing is stored;
- a push with buttons (a return) arriving as an interactive card with the same links, by the
  app bot and by the signed custom group bot; a push that @-mentions a Feishu liaison stays
  Markdown; 我的任务 in a group is answered with a card opening the department's door."""

from __future__ import annotations

import hashlib
import json

import pytest

from bot import chatfiles, delivery
from bot.config import Settings
from bot.messages import Incoming
from bot.platforms.feishu.bodies import text_of
from bot.progress import Role, Status
from bot.render import split_actions
from tests.e2e.background import notices, set_status
from tests.http.callbacks import (
    FEISHU_CHAT,
    feishu_file_message,
    feishu_message,
    feishu_post,
    use_feishu_groups,
)
from tests.http.conftest import work
from tests.stubs.platform_server import (
    FEISHU_HOOK,
    FEISHU_MESSAGES,
    FEISHU_REPLY,
    FEISHU_RESOURCE,
    FEISHU_TOKEN,
    feishu_card_problems,
)

DEPT = "司法局"
PUBLIC = "https://duban.example.gov.cn"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj<</Type/Catalog>>endobj\n%%EOF\n"


@pytest.fixture
def hook_settings(hook_settings, stub, tmp_path, monkeypatch):
    """司法局's chats: a Feishu group (the app bot) and a signed custom bot; the file store in
    this test's directory; a public address, so replies and pushes carry page links."""
    use_feishu_groups(stub, tmp_path, monkeypatch)
    monkeypatch.setenv("DUBAN_FILE_DIR", str(tmp_path / "files"))
    monkeypatch.setenv("DUBAN_FILE_MAX_MB", "20")
    monkeypatch.setenv("DUBAN_PUBLIC_URL", PUBLIC)
    monkeypatch.setenv("DUBAN_SECRET_KEY", "feishu-cards-secret-key")
    return Settings.from_env()


@pytest.fixture
def n(hook_rt) -> int:
    return min(
        i
        for (i, d) in hook_rt.assignments
        if d == DEPT and not hook_rt.catalog.get(i).is_secret and i in hook_rt.catalog.regular_ids
    )


def post(client, event: dict) -> None:
    resp = feishu_post(client, event)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json() == {"msg": "success"}


def say(client, text: str, message_id: str, **kw) -> None:
    post(client, feishu_message(text, message_id, **kw))


def replies(stub, message_id: str) -> list[str]:
    return [text_of(r.json) for r in stub.requests_to(FEISHU_REPLY, key=message_id)]


def files_on_disk(rt) -> list[str]:
    root = rt.services.files.root
    return sorted(p.name for p in root.rglob("*") if p.is_file()) if root.exists() else []


def filed(rt, n: int):
    a = rt.store.assignments.get(n, DEPT)[0]
    return [m for m in a.materials if m.file is not None]


def photo_post(message_id: str, image_key: str) -> dict:
    content = {
        "title": "",
        "content": [[{"tag": "img", "image_key": image_key, "width": 1280, "height": 960}]],
    }
    return feishu_file_message(message_id, "post", content)


def test_a_group_sends_a_photo_then_a_number_and_it_is_filed_once(hook_client, hook_rt, stub, n):
    say(hook_client, "绑定 司法局", "om_bind")
    work(hook_rt)
    stub.serve_feishu_resource("om_photo", "img_v3_photo", PNG, kind="image")
    post(hook_client, photo_post("om_photo", "img_v3_photo"))
    post(hook_client, photo_post("om_photo", "img_v3_photo"))  # Feishu retries after 15 s
    assert not stub.requests_to(FEISHU_RESOURCE)  # the callback only acknowledged it
    work(hook_rt)  # the reply, then the download
    work(hook_rt)
    assert replies(stub, "om_photo") == ["收到图片，请回复指标编号（如 12）归入该项。"]
    [got] = stub.requests_to(FEISHU_RESOURCE, key="om_photo")
    assert got.raw_path == "/open-apis/im/v1/messages/om_photo/resources/img_v3_photo"
    assert got.query == {"type": "image"}
    assert got.headers["authorization"].startswith("Bearer t-stub-")
    digest = hashlib.sha256(PNG).hexdigest()
    assert files_on_disk(hook_rt) == [digest]

    say(hook_client, str(n), "om_num")
    say(hook_client, str(n), "om_num")  # redelivered
    work(hook_rt)
    [reply] = replies(stub, "om_num")
    assert f"归入第{n}项" in reply
    [m] = filed(hook_rt, n)
    assert m.file.sha256 == digest and m.name.startswith("图片 ") and m.name.endswith(".png")
    audited = [e for e in hook_rt.store.audit.entries(200) if e.action == "file"]
    assert [(e.actor, e.department, e.indicator) for e in audited] == [
        ("feishu:ou_user_zhang", DEPT, n)
    ]
    # the hold is gone: the next number is no filing, and the photo's event again files nothing
    post(hook_client, photo_post("om_photo", "img_v3_photo"))
    say(hook_client, str(n), "om_num_2")
    work(hook_rt)
    assert "归入" not in replies(stub, "om_num_2")[0] and len(filed(hook_rt, n)) == 1
    assert len(stub.requests_to(FEISHU_RESOURCE)) == 1
    assert stub.rejected == []


def test_a_one_to_one_file_keeps_its_name_and_a_refused_token_is_fetched_anew(
    hook_client, hook_rt, stub, n
):
    say(hook_client, "绑定 司法局", "om_bind_p", group=False)
    work(hook_rt)
    # the download's first try is told the token is invalid (as after an app secret reset)
    stub.fail_next(1, errcode=99991663, path=FEISHU_RESOURCE)
    stub.serve_feishu_resource("om_pdf", "file_v3_pdf", PDF, "盖章版.pdf", kind="file")
    content = {"file_key": "file_v3_pdf", "file_name": "2024年执法案卷评查报告.pdf"}
    post(hook_client, feishu_file_message("om_pdf", "file", content, group=False))
    work(hook_rt)
    work(hook_rt)
    refused, fetched = stub.requests_to(FEISHU_RESOURCE, key="om_pdf")
    assert refused.headers["authorization"] != fetched.headers["authorization"]
    assert len(stub.requests_to(FEISHU_TOKEN)) == 2  # the refused token dropped, a new one
    assert fetched.query == {"type": "file"}
    said = "收到文件「2024年执法案卷评查报告.pdf」，请回复指标编号（如 12）归入该项。"
    assert said in replies(stub, "om_pdf")
    say(hook_client, f"第{n}项", "om_pdf_n", group=False)
    work(hook_rt)
    assert f"已将文件「2024年执法案卷评查报告.pdf」归入第{n}项" in replies(stub, "om_pdf_n")[0]
    [m] = filed(hook_rt, n)
    assert m.file.sha256 == hashlib.sha256(PDF).hexdigest() and m.file.kind == "pdf"


def test_a_resource_feishu_will_not_give_is_told_and_nothing_is_stored(
    hook_client, hook_rt, stub, n
):
    say(hook_client, "绑定 司法局", "om_bind_x")
    work(hook_rt)
    post(hook_client, photo_post("om_gone", "img_v3_gone"))  # not served: 234003
    work(hook_rt)
    work(hook_rt)
    assert files_on_disk(hook_rt) == []
    held = chatfiles.Held.from_json(hook_rt.store.held_files.get("feishu", "ou_user_zhang"))
    assert held.state == "refused" and "未能接收" in held.why
    [told] = [x for x in notices(hook_rt) if "未能接收" in x.text]
    assert told.department == DEPT and told.mentions == ("feishu:ou_user_zhang",)
    # pushed to the group, where the sender is @-mentioned
    work(hook_rt)
    pushed = [r.json for r in stub.requests_to(FEISHU_MESSAGES, key=FEISHU_CHAT)]
    [push] = [b for b in pushed if "未能接收" in text_of(b)]
    assert "ou_user_zhang" in text_of(push)
    say(hook_client, str(n), "om_gone_n")
    work(hook_rt)
    assert "未能接收" in replies(stub, "om_gone_n")[0] and filed(hook_rt, n) == []


def cards_in(requests) -> list[dict]:
    out = []
    for r in requests:
        if r.json.get("msg_type") != "interactive":
            continue
        out.append(r.json["card"] if "card" in r.json else json.loads(r.json["content"]))
    return out


def buttons_of(card: dict) -> list[tuple[str, str]]:
    return [
        (b["text"]["content"], b["url"])
        for e in card["elements"]
        if e["tag"] == "action"
        for b in e["actions"]
    ]


def lead_item(rt) -> int:
    return min(i for (i, d), r in rt.assignments.items() if d == DEPT and r is Role.LEAD)


def test_a_return_arrives_as_a_card_with_the_doors_buttons_by_app_and_custom_bot(
    hook_client, hook_rt, stub
):
    item = lead_item(hook_rt)
    set_status(hook_rt, item, DEPT, Status.IN_PROGRESS, explanation="已上传。")
    office = Incoming(
        "console", "admin", f"退回 {item} {DEPT} 缺少盖章版", mentioned=True, is_admin=True
    )
    assert "退回" in hook_rt.dispatcher.handle(office).text
    # as after any callback: one drain of the outbox is queued, and the worker pushes
    assert delivery.request_drain(hook_rt.store, hook_rt.services.enqueue)
    work(hook_rt)
    [app] = [
        c for c in cards_in(stub.requests_to(FEISHU_MESSAGES, key=FEISHU_CHAT)) if buttons_of(c)
    ]
    [bot] = [c for c in cards_in(stub.requests_to(FEISHU_HOOK, key="hook-sifa")) if buttons_of(c)]
    assert stub.rejected == [] and feishu_card_problems(app) == []
    assert buttons_of(app) == buttons_of(bot)
    labels = [label for label, _ in buttons_of(app)]
    assert labels == ["打开填报页", f"查看第{item}项"]
    assert all(url.startswith(f"{PUBLIC}/m/d/") for _, url in buttons_of(app))
    assert "被依法治区办退回" in app["elements"][0]["text"]["content"]
    assert hook_rt.store.delivery.dead_letters() == []


def test_a_push_that_mentions_a_feishu_liaison_keeps_its_links_in_the_markdown(
    hook_client, hook_rt, stub
):
    from bot.render import with_actions

    route = delivery.Route(
        "feishu_chat", "feishu", "r", "飞书群", url="https://x", conversation_id=FEISHU_CHAT
    )
    text = with_actions("**司法局** 第3项被退回", [("打开填报页", f"{PUBLIC}/m/d/x")])
    [md] = delivery.bodies_for(route, text, ("feishu:ou_liaison",), "")
    card = json.loads(md["content"])
    assert buttons_of(card) == [] and "<at id=ou_liaison></at>" in text_of(md)
    assert f"[打开填报页]({PUBLIC}/m/d/x)" in text_of(md)
    [with_buttons] = delivery.bodies_for(route, text, ("dingtalk:staff001",), "")
    assert buttons_of(json.loads(with_buttons["content"]))  # nobody Feishu can @: a card
    assert split_actions(text_of(with_buttons))[1] == [("打开填报页", f"{PUBLIC}/m/d/x")]


def test_my_tasks_in_a_feishu_group_is_a_card_opening_the_door(hook_client, hook_rt, stub):
    say(hook_client, "绑定 司法局", "om_b")
    say(hook_client, "我的任务", "om_tasks")
    work(hook_rt)
    [reply] = cards_in(stub.requests_to(FEISHU_REPLY, key="om_tasks"))
    assert stub.rejected == []
    (label, url), *_ = buttons_of(reply)
    assert label == "打开填报页" and url.startswith(f"{PUBLIC}/m/d/")
    assert f"{DEPT} · 共" in reply["elements"][0]["text"]["content"]
