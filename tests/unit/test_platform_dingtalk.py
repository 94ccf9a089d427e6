"""DingTalk: callback signature (V-D3), body parsing and its type errors, passive replies, the
sessionWebhook, custom-robot 加签 (V-D1/V-D2) and the OpenAPI push bodies
(https://open.dingtalk.com/document/orgapp/receive-message,
https://open.dingtalk.com/document/orgapp/custom-robots-send-group-messages)."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, quote_plus, urlsplit

import pytest

from bot.config import Settings
from bot.messages import HttpIn, Incoming, Reply
from bot.platforms.base import MalformedError, SignatureError, encode_json
from bot.platforms.dingtalk import (
    DingTalk,
    SessionWebhook,
    access_token_body,
    classify_errcode,
    custom_robot_bodies,
    dingtalk_sign,
    is_session_webhook_valid,
    message_body,
    openapi_group_bodies,
    openapi_group_body,
    session_webhook_body,
    sign_webhook_url,
)

VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures" / "ding_feishu_vectors.json").read_text(
        encoding="utf-8"
    )
)
V_D1 = VECTORS["dingtalk_custom_robot_send"]
V_D2 = VECTORS["dingtalk_custom_robot_send_specialchars"]
V_D3 = VECTORS["dingtalk_internal_robot_receive"]
APP_SECRET = V_D3["app_secret"]
TS = int(V_D3["header_timestamp"])
SETTINGS = Settings(
    dingtalk_app_key="ding_key", dingtalk_app_secret=APP_SECRET, dingtalk_robot_code="ding_robot"
)
PLACEHOLDER_URL = "https://oapi.dingtalk.com/robot/send?access_token=ACCESS_TOKEN_PLACEHOLDER"


@pytest.fixture
def ding() -> DingTalk:
    return DingTalk(SETTINGS)


def payload(**changes) -> dict:
    """A group @-message shaped like the real payload in zhayujie/bot-on-anything#274."""
    data = {
        "conversationId": "cidGroup123==",
        "atUsers": [{"dingtalkId": "$:LWCP_v1:$bot"}],
        "chatbotCorpId": "ding_corp",
        "chatbotUserId": "$:LWCP_v1:$bot",
        "msgId": "msgABC123==",
        "senderNick": "张三",
        "isAdmin": False,
        "senderStaffId": "staff001",
        "sessionWebhookExpiredTime": TS + 5_400_000,
        "createAt": TS,
        "senderCorpId": "ding_corp",
        "conversationType": "2",
        "senderId": "$:LWCP_v1:$sender",
        "conversationTitle": "司法局工作群",
        "isInAtList": True,
        "sessionWebhook": "https://oapi.dingtalk.com/robot/sendBySession?session=abc",
        "text": {"content": " 提交 12 https://a.cn"},
        "robotCode": "ding_robot",
        "msgtype": "text",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not ...}


def request(data: dict | bytes, timestamp: int | None = TS, sign: str | None = None) -> HttpIn:
    headers = {"content-type": "application/json"}
    if timestamp is not None:
        headers["timestamp"] = str(timestamp)
        headers["sign"] = sign if sign is not None else dingtalk_sign(APP_SECRET, timestamp)
    body = data if isinstance(data, bytes) else json.dumps(data, ensure_ascii=False).encode()
    return HttpIn(method="POST", path="/hooks/dingtalk", query={}, headers=headers, body=body)


# --- signing vectors ------------------------------------------------------------------------------------


def test_v_d3_callback_sign():
    assert dingtalk_sign(APP_SECRET, V_D3["header_timestamp"]) == V_D3["expected_header_sign"]
    assert V_D3["expected_header_sign"] == "92UGDgIfsg+R/TsQuM31m/oRC4Jq0GY3pqcyrYiQAls="


def test_v_d3_verifies_with_an_injected_now(ding):
    req = request(payload(), TS, V_D3["expected_header_sign"])
    ding.verify(req, TS)
    ding.verify(req, TS + 3_600_000)
    ding.verify(req, TS - 3_600_000)


@pytest.mark.parametrize("now", [TS + 3_600_001, TS - 3_600_001, 1_900_000_000_000])
def test_stale_timestamp_is_rejected(ding, now):
    with pytest.raises(SignatureError):
        ding.verify(request(payload(), TS, V_D3["expected_header_sign"]), now)


def test_sign_is_compared_as_plain_base64(ding):
    # The header is not URL-encoded; an encoded copy of the right value must not pass.
    encoded = "92UGDgIfsg%2BR%2FTsQuM31m%2FoRC4Jq0GY3pqcyrYiQAls%3D"
    with pytest.raises(SignatureError):
        ding.verify(request(payload(), TS, encoded), TS)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"timestamp": str(TS)},
        {"sign": V_D3["expected_header_sign"]},
        {"timestamp": "", "sign": V_D3["expected_header_sign"]},
        {"timestamp": str(TS), "sign": ""},
    ],
)
def test_missing_headers_are_rejected(ding, headers):
    req = HttpIn("POST", "/hooks/dingtalk", {}, headers, json.dumps(payload()).encode())
    with pytest.raises(SignatureError):
        ding.verify(req, TS)


@pytest.mark.parametrize(
    ("timestamp", "sign"),
    [
        (str(TS), "92UGDgIfsg+R/TsQuM31m/oRC4Jq0GY3pqcyrYiQAlt="),  # one character off
        (str(TS + 1), V_D3["expected_header_sign"]),  # sign of another timestamp
        ("1577262236757.0", V_D3["expected_header_sign"]),
        ("-1577262236757", V_D3["expected_header_sign"]),
        ("１５７７２６２２３６７５７", V_D3["expected_header_sign"]),  # full-width digits
        ("9" * 40, V_D3["expected_header_sign"]),
        (str(TS), "签名"),
    ],
)
def test_bad_timestamp_or_sign_is_rejected(ding, timestamp, sign):
    headers = {"timestamp": timestamp, "sign": sign}
    with pytest.raises(SignatureError):
        ding.verify(HttpIn("POST", "/", {}, headers, b"{}"), TS)


def test_another_secret_does_not_verify(ding):
    with pytest.raises(SignatureError):
        ding.verify(request(payload(), TS, dingtalk_sign("other-secret", TS)), TS)


def test_empty_secret_is_refused():
    with pytest.raises(ValueError):
        DingTalk(Settings())


@pytest.mark.parametrize("vector", [V_D1, V_D2])
def test_custom_robot_url_signing_vectors(vector):
    assert dingtalk_sign(vector["secret"], vector["timestamp_ms"]) == vector["sign_base64"]
    url = sign_webhook_url(PLACEHOLDER_URL, vector["secret"], int(vector["timestamp_ms"]))
    assert url == vector["full_url_from_sdk"]
    assert url.endswith("&sign=" + vector["sign_urlencoded"])


def test_v_d2_sign_has_slash_and_plus_encoded():
    url = sign_webhook_url(PLACEHOLDER_URL, V_D2["secret"], int(V_D2["timestamp_ms"]))
    sign = url.rsplit("sign=", 1)[1]
    assert "/" not in sign and "+" not in sign and "%2F" in sign and "%2B" in sign
    assert parse_qs(urlsplit(url).query)["sign"] == [V_D2["sign_base64"]]


def test_signing_replaces_a_stale_pair_and_handles_bare_urls():
    stale = V_D1["full_url_from_sdk"]
    fresh = sign_webhook_url(stale, V_D2["secret"], int(V_D2["timestamp_ms"]))
    assert fresh == V_D2["full_url_from_sdk"]
    bare = sign_webhook_url("http://127.0.0.1:8/robot/send", "SEC1", 5)
    assert bare == f"http://127.0.0.1:8/robot/send?timestamp=5&sign={_quoted('SEC1', 5)}"


def _quoted(secret: str, ts: int) -> str:
    return quote_plus(dingtalk_sign(secret, ts))


# --- parsing ---------------------------------------------------------------------------------------------


def test_group_message(ding):
    assert ding.parse(request(payload())) == Incoming(
        platform="dingtalk",
        user_id="staff001",
        text="提交 12 https://a.cn",
        chat_id="cidGroup123==",
        is_group=True,
        mentioned=True,
        message_id="msgABC123==",
        user_name="张三",
        reply_url="https://oapi.dingtalk.com/robot/sendBySession?session=abc",
        reply_url_expires_ms=TS + 5_400_000,
    )


def test_one_to_one_message_is_always_mentioned(ding):
    msg = ding.parse(request(payload(conversationType="1", isInAtList=...)))
    assert (msg.is_group, msg.chat_id, msg.mentioned) == (False, "", True)


def test_group_message_not_in_at_list(ding):
    assert ding.parse(request(payload(isInAtList=False))).mentioned is False
    assert ding.parse(request(payload(isInAtList=...))).mentioned is False


@pytest.mark.parametrize(
    ("content", "text"),
    [
        (" 你好", "你好"),
        ("@督办 排行", "排行"),
        (" @督办\u2005我的任务 全部", "我的任务 全部"),
        ("@督办", ""),
        ("排行 @张三", "排行 @张三"),
        ("\n 帮助 \n", "帮助"),
    ],
)
def test_leading_space_and_mention_are_removed(ding, content, text):
    assert ding.parse(request(payload(text={"content": content}))).text == text


def test_staff_id_falls_back_to_sender_id(ding):
    assert ding.parse(request(payload(senderStaffId=""))).user_id == "$:LWCP_v1:$sender"
    assert ding.parse(request(payload(senderStaffId=...))).user_id == "$:LWCP_v1:$sender"
    assert ding.parse(request(payload(senderStaffId=None))).user_id == "$:LWCP_v1:$sender"


@pytest.mark.parametrize("msgtype", ["richText", "audio", "video"])
def test_non_text_messages_are_not_for_us(ding, msgtype):
    assert ding.parse(request(payload(msgtype=msgtype, text=...))) is None


def test_a_picture_or_file_carries_its_download_code(ding):
    """消息发送与接收类型: a picture's and a file's `content` hold the downloadCode; a file its name."""
    from bot.chatfiles import Attachment

    pic = payload(
        msgtype="picture",
        text=...,
        content={"downloadCode": "dc-pic", "pictureDownloadCode": "pdc"},
    )
    msg = ding.parse(request(pic))
    assert msg.text == "" and Attachment.from_json(msg.attachment) == Attachment(
        "dingtalk", "image", "dc-pic", "", "ding_robot"
    )
    doc = payload(
        msgtype="file",
        text=...,
        content={"downloadCode": "dc-file", "fileName": "报告.pdf", "spaceId": "1"},
    )
    att = Attachment.from_json(ding.parse(request(doc)).attachment)
    assert (att.kind, att.ref, att.name) == ("file", "dc-file", "报告.pdf")
    with pytest.raises(MalformedError):
        ding.parse(request(payload(msgtype="file", text=..., content={"fileName": "a.pdf"})))


@pytest.mark.parametrize(
    "changes",
    [
        {"text": "提交 12"},  # text must be an object
        {"text": ...},
        {"text": {"content": 12}},
        {"text": {}},
        {"conversationType": 2},  # a string, not a number
        {"conversationType": "3"},
        {"conversationType": ...},
        {"isInAtList": "true"},
        {"senderStaffId": 1001},
        {"senderId": ["x"], "senderStaffId": ""},
        {"senderStaffId": "", "senderId": ""},
        {"msgId": 7},
        {"senderNick": {"name": "张三"}},
        {"conversationId": 5},
        {"conversationId": ""},  # a group needs its conversation
        {"msgtype": 1},
        {"msgtype": ...},
    ],
)
def test_wrong_types_are_malformed(ding, changes):
    with pytest.raises(MalformedError):
        ding.parse(request(payload(**changes)))


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"[]", b'"text"', b"null", b"\xff\xfe", b"[" * 100000, b"{" + b"1" * 10],
)
def test_bad_json_is_malformed(ding, body):
    with pytest.raises(MalformedError):
        ding.parse(request(body))


def test_lone_surrogates_are_replaced_and_pairs_kept(ding):
    """Escaped or as raw bytes (json reads those with surrogatepass), in values and keys; a
    proper escaped pair is one character and stays."""
    body = json.dumps(payload(text={"content": "说明 12 aSURRb 😀"}, senderNick="LONE"))
    body = body.replace("SURR", "\\ud800").replace("LONE", "\\udfff\\u5f20")
    msg = ding.parse(request(body.encode()))
    assert msg.text == "说明 12 a\ufffdb 😀" and msg.user_name == "\ufffd张"
    raw = json.dumps(payload(senderNick="X")).encode().replace(b'"X"', b'"\xed\xa0\x80"')
    assert ding.parse(request(raw)).user_name == "\ufffd"


def test_oversized_body_is_malformed(ding):
    data = payload(text={"content": "x" * (SETTINGS.max_body_bytes + 1)})
    with pytest.raises(MalformedError):
        ding.parse(request(data))


def test_handshake_never_applies(ding):
    assert ding.handshake(request(payload()), 0) is None


# --- replies ----------------------------------------------------------------------------------------------


def reply_json(ding: DingTalk, reply: Reply) -> dict:
    req = request(payload())
    out = ding.render_reply(req, ding.parse(req), reply, TS)
    assert out.status == 200 and out.content_type.startswith("application/json")
    return json.loads(out.body)


def test_silent_reply_is_empty(ding):
    assert reply_json(ding, Reply.quiet()) == {"msgtype": "empty"}
    assert reply_json(ding, Reply(text="  ")) == {"msgtype": "empty"}


def test_plain_reply_is_text(ding):
    assert reply_json(ding, Reply(text="已绑定 司法局")) == {
        "msgtype": "text",
        "text": {"content": "已绑定 司法局"},
    }


def test_reply_with_mentions_names_them_in_content_and_at(ding):
    body = reply_json(ding, Reply(text="请尽快提交", mentions=("staff001", "staff002")))
    assert body == {
        "msgtype": "text",
        "text": {"content": "请尽快提交\n@staff001 @staff002"},
        "at": {"atUserIds": ["staff001", "staff002"], "isAtAll": False},
    }


def test_markup_reply_is_markdown_with_a_title(ding):
    body = reply_json(ding, Reply(text="**我的任务**\n- 第 1 项 未开始\n- 第 2 项 已完成"))
    assert body["msgtype"] == "markdown"
    assert body["markdown"] == {
        "title": "我的任务",
        "text": "**我的任务**\n\n- 第 1 项 未开始\n\n- 第 2 项 已完成",
    }


def test_long_reply_without_a_session_is_truncated_to_the_body_limit(ding):
    req = request(payload(sessionWebhookExpiredTime=TS - 1))
    reply = Reply(text="- 第 1 项 司法局 未开始\n" * 2000, mentions=("a",))
    out, follow = ding.reply_plan(req, ding.parse(req), reply, TS)
    body = json.loads(out.body)
    assert follow is None
    assert len(encode_json(body)) <= 20000
    assert body["markdown"]["text"].endswith("…\n\n@a")


def test_a_reply_of_many_short_lines_stays_within_the_body_limit(ding):
    # 8,806 bytes of text, but each line break becomes "\n\n" and then "\\n\\n" in JSON:
    # rendered whole it would be 22,062 bytes, over DingTalk's 20,000 (460101).
    req = request(payload())
    reply = Reply(text="**x**\n" + "a\n" * 4400)
    out, follow = ding.reply_plan(req, ding.parse(req), reply, TS)
    assert len(out.body) <= 20000
    assert json.loads(out.body)["markdown"]["text"].startswith("(1/")
    assert follow is not None and follow["parts"]


def test_long_reply_with_a_session_sends_part_one_and_plans_the_rest(ding):
    req = request(payload())
    reply = Reply(text="- 第 1 项 司法局 未开始\n" * 2000, mentions=("a",))
    out, follow = ding.reply_plan(req, ding.parse(req), reply, TS)
    body = json.loads(out.body)
    assert len(encode_json(body)) <= 20000
    assert body["markdown"]["text"].startswith("(1/")
    assert body["at"] == {"atUserIds": ["a"], "isAtAll": False}  # mentions on the first part
    n = int(body["markdown"]["text"].split("/")[1].split(")")[0])
    assert follow["parts"] == list(range(1, n))
    assert follow["url"] == "https://oapi.dingtalk.com/robot/sendBySession?session=abc"
    assert follow["expires_at_ms"] == TS + 5_400_000
    assert out.body == ding.render_reply(req, ding.parse(req), reply, TS).body


def test_at_all():
    body = message_body("开会", ["@all"])
    assert body["at"] == {"atUserIds": [], "isAtAll": True}
    assert body["text"]["content"] == "开会"


# --- sessionWebhook ----------------------------------------------------------------------------------------


def test_session_webhook_from_the_callback(ding):
    hook = ding.session_webhook(request(payload()))
    assert hook == SessionWebhook(
        url="https://oapi.dingtalk.com/robot/sendBySession?session=abc",
        expires_at_ms=TS + 5_400_000,
    )
    assert hook.is_valid(TS)
    assert hook.is_valid(TS + 5_400_000 - 60_001)
    assert not hook.is_valid(TS + 5_400_000 - 60_000)
    assert not hook.is_valid(TS + 5_400_000 + 1)


@pytest.mark.parametrize(
    "changes",
    [
        {"sessionWebhook": ...},
        {"sessionWebhook": "https://evil.example/robot/sendBySession?session=abc"},
        {"sessionWebhook": "https://oapi.dingtalk.com.evil.example/robot/sendBySession?session=a"},
        {"sessionWebhookExpiredTime": "1577267636757"},
        {"sessionWebhookExpiredTime": True},
        {"sessionWebhookExpiredTime": ...},
    ],
)
def test_unusable_session_webhook_is_none(ding, changes):
    assert ding.session_webhook(request(payload(**changes))) is None


def test_unusable_session_webhook_leaves_no_reply_url(ding, changes):
    msg = ding.parse(request(payload(**changes)))
    assert (msg.reply_url, msg.reply_url_expires_ms) == ("", 0)
    assert ding.later(request(payload(**changes)), msg, TS) is None


test_unusable_session_webhook_leaves_no_reply_url = pytest.mark.parametrize(
    "changes",
    [{"sessionWebhook": "https://evil.example/robot/sendBySession?session=abc"},
     {"sessionWebhookExpiredTime": True}, {"sessionWebhook": ...}],
)(test_unusable_session_webhook_leaves_no_reply_url)  # fmt: skip


def test_later_answers_through_the_session_while_it_is_valid(ding):
    req = request(payload())
    msg = ding.parse(req)
    assert ding.later(req, msg, TS) == {
        "url": "https://oapi.dingtalk.com/robot/sendBySession?session=abc",
        "expires_at_ms": TS + 5_400_000,
        "chat": "cidGroup123==",
    }
    assert ding.later(req, msg, TS + 5_400_000 - 60_000) is None  # too close to expiry
    one_to_one = ding.parse(request(payload(conversationType="1")))
    assert ding.later(req, one_to_one, TS)["chat"] == "staff001"
    no_id = ding.parse(request(payload(msgId="")))
    assert ding.later(req, no_id, TS) is None
    inline = DingTalk(SETTINGS.with_(dingtalk_reply="inline"))
    assert inline.later(req, inline.parse(req), TS) is None


def test_session_webhook_follows_the_configured_base():
    local = DingTalk(SETTINGS.with_(dingtalk_oapi_base="http://127.0.0.1:9999"))
    data = payload(sessionWebhook="http://127.0.0.1:9999/robot/sendBySession?session=s1")
    assert local.session_webhook(request(data)).url.endswith("session=s1")


def test_is_session_webhook_valid():
    assert is_session_webhook_valid(10_000, 0, margin_ms=0)
    assert not is_session_webhook_valid(10_000, 10_000, margin_ms=0)
    assert not is_session_webhook_valid(10_000, 9_500, margin_ms=1_000)


def test_session_webhook_body():
    assert session_webhook_body(Reply(text="好的", mentions=("staff001",))) == {
        "msgtype": "text",
        "text": {"content": "好的\n@staff001"},
        "at": {"atUserIds": ["staff001"], "isAtAll": False},
    }


# --- custom robot and OpenAPI bodies ----------------------------------------------------------------------


def test_custom_robot_bodies_single():
    [body] = custom_robot_bodies("**排行**\n1. 司法局", ["staff001"])
    assert body == {
        "msgtype": "markdown",
        "markdown": {"title": "排行", "text": "**排行**\n\n1. 司法局\n\n@staff001"},
        "at": {"atUserIds": ["staff001"], "isAtAll": False},
    }


@pytest.mark.parametrize("kind", ["text", "markdown"])
def test_custom_robot_bodies_split_under_20000_bytes(kind):
    text = "\n".join(
        f"- 第{i}项 **司法局** 未开始 [材料](https://a.cn/{i})" for i in range(1, 1500)
    )
    bodies = custom_robot_bodies(text, ["staff001"], kind=kind)
    assert len(bodies) > 1
    assert all(len(encode_json(b)) <= 20000 for b in bodies)
    assert "at" in bodies[0] and all("at" not in b for b in bodies[1:])
    first = bodies[0]["text"]["content"] if kind == "text" else bodies[0]["markdown"]["text"]
    assert first.startswith(f"(1/{len(bodies)})")


def test_openapi_group_body():
    body = openapi_group_body("ding_robot", "cidGroup123==", "今日排行", "text")
    assert body == {
        "robotCode": "ding_robot",
        "openConversationId": "cidGroup123==",
        "msgKey": "sampleText",
        "msgParam": '{"content":"今日排行"}',
    }
    md = openapi_group_body("r", "c", "**排行**", "markdown", "排行")
    assert md["msgKey"] == "sampleMarkdown"
    assert json.loads(md["msgParam"]) == {"title": "排行", "text": "**排行**"}
    with pytest.raises(ValueError):
        openapi_group_body("r", "c", "x", "actionCard")


def test_openapi_group_bodies_keep_msgparam_under_15000_bytes():
    text = "\n".join(f"- 第{i}项 **司法局** 未开始" for i in range(1, 2000))
    bodies = openapi_group_bodies("r", "c", text)
    assert len(bodies) > 1
    assert all(len(b["msgParam"].encode()) <= 15000 for b in bodies)
    assert {b["msgKey"] for b in bodies} == {"sampleMarkdown"}
    [plain] = openapi_group_bodies("r", "c", "早上好")
    assert plain["msgKey"] == "sampleText"


def test_access_token_body_and_urls(ding):
    assert access_token_body("k", "s") == {"appKey": "k", "appSecret": "s"}
    assert ding.group_send_url == "https://api.dingtalk.com/v1.0/robot/groupMessages/send"
    assert ding.access_token_url == "https://api.dingtalk.com/v1.0/oauth2/accessToken"


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        (0, "ok"),
        (130101, "rate_limited"),
        (300001, "permanent"),
        (300005, "permanent"),
        (310000, "permanent"),
        (460101, "permanent"),
        ("310000", "permanent"),
        (-1, "retry"),
        (99999, "retry"),
        (45009, "retry"),  # a WeCom code means nothing on DingTalk
    ],
)
def test_classify_dingtalk_errcodes(code, outcome):
    assert classify_errcode(code) == outcome


@pytest.mark.parametrize(
    ("code", "errmsg", "outcome"),
    [
        (410100, "send too fast, exceed 20 times per minute", "rate_limited"),
        (410100, "发送速度太快而被限流", "rate_limited"),
        (410100, "something else", "retry"),
        (310000, "too fast", "permanent"),  # a known code keeps its meaning
    ],
)
def test_dingtalk_unknown_code_saying_too_fast_backs_off(code, errmsg, outcome):
    # The newer throttle codes are not in DingTalk's table; back off on "too fast" text.
    assert classify_errcode(code, errmsg) == outcome


def test_webhook_answer_passes_the_text_for_unknown_codes():
    from bot.delivery import classify_webhook

    slow = classify_webhook("dingtalk", 200, {"errcode": 410100, "errmsg": "send too fast"})
    assert (slow.outcome, slow.errcode) == ("rate_limited", "410100")
    assert classify_webhook("dingtalk", 200, {"errcode": 410100}).outcome == "retry"


@pytest.mark.parametrize(
    ("status", "data", "outcome", "detail"),
    [
        (200, {"processQueryKey": "q1"}, "ok", ""),
        (401, {"code": "InvalidAuthentication", "message": "不合法的access_token"}, "retry", "auth"),
        (400, {"code": "InvalidAuthentication"}, "retry", "auth"),
        (400, {"code": "invalidToken", "message": "token 已过期"}, "retry", "auth"),
        # a permission the app was not granted: fetching a new token cannot help
        (403, {"code": "Forbidden.AccessDenied.AccessTokenPermissionDenied"}, "permanent",
         "HTTP 403 Forbidden.AccessDenied.AccessTokenPermissionDenied"),
        (403, {"code": "Forbidden.AccessDenied.QpsLimitForApi"}, "rate_limited",
         "Forbidden.AccessDenied.QpsLimitForApi"),
        (400, {"code": "invalidParameter", "message": "robotCode 不存在"}, "permanent",
         "HTTP 400 invalidParameter"),
        (400, {"errcode": 130101}, "rate_limited", "errcode 130101"),
        (500, None, "retry", "HTTP 500"),
        (429, {}, "retry", "HTTP 429"),
    ],
)  # fmt: skip
def test_openapi_answers_are_classified(status, data, outcome, detail):
    from bot.platforms.dingtalk.outbound import classify_openapi

    got = classify_openapi(status, data)
    assert (got.outcome, got.detail) == (outcome, detail)
