"""Feishu, pure parts: the event crypto and signatures against Feishu's vectors and lark-oapi
(Feishu's own SDK, an independent implementation), the URL verification, parsing of
im.message.receive_v1, and the outbound bodies, limits, signing and answer classification."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path

import pytest
from lark_oapi.api.im.v1 import P2ImMessageReceiveV1
from lark_oapi.channel.normalize.mentions import extract_mentions, resolve_mentions
from lark_oapi.core.json import JSON
from lark_oapi.core.model import RawRequest
from lark_oapi.core.utils import AESCipher
from lark_oapi.event.dispatcher_handler import EventDispatcherHandler

from bot.config import Settings
from bot.messages import HttpIn, Reply
from bot.platforms.base import MalformedError, SignatureError
from bot.platforms.feishu import Feishu
from bot.platforms.feishu import bodies as fb
from bot.platforms.feishu import outbound as fo
from bot.platforms.feishu.crypto import (
    aes_key,
    custom_bot_sign,
    decrypt_event,
    encrypt_event,
    event_signature,
)
from bot.platforms.feishu.inbound import strip_mentions
from bot.render import ALL, strip_part_prefix
from tests.http.callbacks import (
    FEISHU_ENCRYPT_KEY,
    FEISHU_TOKEN,
    feishu_encrypt,
    feishu_message,
    feishu_request,
)

VECTORS = json.loads(
    (Path(__file__).parent.parent / "fixtures" / "ding_feishu_vectors.json").read_text("utf-8")
)
EVENT = VECTORS["feishu_event"]
BOT_SIGN = VECTORS["feishu_custom_bot_sign"]


def settings(encrypt_key: str = FEISHU_ENCRYPT_KEY, token: str = FEISHU_TOKEN) -> Settings:
    return Settings(
        feishu_app_id="cli_duban_test",
        feishu_app_secret="s",
        feishu_verification_token=token,
        feishu_encrypt_key=encrypt_key,
        feishu_api_base="https://open.feishu.test",
    )


def request(headers: dict[str, str], body: bytes, method: str = "POST") -> HttpIn:
    return HttpIn(method, "/hooks/feishu", {}, {k.lower(): v for k, v in headers.items()}, body)


def now_ms() -> int:
    return int(time.time() * 1000)


# --- crypto: Feishu's vectors -------------------------------------------------------------------


def test_the_event_vector_decrypts_encrypts_and_signs_byte_for_byte():
    key = EVENT["encrypt_key"]
    assert aes_key(key).hex() == EVENT["aes_key_hex"]
    assert decrypt_event(key, EVENT["encrypt"]) == EVENT["plaintext"]
    iv = bytes.fromhex(EVENT["iv_hex"])
    assert encrypt_event(key, EVENT["plaintext"], iv) == EVENT["encrypt"]
    sig = event_signature(
        EVENT["header_timestamp"], EVENT["header_nonce"], key, EVENT["body"].encode()
    )
    assert sig == EVENT["x_lark_signature"]


def test_the_official_documentation_vector_decrypts():
    doc = EVENT["official_doc_vector"]
    assert decrypt_event(doc["encrypt_key"], doc["encrypt"]) == doc["plaintext"]


def test_the_custom_bot_sign_vector_and_not_the_dingtalk_form():
    sign = custom_bot_sign(BOT_SIGN["secret"], BOT_SIGN["timestamp_s"])
    assert sign == BOT_SIGN["sign"]
    assert sign != BOT_SIGN["WRONG_dingtalk_style_for_contrast"]
    # the documented form, spelled out with the standard library
    key = f"{BOT_SIGN['timestamp_s']}\n{BOT_SIGN['secret']}".encode()
    assert sign == base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


# --- crypto: cross-checked with lark-oapi ---------------------------------------------------------


@pytest.mark.parametrize(
    "plaintext",
    [
        "",
        "hello world",
        "0123456789abcdef",
        "绑定 司法局 🙂" * 50,
        json.dumps(feishu_message("x", "m")),
    ],
)
def test_lark_oapi_decrypts_what_we_encrypt(plaintext):
    for key in ("test key", FEISHU_ENCRYPT_KEY, "密钥"):
        encrypt = encrypt_event(key, plaintext)
        assert AESCipher(key).decrypt_str(encrypt) == plaintext
        assert decrypt_event(key, encrypt) == plaintext


def test_we_decrypt_what_the_test_helper_encrypts_and_lark_oapi_agrees():
    text = "提交 12 https://www.example.gov.cn/a.html"
    encrypt = feishu_encrypt(text)
    assert decrypt_event(FEISHU_ENCRYPT_KEY, encrypt) == AESCipher(FEISHU_ENCRYPT_KEY).decrypt_str(
        encrypt
    )


def test_a_ciphertext_for_another_key_or_damaged_is_refused():
    # A fixed IV: with a random one, the damaged last block below decrypts to valid padding
    # about once in 256 runs (and then fails as not UTF-8), so the test would flake.
    encrypt = encrypt_event(FEISHU_ENCRYPT_KEY, "hello world", iv=bytes(range(16)))
    with pytest.raises((SignatureError, MalformedError)):
        decrypt_event("another key", encrypt)
    raw = bytearray(base64.b64decode(encrypt))
    raw[-1] ^= 0x55  # the last block's padding no longer holds
    with pytest.raises(SignatureError):
        decrypt_event(FEISHU_ENCRYPT_KEY, base64.b64encode(bytes(raw)).decode())
    for bad in ("not base64!", base64.b64encode(b"x" * 16).decode(), base64.b64encode(b"x" * 40)):
        with pytest.raises(MalformedError):
            decrypt_event(FEISHU_ENCRYPT_KEY, bad if isinstance(bad, str) else bad.decode())


def lark_handler(encrypt_key: str = FEISHU_ENCRYPT_KEY, token: str = FEISHU_TOKEN):
    seen = []
    handler = (
        EventDispatcherHandler.builder(encrypt_key, token)
        .register_p2_im_message_receive_v1(seen.append)
        .build()
    )
    return handler, seen


def lark_accepts(headers: dict[str, str], body: bytes, **kw) -> bool:
    handler, _ = lark_handler(**kw)
    req = RawRequest()
    req.uri, req.headers, req.body = "/hooks/feishu", dict(headers), body
    return handler.do(req).status_code == 200


def we_accept(headers: dict[str, str], body: bytes, **kw) -> bool:
    platform = Feishu(settings(**kw))
    req = request(headers, body)
    try:
        platform.verify(req, now_ms())
        return platform.parse(req) is not None
    except (SignatureError, MalformedError):
        return False


def test_lark_oapi_accepts_the_signatures_we_compute():
    body = json.dumps(
        {"encrypt": encrypt_event(FEISHU_ENCRYPT_KEY, json.dumps(feishu_message("帮助", "om_1")))}
    ).encode()
    ts, nonce = str(int(time.time())), "n-42"
    headers = {
        "X-Lark-Request-Timestamp": ts,
        "X-Lark-Request-Nonce": nonce,
        "X-Lark-Signature": event_signature(ts, nonce, FEISHU_ENCRYPT_KEY, body),
    }
    handler, seen = lark_handler()
    req = RawRequest()
    req.uri, req.headers, req.body = "/hooks/feishu", headers, body
    assert handler.do(req).status_code == 200
    assert seen and seen[0].event.message.message_id == "om_1"
    assert we_accept(headers, body)


def tampered_requests():
    """(what was done, headers, body): a valid event and ways of spoiling it."""
    event = feishu_message("我的任务", "om_t1")
    headers, body = feishu_request(event)
    yield "valid", headers, body
    yield "body changed", headers, body.replace(b'"}', b'" }')
    yield "nonce changed", {**headers, "X-Lark-Request-Nonce": "other"}, body
    yield "signature changed", {**headers, "X-Lark-Signature": "0" * 64}, body
    wrong_key_headers, wrong_key_body = feishu_request(event, key="not our key")
    yield "signed and encrypted with another key", wrong_key_headers, wrong_key_body
    yield "wrong verification token", *feishu_request(feishu_message("x", "om_t2", token="nope"))


@pytest.mark.parametrize("case", list(tampered_requests()), ids=lambda c: c[0])
def test_we_accept_exactly_what_lark_oapi_accepts(case):
    what, headers, body = case
    assert we_accept(headers, body) == lark_accepts(headers, body) == (what == "valid")


def test_without_an_encrypt_key_both_accept_plain_events_with_the_right_token_only():
    good = json.dumps(feishu_message("帮助", "om_p1")).encode()
    bad = json.dumps(feishu_message("帮助", "om_p2", token="forged")).encode()
    h = {"Content-Type": "application/json"}
    assert we_accept(h, good, encrypt_key="") and lark_accepts(h, good, encrypt_key="")
    assert not we_accept(h, bad, encrypt_key="") and not lark_accepts(h, bad, encrypt_key="")


# --- verify: freshness and headers --------------------------------------------------------------


def test_a_stale_or_unsigned_event_is_refused_before_it_is_read():
    platform = Feishu(settings())
    event = feishu_message("帮助", "om_v1")
    headers, body = feishu_request(event, timestamp=int(time.time()) - 3601)
    with pytest.raises(SignatureError, match="window"):
        platform.verify(request(headers, body), now_ms())
    headers, body = feishu_request(event)
    for name in ("X-Lark-Request-Timestamp", "X-Lark-Request-Nonce", "X-Lark-Signature"):
        partial = {k: v for k, v in headers.items() if k != name}
        with pytest.raises(SignatureError, match="missing"):
            platform.verify(request(partial, body), now_ms())
    with pytest.raises(SignatureError, match="epoch"):
        platform.verify(request({**headers, "X-Lark-Request-Timestamp": "17e8"}, body), now_ms())
    platform.verify(request(headers, body), now_ms())  # fresh and signed: passes


def test_an_encrypted_event_without_an_encrypt_key_configured_is_refused():
    headers, body = feishu_request(feishu_message("帮助", "om_k1"))
    with pytest.raises(SignatureError):
        Feishu(settings(encrypt_key="")).parse(request(headers, body))


# --- URL verification --------------------------------------------------------------------------


def challenge(token: str = FEISHU_TOKEN) -> dict:
    return {"challenge": "ajls384kdjx98XX", "token": token, "type": "url_verification"}


@pytest.mark.parametrize("encrypt_key", ["", FEISHU_ENCRYPT_KEY])
def test_url_verification_answers_the_challenge_like_lark_oapi(encrypt_key):
    headers, body = feishu_request(challenge(), key=encrypt_key)
    headers = {"content-type": "application/json"}  # the challenge is not signed
    out = Feishu(settings(encrypt_key=encrypt_key)).handshake(request(headers, body), now_ms())
    assert out is not None and out.status == 200
    assert json.loads(out.body) == {"challenge": "ajls384kdjx98XX"}
    handler, _ = lark_handler(encrypt_key=encrypt_key)
    req = RawRequest()
    req.uri, req.headers, req.body = "/hooks/feishu", headers, body
    assert json.loads(handler.do(req).content) == json.loads(out.body)


def test_url_verification_with_a_wrong_token_is_refused_and_events_are_not_handshakes():
    _, body = feishu_request(challenge("forged"))
    with pytest.raises(SignatureError):
        Feishu(settings()).handshake(request({}, body), now_ms())
    headers, body = feishu_request(feishu_message("帮助", "om_h1"))
    assert Feishu(settings()).handshake(request(headers, body), now_ms()) is None
    assert Feishu(settings()).handshake(request({}, b"", method="GET"), now_ms()) is None
    with pytest.raises(MalformedError):
        Feishu(settings()).handshake(request({}, b"{not json"), now_ms())


# --- parse ------------------------------------------------------------------------------------


def parse(event: dict, **kw):
    headers, body = feishu_request(event)
    return Feishu(settings(**kw)).parse(request(headers, body))


def test_the_vector_event_parses_with_its_mention_placeholder_stripped():
    platform = Feishu(settings(encrypt_key=EVENT["encrypt_key"], token="VERIFY_TOKEN"))
    headers = {
        "x-lark-request-timestamp": EVENT["header_timestamp"],
        "x-lark-request-nonce": EVENT["header_nonce"],
        "x-lark-signature": EVENT["x_lark_signature"],
    }
    req = request(headers, EVENT["body"].encode())
    platform.verify(req, int(EVENT["header_timestamp"]) * 1000)
    msg = platform.parse(req)
    assert (msg.platform, msg.user_id, msg.chat_id, msg.message_id) == (
        "feishu", "ou_test", "oc_test", "om_test",
    )  # fmt: skip
    assert msg.text == "/rank week" and msg.is_group and msg.mentioned
    assert msg.reply_url == "https://open.feishu.test/open-apis/im/v1/messages/om_test/reply"


def test_a_group_message_matches_what_lark_oapi_reads_from_it():
    event = feishu_message("完成 12", "om_g1", user="ou_li")
    msg = parse(event)
    sdk = JSON.unmarshal(json.dumps(event), P2ImMessageReceiveV1).event
    assert msg.user_id == sdk.sender.sender_id.open_id
    assert msg.chat_id == sdk.message.chat_id and msg.message_id == sdk.message.message_id
    assert msg.is_group == (sdk.message.chat_type == "group")
    assert msg.text == "完成 12" and msg.mentioned


def test_mentions_of_people_stay_as_their_names_like_lark_oapi_resolves_them():
    content = "@_user_1 说明 12 已交 @_user_2 复核"
    mentions = [
        {"key": "@_user_1", "id": {"open_id": "ou_bot"}, "mentioned_type": "bot", "name": "督办"},
        {"key": "@_user_2", "id": {"open_id": "ou_wang"}, "mentioned_type": "user", "name": "王五"},
    ]
    text, mentioned = strip_mentions(content, mentions)
    ext = extract_mentions(mentions, bot_open_id="ou_bot")
    sdk = resolve_mentions(content, ext, strip_bot_mentions=True, bot_open_id="ou_bot")
    assert text == sdk == "说明 12 已交 @王五 复核" and mentioned


def test_a_group_message_that_mentions_only_someone_else_is_not_addressed_to_the_bot():
    event = feishu_message("@_user_2 我的任务", "om_g2", bot_mention=False)
    event["event"]["message"]["mentions"] = [
        {"key": "@_user_2", "id": {"open_id": "ou_wang"}, "mentioned_type": "user", "name": "王五"}
    ]
    msg = parse(event)
    assert msg.text == "@王五 我的任务" and not msg.mentioned


def test_a_one_to_one_message_is_addressed_to_the_bot():
    msg = parse(feishu_message("帮助", "om_p2p", group=False))
    assert not msg.is_group and msg.chat_id == "" and msg.mentioned and msg.text == "帮助"
    assert msg.reply_route()["chat"] == "ou_user_zhang"


def test_other_events_messages_and_senders_are_acknowledged_and_ignored():
    image = feishu_message("x", "om_i1")  # audio: pictures and files are read (files tests)
    image["event"]["message"]["message_type"] = "audio"
    other = feishu_message("x", "om_o1")
    other["header"]["event_type"] = "im.chat.member.bot.added_v1"
    bot = feishu_message("x", "om_b1")
    bot["event"]["sender"]["sender_type"] = "app"
    v1 = {"uuid": "u1", "token": FEISHU_TOKEN, "event": {"type": "message"}}
    for event in (image, other, bot, v1):
        assert parse(event) is None


@pytest.mark.parametrize(
    "spoil",
    [
        lambda e: e["event"]["message"].update(content="{not json"),
        lambda e: e["event"]["message"].update(content='"a string"'),
        lambda e: e["event"]["message"].update(chat_type="secret"),
        lambda e: e["event"]["message"].update(message_id=""),
        lambda e: e["event"]["message"].update(chat_id=""),
        lambda e: e["event"]["message"].update(mentions="@_user_1"),
        lambda e: e["event"]["sender"]["sender_id"].pop("open_id"),
        lambda e: e["event"].pop("message"),
    ],
)
def test_malformed_events_are_refused(spoil):
    event = feishu_message("帮助", "om_m1")
    spoil(event)
    with pytest.raises(MalformedError):
        parse(event)


def test_malformed_bodies_and_a_wrong_token_are_refused():
    platform = Feishu(settings(encrypt_key=""))
    for body in (b"{not json", b"[]", b'{"encrypt": 5}', b"x" * 70_000):
        with pytest.raises(MalformedError):
            platform.parse(request({}, body))
    forged = json.dumps(feishu_message("帮助", "om_f1", token="forged")).encode()
    with pytest.raises(SignatureError):
        platform.parse(request({}, forged))


def test_the_answer_is_only_an_acknowledgement_and_every_message_is_answered_later():
    platform = Feishu(settings())
    headers, body = feishu_request(feishu_message("帮助", "om_a1"))
    req = request(headers, body)
    msg = platform.parse(req)
    out = platform.render_reply(req, msg, Reply("很长的回复"), now_ms())
    assert out.status == 200 and json.loads(out.body) == {"msg": "success"}
    assert platform.later(req, msg, now_ms()) == msg.reply_route()
    assert platform.ack_mode == "ack_then_answer"


# --- bodies ----------------------------------------------------------------------------------------


def test_text_without_markup_goes_as_text_with_mentions_as_at_tags():
    [body] = fb.api_bodies("请及时报送。", ["ou_1", ALL], chat_id="oc_1")
    assert body["msg_type"] == "text" and body["receive_id"] == "oc_1"
    content = json.loads(body["content"])
    assert content == {
        "text": '请及时报送。\n<at user_id="ou_1"></at> <at user_id="all">所有人</at>'
    }


def test_markup_goes_as_a_card_of_lark_md():
    text = "**司法局** 共 2 项\n- 第1项 [材料](https://www.example.gov.cn/a)\n> 已退回"
    [body] = fb.api_bodies(text, ["ou_1"])
    assert body["msg_type"] == "interactive" and "receive_id" not in body
    card = json.loads(body["content"])
    [div] = card["elements"]
    assert div["text"]["tag"] == "lark_md"
    assert div["text"]["content"] == (
        "**司法局** 共 2 项\n• 第1项 [材料](https://www.example.gov.cn/a)\n已退回\n<at id=ou_1></at>"
    )


def test_post_content_has_paragraphs_of_runs_links_and_at_elements():
    content = fb.post_content("**加粗** 正文 [链接](https://x.gov.cn)\n\n- 项", ["ou_1"])
    assert content["zh_cn"]["content"] == [
        [
            {"tag": "text", "text": "加粗", "style": ["bold"]},
            {"tag": "text", "text": " 正文 "},
            {"tag": "a", "text": "链接", "href": "https://x.gov.cn"},
        ],
        [{"tag": "text", "text": ""}],
        [{"tag": "text", "text": "• 项"}],
        [{"tag": "at", "user_id": "ou_1"}],
    ]
    [webhook] = fb.webhook_bodies("**x**", kind="post")
    assert webhook["content"]["post"]["zh_cn"]["content"][0][0]["style"] == ["bold"]


def test_an_at_tag_someone_typed_does_not_mention_anyone():
    typed = '说明：<at user_id="all">所有人</at> 请看 <AT id=all></at>'
    text = fb.text_content(typed)["text"]
    md = fb.lark_md(typed)
    assert "<at" not in text.lower() and "<at" not in md.lower()
    assert text.replace("\u200b", "") == typed  # the characters are all still there


@pytest.mark.parametrize(
    "kind, limit", [("text", fb.API_TEXT_LIMIT), ("interactive", fb.API_RICH_LIMIT)]
)
def test_long_messages_are_split_within_the_api_limits_and_reassemble(kind, limit):
    lines = [
        f'第{i}项 **说明** "引号" https://www.example.gov.cn/{"a" * 80}/{i}' for i in range(3000)
    ]
    text = "\n".join(lines)
    parts = fb.api_bodies(text, ["ou_1"], chat_id="oc_1", kind=kind)
    assert len(parts) >= 2
    for i, body in enumerate(parts):
        sized = {**body, "uuid": fo.idempotency_key(f"push:{i}")}
        assert len(json.dumps(sized, ensure_ascii=False, separators=(",", ":")).encode()) <= limit
        assert ("ou_1" in body["content"]) == (i == 0)
    said = [strip_part_prefix(fb.text_of(b).replace("\n<at id=ou_1></at>", "")) for b in parts]
    said[0] = said[0].replace('\n<at user_id="ou_1"></at>', "")
    joined = "".join(said).replace("**", "")
    assert all(f"/{i}" in joined for i in range(3000))


def test_custom_bot_bodies_stay_within_20_kb_once_signed():
    text = "\n".join(f"部门{i}：**未报送** [链接](https://x.gov.cn/{i})" for i in range(2000))
    parts = fb.webhook_bodies(text, [ALL])
    assert len(parts) >= 2
    for body in parts:
        signed = fo.sign_webhook_body(body, "secret", int(time.time()))
        assert len(json.dumps(signed, ensure_ascii=False, separators=(",", ":")).encode()) <= 20_000
    assert parts[0]["msg_type"] == "interactive" and "<at id=all></at>" in fb.text_of(parts[0])


# --- outbound -------------------------------------------------------------------------------------


def test_endpoints():
    base = "https://open.feishu.test/"
    assert (
        fo.token_url(base)
        == "https://open.feishu.test/open-apis/auth/v3/tenant_access_token/internal"
    )
    assert (
        fo.reply_url(base, "om_1") == "https://open.feishu.test/open-apis/im/v1/messages/om_1/reply"
    )
    assert (
        fo.send_url(base)
        == "https://open.feishu.test/open-apis/im/v1/messages?receive_id_type=chat_id"
    )


def test_the_signed_webhook_body_verifies_with_the_documented_algorithm():
    body = fo.sign_webhook_body({"msg_type": "text", "content": {"text": "hi"}}, "sec", 1599360473)
    assert body["timestamp"] == "1599360473"
    key = f"{body['timestamp']}\nsec".encode()
    assert body["sign"] == base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def test_the_token_answer_is_read_strictly():
    assert fo.token_from_answer(200, {"code": 0, "tenant_access_token": "t-1", "expire": 7200}) == (
        "t-1", 7200,
    )  # fmt: skip
    for status, data in (
        (200, {"code": 10014, "msg": "app secret invalid"}),
        (200, {"code": 0, "tenant_access_token": "", "expire": 7200}),
        (200, {"code": 0, "tenant_access_token": "t-1", "expire": True}),
        (500, None),
    ):
        with pytest.raises(fo.TokenRefused):
            fo.token_from_answer(status, data)


def test_the_idempotency_key_is_stable_per_part_and_short_enough():
    a, b = fo.idempotency_key("o:1-0:ab:0"), fo.idempotency_key("o:1-0:ab:1")
    assert a == fo.idempotency_key("o:1-0:ab:0") and a != b and len(a) <= 50


@pytest.mark.parametrize(
    "status, data, headers, outcome, cooldown",
    [
        (200, {"code": 0, "msg": "success", "data": {}}, {}, "ok", None),
        (429, {"code": 99991400, "msg": "request trigger frequency limit"},
         {"x-ogw-ratelimit-reset": "52"}, "rate_limited", 52.0),
        (400, {"code": 99991400, "msg": "request trigger frequency limit"}, {}, "rate_limited", None),
        (400, {"code": 230020, "msg": "This operation triggers the frequency limit."}, {},
         "rate_limited", None),
        (200, {"code": 11232, "msg": "frequency limited psm"}, {}, "rate_limited", None),
        (200, {"code": 9499, "msg": "too many request"}, {}, "rate_limited", None),
        (200, {"code": 9499, "msg": "Bad Request"}, {}, "permanent", None),
        (400, {"code": 99991663, "msg": "Invalid access token for authorization."}, {}, "token", None),
        (400, {"code": 99991661, "msg": "Missing access token"}, {}, "token", None),
        (400, {"code": 230002, "msg": "Bot is not in the chat"}, {}, "permanent", None),
        (400, {"code": 230025, "msg": "too long"}, {}, "permanent", None),
        (200, {"code": 19021, "msg": "sign match fail"}, {}, "permanent", None),
        (500, {"code": 1, "msg": "internal"}, {}, "retry", None),
        (502, None, {}, "retry", None),
        (429, None, {"X-Ogw-Ratelimit-Reset": "99999"}, "rate_limited", 3600.0),
        (400, {"code": 1234567, "msg": "unknown"}, {}, "retry", None),
        (404, {"something": "else"}, {}, "permanent", None),
    ],
)  # fmt: skip
def test_answers_are_classified_by_code_with_feishus_reset_as_the_cool_down(
    status, data, headers, outcome, cooldown
):
    verdict = fo.classify(status, data, headers)
    assert (verdict.outcome, verdict.cooldown_s) == (outcome, cooldown)


# --- org.yaml chats and delivery routes -----------------------------------------------------------


def org_with(chat: dict):
    from bot.org import org_from_dict

    return org_from_dict(
        {"departments": [{"name": "司法局", "tags": ["区直"], "chats": [chat]}]}, "org.yaml"
    )


def test_org_yaml_takes_feishu_chats_by_chat_id_or_custom_bot_webhook():
    from bot.org import OrgError

    app = org_with({"platform": "feishu", "chat_id": "oc_1"}).chats_of("司法局")[0]
    assert (app.platform, app.chat_id) == ("feishu", "oc_1")
    hook = {
        "platform": "feishu",
        "webhook": "https://open.feishu.cn/open-apis/bot/v2/hook/t",
        "secret": "s",
    }
    bot = org_with(hook).chats_of("司法局")[0]
    assert (bot.webhook, bot.secret) == (hook["webhook"], "s")
    with pytest.raises(OrgError, match="chat_id.*webhook.*feishu"):
        org_with({"platform": "feishu", "secret": "s"})


def test_feishu_routes_prefer_the_app_bot_and_fall_back_to_the_custom_bot():
    from bot import delivery
    from bot.messages import ChatTarget

    on = settings()
    off = Settings()
    both = ChatTarget("feishu", chat_id="oc_1", webhook="https://hook.test/open-apis/bot/v2/hook/t")
    app = delivery.route_for(on, both)
    assert (app.kind, app.family, app.conversation_id) == ("feishu_chat", "feishu", "oc_1")
    assert app.url == "https://open.feishu.test/open-apis/im/v1/messages?receive_id_type=chat_id"
    assert delivery.route_for(off, both).kind == "feishu_webhook"
    assert delivery.route_for(off, ChatTarget("feishu", chat_id="oc_1")) is None
    reply = delivery.session_route("https://open.feishu.test/x/reply", 0, "oc_1", "feishu")
    assert (reply.kind, reply.family) == ("feishu_reply", "feishu")
    assert delivery.Delivery.cooldown_s(delivery.Delivery(on, None, None, None), reply) == 60


def test_a_feishu_push_mentions_only_feishu_users():
    from bot import delivery
    from bot.messages import ChatTarget, mention

    route = delivery.route_for(settings(), ChatTarget("feishu", chat_id="oc_1"))
    mentions = [mention("feishu", "ou_li"), mention("dingtalk", "staff1"), mention("wecom", "w1")]
    [body] = delivery.bodies_for(route, "请报送第12项", mentions, "")
    assert body["receive_id"] == "oc_1"
    assert json.loads(body["content"])["text"] == '请报送第12项\n<at user_id="ou_li"></at>'
