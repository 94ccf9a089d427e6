"""Feishu cards with buttons and files sent in chat, pure parts and against the stub platform
server: the card a text with a buttons line becomes (checked by the stub's card schema and
size limits), where it stays Markdown (a mention, too large), `image` / `file` / `post` events
read as attachments (the encrypted, signed event also read by lark-oapi, Feishu's own SDK),
and the message resource download, whose URL and answer lark-oapi agrees with."""

from __future__ import annotations

import json
import time

import lark_oapi as lark
import pytest
import requests
from lark_oapi.api.im.v1 import GetMessageResourceRequest, P2ImMessageReceiveV1
from lark_oapi.core.json import JSON
from lark_oapi.core.model import RawRequest
from lark_oapi.event.dispatcher_handler import EventDispatcherHandler

from bot import filefetch
from bot.chatfiles import Attachment
from bot.config import Settings
from bot.messages import HttpIn
from bot.platforms.base import MalformedError, encode_json
from bot.platforms.feishu import Feishu
from bot.platforms.feishu import bodies as fb
from bot.platforms.feishu import outbound as fo
from bot.render import split_actions, with_actions
from tests.http.callbacks import (
    FEISHU_ENCRYPT_KEY,
    FEISHU_TOKEN,
    feishu_file_message,
    feishu_request,
)
from tests.stubs.platform_server import (
    FEISHU_API_LIMITS,
    FEISHU_HOOK_LIMIT,
    FEISHU_RESOURCE,
    PlatformStub,
    feishu_card_problems,
)

PAGE = "https://duban.example.gov.cn/m/d/司法局.sig"
BUTTONS = [("打开填报页", PAGE), ("查看第12项", f"{PAGE}?n=12")]
TEXT = with_actions("**司法局** 今日提醒\n- 第12项 已退回：缺少盖章版\n- 第13项 未开始", BUTTONS)
PDF = b"%PDF-1.7\n1 0 obj<</Type/Catalog>>endobj\n%%EOF\n"
APP = ("cli_duban_test", "feishu-app-secret")


def card_of(body: dict) -> dict:
    return body["card"] if "card" in body else json.loads(body["content"])


def actions_of(card: dict) -> list[tuple[str, str, str]]:
    return [
        (b["text"]["content"], b["url"], b["type"])
        for e in card["elements"]
        if e["tag"] == "action"
        for b in e["actions"]
    ]


# --- cards with buttons -------------------------------------------------------------------------


def test_a_text_with_buttons_is_one_card_whose_buttons_open_the_same_links():
    [body] = fb.api_bodies(TEXT, chat_id="oc_1")
    assert body["msg_type"] == "interactive" and body["receive_id"] == "oc_1"
    card = card_of(body)
    assert feishu_card_problems(card) == []
    assert actions_of(card) == [
        ("打开填报页", PAGE, "primary"),
        ("查看第12项", f"{PAGE}?n=12", "default"),
    ]
    [div] = [e for e in card["elements"] if e["tag"] == "div"]
    # the buttons line left the text: nothing is said twice
    assert div["text"] == {
        "tag": "lark_md",
        "content": "**司法局** 今日提醒\n• 第12项 已退回：缺少盖章版\n• 第13项 未开始",
    }
    assert split_actions(fb.text_of(body))[1] == BUTTONS


def test_the_custom_bot_gets_the_same_card_within_20_kb_once_signed():
    [body] = fb.webhook_bodies(TEXT)
    assert body["msg_type"] == "interactive" and "content" not in body
    assert actions_of(body["card"]) == actions_of(card_of(fb.api_bodies(TEXT)[0]))
    signed = fo.sign_webhook_body(body, "secret", int(time.time()))
    assert len(encode_json(signed)) <= FEISHU_HOOK_LIMIT


def test_someone_to_mention_keeps_the_markdown_with_its_links_line():
    [body] = fb.api_bodies(TEXT, ["ou_liaison"], chat_id="oc_1")
    card = card_of(body)
    assert actions_of(card) == []  # no buttons: the ping wins
    content = card["elements"][0]["text"]["content"]
    assert content.endswith("<at id=ou_liaison></at>")
    assert f"[打开填报页]({PAGE})" in content
    # an empty mention (nobody this route can @) is no mention
    [again] = fb.api_bodies(TEXT, [""], chat_id="oc_1")
    assert actions_of(card_of(again))


def test_a_card_too_large_for_the_route_falls_back_to_numbered_markdown_parts():
    lines = "\n".join(f"- 第{i}项 " + "材料说明" * 60 for i in range(1, 46))
    text = with_actions(f"**司法局**\n{lines}", BUTTONS)
    assert len(text.encode()) > fb.API_RICH_LIMIT
    parts = fb.api_bodies(text, chat_id="oc_1")
    assert len(parts) > 1
    for part in parts:
        assert not actions_of(card_of(part))
        assert len(encode_json({**part, "uuid": "0" * 32})) <= FEISHU_API_LIMITS["interactive"]
    # the links line survives, in the last part
    assert f"[打开填报页]({PAGE})" in fb.text_of(parts[-1])
    # between the webhook's 20 KB and the API's 30 KB: a card by the app, parts by the bot
    mid = with_actions("**司法局**\n" + "\n".join(["- 第1项 " + "说明" * 60] * 65), BUTTONS)
    assert 20_000 < len(encode_json(fb.webhook_body("interactive", fb.button_card(mid)))) < 30_000
    assert len(fb.api_bodies(mid)) == 1 and actions_of(card_of(fb.api_bodies(mid)[0]))
    assert len(fb.webhook_bodies(mid)) > 1


def test_a_text_without_buttons_is_unchanged():
    [body] = fb.api_bodies("**司法局** 共 2 项")
    assert [e["tag"] for e in card_of(body)["elements"]] == ["div"]
    [plain] = fb.api_bodies("请及时报送。")
    assert plain["msg_type"] == "text"


@pytest.mark.parametrize(
    ("spoil", "problem"),
    [
        (lambda b: b.update(url=""), "is not http(s)"),
        (lambda b: b.update(url="javascript:alert(1)"), "is not http(s)"),
        (lambda b: b.update(multi_url={"url": PAGE}), "both url and multi_url"),
        (lambda b: b.update(type="laser"), "button type"),
        (lambda b: b["text"].update(content=" "), "without a text"),
        (lambda b: b.update(tag="select_static"), "is not a button"),
    ],
)
def test_the_stub_refuses_a_card_feishu_would_refuse(spoil, problem):
    card = fb.card_with_buttons("正文", BUTTONS)
    spoil(card["elements"][1]["actions"][0])
    found = feishu_card_problems(card)
    assert any(problem in p for p in found), found


# --- the stub answers cards and sizes as Feishu does ------------------------------------------


@pytest.fixture
def stub():
    with PlatformStub() as s:
        s.require_feishu_app(*APP)
        yield s


def token_of(stub) -> str:
    resp = requests.post(
        f"{stub.url}{fo.TOKEN_PATH}", json={"app_id": APP[0], "app_secret": APP[1]}, timeout=5
    )
    return resp.json()["tenant_access_token"]


def test_the_stub_takes_our_card_and_refuses_a_broken_or_oversized_one(stub):
    headers = fo.auth_headers(token_of(stub))
    [body] = fb.api_bodies(TEXT, chat_id="oc_1")
    ok = requests.post(fo.send_url(stub.url), data=encode_json(body), headers=headers, timeout=5)
    assert ok.json()["code"] == 0 and stub.rejected == []
    broken = {**body, "content": json.dumps({"elements": [{"tag": "action", "actions": []}]})}
    bad = requests.post(fo.send_url(stub.url), data=encode_json(broken), headers=headers, timeout=5)
    assert bad.json()["code"] == 230099
    assert fo.classify(bad.status_code, bad.json()).outcome == "permanent"
    huge = {**body, "content": json.dumps(fb.card_content("长" * 12000), ensure_ascii=False)}
    big = requests.post(fo.send_url(stub.url), data=encode_json(huge), headers=headers, timeout=5)
    assert big.json()["code"] == 230025
    [hook_body] = fb.webhook_bodies(TEXT)
    hook = f"{stub.url}{fo.WEBHOOK_PREFIX}hook-1"
    assert requests.post(hook, json=hook_body, timeout=5).json()["code"] == 0
    assert len(stub.rejected) == 2


# --- image, file and post events ----------------------------------------------------------------


def settings() -> Settings:
    return Settings(
        feishu_app_id=APP[0],
        feishu_app_secret=APP[1],
        feishu_verification_token=FEISHU_TOKEN,
        feishu_encrypt_key=FEISHU_ENCRYPT_KEY,
        feishu_api_base="https://open.feishu.test",
    )


def parse(event: dict):
    headers, body = feishu_request(event)
    req = HttpIn("POST", "/hooks/feishu", {}, {k.lower(): v for k, v in headers.items()}, body)
    platform = Feishu(settings())
    platform.verify(req, int(time.time() * 1000))
    return platform.parse(req), headers, body


def lark_reads(headers: dict, body: bytes) -> P2ImMessageReceiveV1:
    """The same encrypted, signed request through lark-oapi's event dispatcher."""
    seen: list[P2ImMessageReceiveV1] = []
    handler = (
        EventDispatcherHandler.builder(FEISHU_ENCRYPT_KEY, FEISHU_TOKEN)
        .register_p2_im_message_receive_v1(seen.append)
        .build()
    )
    raw = RawRequest()
    raw.uri, raw.body, raw.headers = "/hooks/feishu", body, headers
    resp = handler.do(raw)
    assert resp.status_code == 200, resp.content
    return seen[0]


def test_a_one_to_one_file_is_an_attachment_with_its_name_and_message():
    content = {"file_key": "file_v3_00ab_x", "file_name": "执法案卷评查报告.pdf"}
    event = feishu_file_message("om_file_1", "file", content, group=False)
    msg, headers, body = parse(event)
    assert msg.text == "" and msg.mentioned and not msg.is_group
    assert Attachment.from_json(msg.attachment) == Attachment(
        "feishu", "file", "file_v3_00ab_x", "执法案卷评查报告.pdf", message_id="om_file_1"
    )
    seen = lark_reads(headers, body).event.message
    assert (seen.message_id, seen.message_type) == ("om_file_1", "file")
    assert json.loads(seen.content)["file_key"] == "file_v3_00ab_x"


def test_a_group_image_is_held_and_a_post_with_an_at_and_a_photo_addresses_the_bot():
    msg, _, _ = parse(feishu_file_message("om_img", "image", {"image_key": "img_v3_1"}))
    assert msg.is_group and not msg.mentioned and msg.chat_id
    assert Attachment.from_json(msg.attachment).ref == "img_v3_1"
    post = {
        "title": "",
        "content": [
            [{"tag": "img", "image_key": "img_v3_photo", "width": 1280, "height": 960}],
            [{"tag": "img", "image_key": "img_v3_second", "width": 640, "height": 480}],
        ],
    }
    msg, headers, body = parse(feishu_file_message("om_post", "post", post))
    assert msg.mentioned and msg.text == ""
    att = Attachment.from_json(msg.attachment)
    assert (att.kind, att.ref, att.message_id) == ("image", "img_v3_photo", "om_post")
    assert JSON.marshal(lark_reads(headers, body).event.message.mentions[0].key) == '"@_user_1"'


def test_a_post_in_the_sending_form_with_a_locale_is_read_too():
    post = {"zh_cn": {"title": "", "content": [[{"tag": "img", "image_key": "img_v3_z"}]]}}
    msg, _, _ = parse(feishu_file_message("om_z", "post", post, group=False))
    assert Attachment.from_json(msg.attachment).ref == "img_v3_z"


def test_a_post_of_text_only_other_kinds_and_broken_contents():
    text_post = {"title": "", "content": [[{"tag": "text", "text": "12"}]]}
    assert parse(feishu_file_message("om_t", "post", text_post))[0] is None
    assert parse(feishu_file_message("om_a", "audio", {"file_key": "f", "duration": 3}))[0] is None
    for kind, content in [
        ("image", {}),
        ("file", {"file_name": "a.pdf"}),
        ("post", {"content": "not a list"}),
        ("post", {"content": [["not an object"]]}),
    ]:
        with pytest.raises(MalformedError):
            parse(feishu_file_message("om_x", kind, content))


# --- the message resource download --------------------------------------------------------------


def test_the_resource_url_is_the_one_lark_oapi_builds():
    req = (
        GetMessageResourceRequest.builder()
        .message_id("om_1")
        .file_key("file_v3_x")
        .type("file")
        .build()
    )
    uri = req.uri.replace(":message_id", req.paths["message_id"])
    uri = uri.replace(":file_key", req.paths["file_key"])
    assert fo.resource_url("https://open.feishu.cn/", "om_1", "file_v3_x") == (
        f"https://open.feishu.cn{uri}"
    )
    assert dict(req.queries) == {"type": "file"}
    assert req.uri == FEISHU_RESOURCE


def fetch(stub, att: Attachment, token: str, max_bytes: int = 1 << 20):
    s = Settings(feishu_api_base=stub.url)
    return filefetch.fetch(att, s, requests.Session(), max_bytes, lambda family: token)


def test_we_and_lark_oapi_download_the_same_resource_from_the_stub(stub):
    stub.serve_feishu_resource("om_f", "file_v3_f", PDF, "整改报告.pdf", kind="file")
    att = Attachment("feishu", "file", "file_v3_f", message_id="om_f")
    got = fetch(stub, att, token_of(stub))
    assert (got.data, got.name) == (PDF, "整改报告.pdf")
    client = lark.Client.builder().app_id(APP[0]).app_secret(APP[1]).domain(stub.url).build()
    req = (
        GetMessageResourceRequest.builder()
        .message_id("om_f")
        .file_key("file_v3_f")
        .type("file")
        .build()
    )
    resp = client.im.v1.message_resource.get(req)
    assert resp.success(), (resp.code, resp.msg)
    assert resp.file.read() == PDF and resp.file_name == "整改报告.pdf"
    [ours, sdk] = stub.requests_to(FEISHU_RESOURCE, key="om_f")
    assert ours.raw_path == sdk.raw_path and ours.query == sdk.query == {"type": "file"}


def test_a_refused_token_is_a_stale_token_and_other_errors_fail(stub):
    stub.serve_feishu_resource("om_i", "img_v3_i", b"\x89PNG\r\n\x1a\n", kind="image")
    image = Attachment("feishu", "image", "img_v3_i", message_id="om_i")
    with pytest.raises(filefetch.StaleToken) as e:
        fetch(stub, image, "t-forged")
    assert (e.value.family, e.value.token, e.value.code) == ("feishu", "t-forged", 99991663)
    token = token_of(stub)
    assert fetch(stub, image, token).data.startswith(b"\x89PNG")
    as_file = Attachment("feishu", "file", "img_v3_i", message_id="om_i")  # wrong type
    with pytest.raises(filefetch.FetchFailed) as e:
        fetch(stub, as_file, token)
    assert e.value.code == 234003 and not isinstance(e.value, filefetch.StaleToken)
    with pytest.raises(filefetch.TooLarge):
        stub.serve_feishu_resource("om_b", "file_b", b"%PDF-1.4\n" + b"0" * 5000)
        fetch(stub, Attachment("feishu", "file", "file_b", message_id="om_b"), token, 1000)
