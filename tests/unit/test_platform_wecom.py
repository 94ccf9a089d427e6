"""WeCom crypto, smart bot and self-built app: the vectors in tests/fixtures/, round trips
with wechatpy as an independent implementation, and every way a callback can be rejected."""

from __future__ import annotations

import base64
import json
import random
import struct
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import unquote

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from wechatpy.crypto import WeChatCrypto as WechatpyCrypto
from wechatpy.enterprise.crypto import WeChatCrypto as WechatpyCorpCrypto

from bot.config import Settings
from bot.messages import HttpIn, Incoming, Reply
from bot.platforms import platforms_for
from bot.platforms.base import MalformedError, SignatureError, safe_xml
from bot.platforms.registry import outbound
from bot.platforms.wecom import (
    WeCom,
    encrypted_json_reply,
    stream_id_for,
    webhook_bodies,
    webhook_markdown_body,
    webhook_markdown_v2_body,
    webhook_text_body,
    webhook_url,
)
from bot.platforms.wecom import (
    classify_errcode as wecom_errcode,
)
from bot.platforms.wecom.crypto import (
    WeComCrypto,
    decode_aes_key,
    pkcs7_pad,
    pkcs7_unpad,
    sha1_signature,
)
from bot.platforms.wecom_app import (
    WeComApp,
    cdata,
    encrypted_xml_reply,
    reply_plaintext,
)

VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures" / "wecom_vectors.json").read_text(
        encoding="utf-8"
    )
)["deterministic"]
TOKEN = VECTORS["token"]
AES_KEY = VECTORS["encoding_aes_key"]
CORP_ID = VECTORS["corpid"]
PREFIX = VECTORS["random_prefix"].encode()
T0 = int(VECTORS["timestamp"])
NOW_MS = T0 * 1000

SETTINGS = Settings(
    wecom_token=TOKEN,
    wecom_aes_key=AES_KEY,
    wecom_app_token=TOKEN,
    wecom_app_aes_key=AES_KEY,
    wecom_corp_id=CORP_ID,
)


@pytest.fixture
def app() -> WeComApp:
    return WeComApp(SETTINGS)


@pytest.fixture
def bot() -> WeCom:
    return WeCom(SETTINGS)


def corp_crypto() -> WeComCrypto:
    return WeComCrypto(TOKEN, AES_KEY, CORP_ID)


def bot_crypto() -> WeComCrypto:
    return WeComCrypto(TOKEN, AES_KEY, "")


def post(body: bytes | str, signature: str, timestamp: str = str(T0), nonce: str = "1234567890"):
    raw = body.encode("utf-8") if isinstance(body, str) else body
    query = {"msg_signature": signature, "timestamp": timestamp, "nonce": nonce}
    return HttpIn(method="POST", path="/hooks/x", query=query, headers={}, body=raw)


def app_request(plaintext: str, timestamp: str = str(T0), nonce: str = "1234567890") -> HttpIn:
    """A self-built-app callback signed and encrypted by our own crypto."""
    c = corp_crypto()
    encrypt = c.encrypt(plaintext)
    body = f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    return post(body, c.sign(timestamp, nonce, encrypt), timestamp, nonce)


def bot_request(plaintext: str, timestamp: str = str(T0), nonce: str = "1234567890") -> HttpIn:
    """A smart-bot callback signed and encrypted by our own crypto."""
    c = bot_crypto()
    encrypt = c.encrypt(plaintext)
    body = json.dumps({"encrypt": encrypt})
    return post(body, c.sign(timestamp, nonce, encrypt), timestamp, nonce)


def text_xml(content: str, user: str = "zhangsan", msg_id: str = "1") -> str:
    return (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
        f"<FromUserName><![CDATA[{user}]]></FromUserName><CreateTime>{T0}</CreateTime>"
        f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content>"
        f"<MsgId>{msg_id}</MsgId><AgentID>1000002</AgentID></xml>"
    )


def bot_json(content: str = "@RankBot /rank week", **changes) -> str:
    data = json.loads(VECTORS["smartbot"]["plain"])
    data["text"] = {"content": content}
    data.update(changes)
    return json.dumps(data, ensure_ascii=False)


def raw_encrypt(raw: bytes) -> str:
    """AES-CBC with the vector key over bytes we lay out (and pad) ourselves."""
    key = decode_aes_key(AES_KEY)
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(raw) + enc.finalize()).decode()


# --- the deterministic vectors (V-W2) ---------------------------------------------------------------


def test_aes_key_decodes_to_the_vector_key():
    assert decode_aes_key(AES_KEY).hex() == VECTORS["aes_key_hex"]


@pytest.mark.parametrize("bad", ["", "short", AES_KEY + "A", AES_KEY[:-1] + "!"])
def test_bad_encoding_aes_key_is_refused(bad):
    with pytest.raises(ValueError):
        WeComCrypto(TOKEN, bad, CORP_ID)


@pytest.mark.parametrize(
    ("section", "receive_id"),
    [("verify", CORP_ID), ("inbound", CORP_ID), ("reply", CORP_ID), ("edge", CORP_ID)],
)
def test_app_vectors_encrypt_and_decrypt(section, receive_id):
    v = VECTORS[section]
    plain = v.get("plain", v.get("echostr_plain"))
    encrypt = v.get("encrypt", v.get("echostr"))
    c = WeComCrypto(TOKEN, AES_KEY, receive_id)
    assert c.encrypt(plain, PREFIX) == encrypt
    assert c.decrypt(encrypt) == plain


def test_vector_signatures():
    v = VECTORS
    assert (
        sha1_signature(TOKEN, v["timestamp"], v["nonce"], v["verify"]["echostr"])
        == (v["verify"]["msg_signature"])
    )
    assert (
        corp_crypto().sign(v["timestamp"], v["nonce"], v["inbound"]["encrypt"])
        == (v["inbound"]["msg_signature"])
    )
    r = v["reply"]
    assert corp_crypto().sign(r["timestamp"], r["nonce"], r["encrypt"]) == r["msg_signature"]
    s = v["smartbot"]
    assert bot_crypto().sign(v["timestamp"], v["nonce"], s["encrypt"]) == s["msg_signature"]


def test_printed_vector_values_match_the_json_file():
    # The V-W2 signatures as first published with the vectors, so a drift in the file is noticed.
    assert VECTORS["verify"]["msg_signature"] == "4ed389f61b7a46393541253a178d15d11d4bb259"
    assert VECTORS["inbound"]["msg_signature"] == "9f3b7f7f53e06a723e14d142c62ff84cc604ed3b"
    assert VECTORS["reply"]["msg_signature"] == "9c11d2dbe730d6a2b70b68395862f1c16da23953"
    assert VECTORS["smartbot"]["msg_signature"] == "9c020d3abe66be68dafb4fad9ef9875acfca96d6"
    assert VECTORS["smartbot"]["reply_package"]["msgsignature"] == (
        "92b1947d0be5fc9143f00ae476799dd584e950f8"
    )
    assert VECTORS["edge"]["encrypt"].startswith("ZnOlBYhoWuZLTtzBJSU1b")


def test_edge_vector_needs_a_full_32_byte_pad():
    edge = VECTORS["edge"]
    ciphertext = base64.b64decode(edge["encrypt"])
    assert len(ciphertext) == edge["ciphertext_len"] == 96
    assert corp_crypto().decrypt(edge["encrypt"]) == edge["plain"]
    key = decode_aes_key(AES_KEY)
    dec = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    padded = dec.update(ciphertext) + dec.finalize()
    assert padded[-32:] == bytes([32]) * 32
    # The padding gotcha (https://developer.work.weixin.qq.com/document/path/90968 pads to 32): a
    # 16-byte-block unpadder rejects this valid message.
    unpadder = padding.PKCS7(128).unpadder()
    with pytest.raises(ValueError):
        unpadder.update(padded) + unpadder.finalize()


def test_smartbot_vector_with_empty_receiveid():
    s = VECTORS["smartbot"]
    assert bot_crypto().encrypt(s["plain"], PREFIX) == s["encrypt"]
    assert bot_crypto().decrypt(s["encrypt"]) == s["plain"]


def test_smartbot_reply_package_vector():
    s = VECTORS["smartbot"]
    package = encrypted_json_reply(
        bot_crypto(), s["reply_plain"], s["reply_timestamp"], s["reply_nonce"], PREFIX
    )
    assert package == s["reply_package"]


def test_app_reply_vector_c_is_reproduced_byte_for_byte():
    r = VECTORS["reply"]
    plain = reply_plaintext("zhangsan", CORP_ID, r["timestamp"], "OK")
    assert plain == r["plain"]
    body = encrypted_xml_reply(corp_crypto(), plain, r["timestamp"], r["nonce"], PREFIX)
    assert body == r["wechatpy_xml"]
    root = ET.fromstring(body)
    assert root.findtext("Encrypt") == r["encrypt"]
    assert root.findtext("MsgSignature") == r["msg_signature"]
    assert root.findtext("TimeStamp") == "1700000001"
    assert root.findtext("Nonce") == "9876543210"


# --- padding --------------------------------------------------------------------------------------


@pytest.mark.parametrize("length", range(0, 70))
def test_pkcs7_round_trip_every_pad_length(length):
    data = b"x" * length
    padded = pkcs7_pad(data)
    assert len(padded) % 32 == 0 and 1 <= padded[-1] <= 32
    assert pkcs7_unpad(padded) == data


@pytest.mark.parametrize(
    "padded",
    [
        b"",
        b"a" * 31 + b"\x01" + b"b",  # not whole blocks
        b"a" * 31 + b"\x00",  # pad 0
        b"a" * 31 + b"\x21",  # pad 33 > block
        b"a" * 29 + b"\x02\x03\x03",  # pad bytes disagree
        b"a" * 28 + b"\x04\x04\x05\x04",
    ],
)
def test_pkcs7_unpad_is_strict(padded):
    with pytest.raises(ValueError):
        pkcs7_unpad(padded)


def test_bad_padding_inside_a_ciphertext_is_rejected():
    msg = b"hello"
    raw = PREFIX + struct.pack(">I", len(msg)) + msg + CORP_ID.encode()
    raw += b"\x00" * (32 - len(raw) % 32)  # zero padding, not PKCS#7
    with pytest.raises(SignatureError):
        corp_crypto().decrypt(raw_encrypt(raw))


def test_length_field_beyond_the_message_is_rejected():
    raw = PREFIX + struct.pack(">I", 1000) + b"hello" + CORP_ID.encode()
    with pytest.raises(SignatureError):
        corp_crypto().decrypt(raw_encrypt(pkcs7_pad(raw)))


def test_too_short_plaintext_is_rejected():
    with pytest.raises(SignatureError):
        corp_crypto().decrypt(raw_encrypt(pkcs7_pad(b"0123456789")))


# --- rejection: receiveid, signatures, malformed input -------------------------------------------


def test_wrong_receiveid_is_rejected():
    encrypt = WeComCrypto(TOKEN, AES_KEY, "ww_other_corp").encrypt("hi")
    with pytest.raises(SignatureError):
        corp_crypto().decrypt(encrypt)
    # an app message (corp id inside) is not a smart-bot message (receiveid "") either
    with pytest.raises(SignatureError):
        bot_crypto().decrypt(corp_crypto().encrypt("hi"))


def test_wrong_key_is_rejected():
    other = base64.b64encode(bytes(range(100, 132))).decode().rstrip("=")
    encrypt = WeComCrypto(TOKEN, other, CORP_ID).encrypt("hi")
    with pytest.raises(SignatureError):
        corp_crypto().decrypt(encrypt)


@pytest.mark.parametrize("bad", ["not base64!!", "QUJD", "", "ZnOlBYhoWuZLTtzBJSU1bQ=="])
def test_malformed_ciphertext(bad):
    with pytest.raises(MalformedError):
        corp_crypto().decrypt(bad)


def test_non_utf8_plaintext_is_malformed():
    with pytest.raises(MalformedError):
        corp_crypto().decrypt(corp_crypto().encrypt(b"\xff\xfe bad"))


def test_check_signature_rejects_tampering():
    v = VECTORS
    c = corp_crypto()
    c.check_signature(
        v["inbound"]["msg_signature"], v["timestamp"], v["nonce"], v["inbound"]["encrypt"]
    )
    for sig, ts, nonce in [
        ("0" * 40, v["timestamp"], v["nonce"]),
        (v["inbound"]["msg_signature"].upper(), v["timestamp"], v["nonce"]),
        (v["inbound"]["msg_signature"], "1700000002", v["nonce"]),
        (v["inbound"]["msg_signature"], v["timestamp"], "1234567891"),
        ("签名", v["timestamp"], v["nonce"]),
    ]:
        with pytest.raises(SignatureError):
            c.check_signature(sig, ts, nonce, v["inbound"]["encrypt"])


def test_random_prefix_must_be_16_bytes():
    with pytest.raises(ValueError):
        corp_crypto().encrypt("x", b"short")


def test_production_prefix_is_random():
    c = corp_crypto()
    assert c.encrypt("same") != c.encrypt("same")


# --- interoperability with wechatpy -----------------------------------------------------------------


def _wechatpy_encrypt(crypto, plaintext: str, nonce: str, timestamp: str) -> tuple[str, str]:
    root = ET.fromstring(crypto.encrypt_message(plaintext, nonce, timestamp))
    return root.findtext("Encrypt"), root.findtext("MsgSignature")


@pytest.mark.parametrize("length", list(range(0, 40)) + [100, 2000])
def test_wechatpy_encrypts_ours_decrypts_every_length(length):
    rnd = random.Random(length)
    text = "".join(rnd.choice("ab中文🙂x") for _ in range(length))
    theirs = WechatpyCorpCrypto(TOKEN, AES_KEY, CORP_ID)
    encrypt, signature = _wechatpy_encrypt(theirs, text, "555", str(T0))
    corp_crypto().check_signature(signature, str(T0), "555", encrypt)
    assert corp_crypto().decrypt(encrypt) == text


@pytest.mark.parametrize("length", list(range(0, 40)) + [100, 2000])
def test_ours_encrypts_wechatpy_decrypts_every_length(length):
    rnd = random.Random(1000 + length)
    text = "".join(rnd.choice("ab中文🙂x") for _ in range(length))
    c = corp_crypto()
    encrypt = c.encrypt(text)
    signature = c.sign(str(T0), "777", encrypt)
    theirs = WechatpyCorpCrypto(TOKEN, AES_KEY, CORP_ID)
    xml = f"<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    assert theirs.decrypt_message(xml, signature, str(T0), "777") == text


def test_wechatpy_app_callback_through_our_adapter(app):
    theirs = WechatpyCorpCrypto(TOKEN, AES_KEY, CORP_ID)
    body = theirs.encrypt_message(text_xml("提交 12 https://例子.cn", msg_id="42"), "99", str(T0))
    signature = ET.fromstring(body).findtext("MsgSignature")
    req = post(body, signature, str(T0), "99")
    app.verify(req, NOW_MS)
    msg = app.parse(req)
    assert msg == Incoming(
        platform="wecom_app",
        user_id="zhangsan",
        text="提交 12 https://例子.cn",
        is_group=False,
        mentioned=True,
        message_id="42",
    )


def test_wechatpy_url_verification_through_our_adapter(app):
    theirs = WechatpyCorpCrypto(TOKEN, AES_KEY, CORP_ID)
    echostr, signature = _wechatpy_encrypt(theirs, "1234567890123456789", "1", str(T0))
    query = {"msg_signature": signature, "timestamp": str(T0), "nonce": "1", "echostr": echostr}
    out = app.handshake(HttpIn("GET", "/hooks/wecom-app", query, {}, b""), NOW_MS)
    assert out.status == 200 and out.body == b"1234567890123456789"


def test_wechatpy_smartbot_callback_through_our_adapter(bot):
    theirs = WechatpyCrypto(TOKEN, AES_KEY, "")
    encrypt, signature = _wechatpy_encrypt(theirs, bot_json("@督办 我的任务"), "5", str(T0))
    req = post(json.dumps({"encrypt": encrypt}), signature, str(T0), "5")
    bot.verify(req, NOW_MS)
    assert bot.parse(req).text == "我的任务"


def test_our_app_reply_decrypts_with_wechatpy(app):
    req = app_request(text_xml("帮助"))
    msg = app.parse(req)
    out = app.render_reply(
        req, msg, Reply(text="**可用命令**\n- 帮助\n[说明](https://x.cn/a)"), NOW_MS
    )
    assert out.status == 200 and out.content_type == "application/xml"
    root = ET.fromstring(out.body)
    timestamp, nonce = root.findtext("TimeStamp"), root.findtext("Nonce")
    assert timestamp == str(T0)
    theirs = WechatpyCorpCrypto(TOKEN, AES_KEY, CORP_ID)
    plain = theirs.decrypt_message(
        out.body.decode(), root.findtext("MsgSignature"), timestamp, nonce
    )
    inner = ET.fromstring(plain)
    assert inner.findtext("ToUserName") == "zhangsan"
    assert inner.findtext("FromUserName") == CORP_ID
    assert inner.findtext("MsgType") == "text"
    # passive app replies are text: markup stripped, URL kept
    assert inner.findtext("Content") == "可用命令\n- 帮助\n说明 https://x.cn/a"


def test_our_smartbot_reply_decrypts_with_wechatpy(bot):
    req = bot_request(bot_json())
    msg = bot.parse(req)
    out = bot.render_reply(req, msg, Reply(text="**第 1 名** 司法局", mentions=("lisi",)), NOW_MS)
    package = json.loads(out.body)
    assert set(package) == {"encrypt", "msgsignature", "timestamp", "nonce"}
    assert package["timestamp"] == str(T0)
    theirs = WechatpyCrypto(TOKEN, AES_KEY, "")
    plain = theirs.decrypt_message(
        {"Encrypt": package["encrypt"]},
        package["msgsignature"],
        package["timestamp"],
        package["nonce"],
    )
    inner = json.loads(plain)
    assert inner == {
        "msgtype": "stream",
        "stream": {
            "id": stream_id_for("CAIQ16HMjQYYtestmsgid0001"),
            "finish": True,
            "content": "**第 1 名** 司法局\n<@lisi>",
        },
    }


# --- the self-built app adapter ---------------------------------------------------------------------


def test_app_url_verification_vector(app):
    v = VECTORS["verify"]
    query = {
        "msg_signature": v["msg_signature"],
        "timestamp": VECTORS["timestamp"],
        "nonce": VECTORS["nonce"],
        # Flask decodes the percent-encoded query; so do we here.
        "echostr": unquote(v["echostr_urlencoded"]),
    }
    out = app.handshake(HttpIn("GET", "/hooks/wecom-app", query, {}, b""), NOW_MS)
    assert out.status == 200
    assert out.body == b"7033183127891204355"  # exactly the plaintext: no quotes, no newline


def test_handshake_rejects_bad_signature_and_missing_params(app):
    v = VECTORS["verify"]
    good = {
        "msg_signature": v["msg_signature"],
        "timestamp": VECTORS["timestamp"],
        "nonce": VECTORS["nonce"],
        "echostr": v["echostr"],
    }
    with pytest.raises(SignatureError):
        app.handshake(HttpIn("GET", "/", {**good, "msg_signature": "f" * 40}, {}, b""), NOW_MS)
    for missing in good:
        query = {k: val for k, val in good.items() if k != missing}
        with pytest.raises(SignatureError):
            app.handshake(HttpIn("GET", "/", query, {}, b""), NOW_MS)
    with pytest.raises(SignatureError):  # signed, but two hours old
        app.handshake(HttpIn("GET", "/", good, {}, b""), NOW_MS + 7_200_000)


def test_handshake_is_none_for_post(app, bot):
    assert app.handshake(post(b"<xml/>", "x"), NOW_MS) is None
    assert bot.handshake(post(b"{}", "x"), NOW_MS) is None


def test_app_inbound_vector(app):
    v = VECTORS["inbound"]
    req = post(v["post_body"], v["msg_signature"], VECTORS["timestamp"], VECTORS["nonce"])
    app.verify(req, NOW_MS)
    assert app.parse(req) == Incoming(
        platform="wecom_app",
        user_id="zhangsan",
        text="/rank week",
        chat_id="",
        is_group=False,
        mentioned=True,
        message_id="7300000000000000001",
    )


def test_app_inbound_tampered_signature(app):
    v = VECTORS["inbound"]
    req = post(v["post_body"], "0" * 40, VECTORS["timestamp"], VECTORS["nonce"])
    with pytest.raises(SignatureError):
        app.verify(req, NOW_MS)


def test_app_inbound_tampered_ciphertext(app):
    v = VECTORS["inbound"]
    encrypt = v["encrypt"][:40] + ("A" if v["encrypt"][40] != "A" else "B") + v["encrypt"][41:]
    body = v["post_body"].replace(v["encrypt"], encrypt)
    with pytest.raises(SignatureError):  # the signature covers Encrypt
        app.verify(post(body, v["msg_signature"], VECTORS["timestamp"], VECTORS["nonce"]), NOW_MS)


@pytest.mark.parametrize("skew_s", [-3601, 3601, 10**6])
def test_stale_timestamp_is_rejected(app, skew_s):
    v = VECTORS["inbound"]
    req = post(v["post_body"], v["msg_signature"], VECTORS["timestamp"], VECTORS["nonce"])
    with pytest.raises(SignatureError):
        app.verify(req, NOW_MS + skew_s * 1000)


@pytest.mark.parametrize("skew_s", [-3600, 0, 3600])
def test_timestamp_within_an_hour_is_accepted(app, skew_s):
    v = VECTORS["inbound"]
    req = post(v["post_body"], v["msg_signature"], VECTORS["timestamp"], VECTORS["nonce"])
    app.verify(req, NOW_MS + skew_s * 1000)


@pytest.mark.parametrize("drop", ["msg_signature", "timestamp", "nonce"])
def test_missing_query_param_is_a_signature_error(app, drop):
    req = app_request(text_xml("hi"))
    query = {k: v for k, v in req.query.items() if k != drop}
    with pytest.raises(SignatureError):
        app.verify(HttpIn("POST", "/", query, {}, req.body), NOW_MS)


def test_non_numeric_timestamp_is_rejected(app):
    c = corp_crypto()
    encrypt = c.encrypt(text_xml("hi"))
    body = f"<xml><Encrypt>{encrypt}</Encrypt></xml>"
    with pytest.raises(SignatureError):
        app.verify(post(body, c.sign("１７", "1", encrypt), "１７", "1"), NOW_MS)


def test_app_message_encrypted_for_another_corp_is_rejected(app):
    other = WeComCrypto(TOKEN, AES_KEY, "ww_other_corp")
    encrypt = other.encrypt(text_xml("hi"))
    body = f"<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    req = post(body, other.sign(str(T0), "1", encrypt), str(T0), "1")
    with pytest.raises(SignatureError):
        app.verify(req, NOW_MS)
    with pytest.raises(MalformedError):  # parse without verify still refuses it
        app.parse(req)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not xml",
        b"<xml><Encrypt>",
        b"<xml></xml>",
        b"<xml><Encrypt></Encrypt></xml>",
        b"<xml><Encrypt><a>nested</a></Encrypt></xml>",
        "<xml><Encrypt>中</Encrypt></xml>".encode("gbk"),
    ],
)
def test_malformed_app_envelope(app, body):
    with pytest.raises(MalformedError):
        app.verify(post(body, "0" * 40), NOW_MS)
    with pytest.raises(MalformedError):
        app.parse(post(body, "0" * 40))


def test_malformed_inner_xml(app):
    with pytest.raises(MalformedError):
        app.parse(app_request("<xml><MsgType>text</MsgType>"))
    with pytest.raises(MalformedError):  # text without FromUserName
        app.parse(app_request("<xml><MsgType>text</MsgType><Content>x</Content></xml>"))


def test_oversized_body_is_refused(app):
    big = b"<xml><Encrypt>" + b"A" * (SETTINGS.max_body_bytes + 1) + b"</Encrypt></xml>"
    with pytest.raises(MalformedError):
        app.parse(post(big, "0" * 40))


def test_app_events_and_media_are_not_for_us(app):
    event = (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[zhangsan]]>"
        "</FromUserName><CreateTime>1</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[enter_agent]]></Event></xml>"
    )
    assert app.parse(app_request(event)) is None
    voice = text_xml("x").replace("[text]", "[voice]")
    assert app.parse(app_request(voice)) is None


def test_app_image_carries_its_media_id(app):
    """接收普通消息: an image message has PicUrl and MediaId; media/get fetches it by the id."""
    from bot.chatfiles import Attachment

    image = (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[zhangsan]]>"
        "</FromUserName><CreateTime>1</CreateTime><MsgType><![CDATA[image]]></MsgType>"
        "<PicUrl><![CDATA[https://wework.qpic.cn/x]]></PicUrl><MediaId><![CDATA[MEDIA_1]]></MediaId>"
        "<MsgId>1234567</MsgId><AgentID>1000002</AgentID></xml>"
    )
    msg = app.parse(app_request(image))
    assert (msg.user_id, msg.text, msg.message_id) == ("zhangsan", "", "1234567")
    assert Attachment.from_json(msg.attachment) == Attachment("wecom_app", "image", "MEDIA_1")
    with pytest.raises(MalformedError):
        app.parse(app_request(image.replace("MEDIA_1", "")))


def test_app_silent_reply_is_an_empty_200(app):
    req = app_request(text_xml("随便说说"))
    out = app.render_reply(req, app.parse(req), Reply.quiet(), NOW_MS)
    assert out.status == 200 and out.body == b""


def test_app_reply_is_truncated_to_2048_bytes(app):
    req = app_request(text_xml("任务"))
    out = app.render_reply(req, app.parse(req), Reply(text="第一行任务\n" * 600), NOW_MS)
    root = ET.fromstring(out.body)
    c = corp_crypto()
    c.check_signature(
        root.findtext("MsgSignature"),
        root.findtext("TimeStamp"),
        root.findtext("Nonce"),
        root.findtext("Encrypt"),
    )
    content = ET.fromstring(c.decrypt(root.findtext("Encrypt"))).findtext("Content")
    assert len(content.encode()) <= 2048
    assert content.endswith("…")


def test_cdata_survives_terminator_and_control_characters():
    value = "a]]>b\x00c\x07d"
    root = ET.fromstring(f"<x>{cdata(value)}</x>")
    assert root.text == "a]]>bcd"


# --- XML hardening ----------------------------------------------------------------------------------

XXE_BODIES = [
    b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b"<xml><Encrypt>&xxe;</Encrypt></xml>",
    b'<!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>'
    b"<xml><Encrypt>&d;</Encrypt></xml>",
    b'<!DOCTYPE xml SYSTEM "http://127.0.0.1:1/evil.dtd"><xml><Encrypt>x</Encrypt></xml>',
    b"<!DOCTYPE xml><xml><Encrypt>x</Encrypt></xml>",
    b"<xml><Encrypt>&undeclared;</Encrypt></xml>",
    '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x [<!ENTITY e "e">]><xml>&e;</xml>'.encode(
        "utf-16"
    ),
]


@pytest.mark.parametrize("body", XXE_BODIES)
def test_doctype_and_entities_are_refused(app, body):
    with pytest.raises(MalformedError):
        safe_xml(body)
    with pytest.raises(MalformedError):
        app.verify(post(body, "0" * 40), NOW_MS)


def test_doctype_inside_the_encrypted_message_is_refused(app):
    inner = (
        '<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        "<xml><FromUserName>zhangsan</FromUserName><MsgType>text</MsgType>"
        "<Content>&xxe;</Content></xml>"
    )
    req = app_request(inner)
    app.verify(req, NOW_MS)  # authentic envelope ...
    with pytest.raises(MalformedError):  # ... but the payload is refused
        app.parse(req)


def test_safe_xml_reads_plain_documents():
    root = safe_xml(VECTORS["inbound"]["plain"])
    assert root.findtext("Content") == "/rank week"


# --- the smart bot adapter ----------------------------------------------------------------------------


def test_smartbot_inbound_vector(bot):
    s = VECTORS["smartbot"]
    req = post(json.dumps({"encrypt": s["encrypt"]}), s["msg_signature"], str(T0), VECTORS["nonce"])
    bot.verify(req, NOW_MS)
    assert bot.parse(req) == Incoming(
        platform="wecom",
        user_id="zhangsan",
        text="/rank week",
        chat_id="wrkSFfCgAAtestchatid",
        is_group=True,
        mentioned=True,
        message_id="CAIQ16HMjQYYtestmsgid0001",
    )


def test_smartbot_url_verification_uses_empty_receiveid(bot):
    c = bot_crypto()
    echostr = c.encrypt("echo-123")
    query = {
        "msg_signature": c.sign("1", "2", echostr),
        "timestamp": "1",
        "nonce": "2",
        "echostr": echostr,
    }
    out = bot.handshake(HttpIn("GET", "/hooks/wecom", query, {}, b""), 1000)
    assert out.body == b"echo-123"
    corp_echo = corp_crypto().encrypt("echo-123")
    query = {
        "msg_signature": c.sign("1", "2", corp_echo),
        "timestamp": "1",
        "nonce": "2",
        "echostr": corp_echo,
    }
    with pytest.raises(SignatureError):
        bot.handshake(HttpIn("GET", "/hooks/wecom", query, {}, b""), 1000)


def test_smartbot_receive_id_is_configurable():
    custom = WeCom(SETTINGS.with_(wecom_receive_id="aibot-123"))
    c = WeComCrypto(TOKEN, AES_KEY, "aibot-123")
    encrypt = c.encrypt(bot_json())
    req = post(json.dumps({"encrypt": encrypt}), c.sign(str(T0), "1", encrypt), str(T0), "1")
    custom.verify(req, NOW_MS)
    assert custom.parse(req).text == "/rank week"


def test_smartbot_single_chat(bot):
    req = bot_request(bot_json("我的任务", chattype="single", chatid=None))
    msg = bot.parse(req)
    assert (msg.is_group, msg.chat_id, msg.mentioned, msg.text) == (False, "", True, "我的任务")


@pytest.mark.parametrize(
    ("content", "text"),
    [
        ("@RankBot /rank week", "/rank week"),
        ("@督办\u2005提交 12 https://a.cn", "提交 12 https://a.cn"),
        ("  @督办   排行  ", "排行"),
        ("@督办", ""),
        ("排行", "排行"),
        ("排行 @张三", "排行 @张三"),
    ],
)
def test_smartbot_strips_the_leading_mention(bot, content, text):
    assert bot.parse(bot_request(bot_json(content))).text == text


@pytest.mark.parametrize(
    "payload",
    [
        {"msgtype": "stream", "stream": {"id": "STREAM0001"}},
        {"msgtype": "event", "event": {"eventtype": "enter_chat"}},
        {"msgtype": "voice", "voice": {"content": "你好"}},
        {"msgtype": "mixed", "mixed": {"msg_item": []}},
    ],
)
def test_smartbot_non_text_is_not_for_us(bot, payload):
    data = {"msgid": "m1", "chattype": "single", "from": {"userid": "u"}, **payload}
    req = bot_request(json.dumps(data))
    bot.verify(req, NOW_MS)
    assert bot.parse(req) is None


@pytest.mark.parametrize("kind", ["image", "file"])
def test_smartbot_image_or_file_carries_its_encrypted_url(bot, kind):
    from bot.chatfiles import Attachment

    url = "https://ww-aibot-img-1.cos.ap-guangzhou.myqcloud.com/x?sign=s"
    data = {
        "msgid": "m1",
        "chattype": "single",
        "from": {"userid": "u"},
        "msgtype": kind,
        kind: {"url": url},
    }
    req = bot_request(json.dumps(data))
    bot.verify(req, NOW_MS)
    msg = bot.parse(req)
    assert msg.text == "" and Attachment.from_json(msg.attachment) == Attachment("wecom", kind, url)
    data[kind] = {"url": "file:///etc/passwd"}
    with pytest.raises(MalformedError):
        bot.parse(bot_request(json.dumps(data)))


@pytest.mark.parametrize(
    "changes",
    [
        {"text": "@RankBot hi"},  # text is not an object
        {"text": {"content": 5}},
        {"chattype": "channel"},
        {"chattype": 1},
        {"from": "zhangsan"},
        {"from": {"userid": 7}},
        {"from": {"userid": ""}},
        {"msgid": 123},
        {"chatid": None},  # a group without chatid
        {"msgtype": None},
    ],
)
def test_smartbot_wrong_field_types_are_malformed(bot, changes):
    data = json.loads(VECTORS["smartbot"]["plain"])
    data.update(changes)
    with pytest.raises(MalformedError):
        bot.parse(bot_request(json.dumps(data)))


@pytest.mark.parametrize("plain", ["not json", "[1, 2]", '"string"', "[" * 100000])
def test_smartbot_malformed_inner_json(bot, plain):
    with pytest.raises(MalformedError):
        bot.parse(bot_request(plain))


@pytest.mark.parametrize(
    "body", [b"", b"not json", b"[]", b'{"encrypt": 5}', b'{"Encrypt": "x"}', b"\xff"]
)
def test_smartbot_malformed_envelope(bot, body):
    with pytest.raises(MalformedError):
        bot.verify(post(body, "0" * 40), NOW_MS)
    with pytest.raises(MalformedError):
        bot.parse(post(body, "0" * 40))


def test_smartbot_tampered_signature(bot):
    req = bot_request(bot_json())
    bad = HttpIn("POST", "/", {**req.query, "msg_signature": "a" * 40}, {}, req.body)
    with pytest.raises(SignatureError):
        bot.verify(bad, NOW_MS)


def test_smartbot_silent_reply_is_an_empty_200(bot):
    req = bot_request(bot_json("随便"))
    out = bot.render_reply(req, bot.parse(req), Reply.quiet(), NOW_MS)
    assert out.status == 200 and out.body == b""


def test_smartbot_stream_id_is_stable_per_message(bot):
    assert stream_id_for("m1") == stream_id_for("m1") != stream_id_for("m2")
    assert stream_id_for("") != stream_id_for("")
    req = bot_request(bot_json())
    msg = bot.parse(req)
    ids = set()
    for _ in range(2):
        package = json.loads(bot.render_reply(req, msg, Reply(text="ok"), NOW_MS).body)
        ids.add(json.loads(bot_crypto().decrypt(package["encrypt"]))["stream"]["id"])
    assert len(ids) == 1


def test_smartbot_stream_content_is_capped():
    req = bot_request(bot_json())
    bot = WeCom(SETTINGS)
    msg = bot.parse(req)
    package = json.loads(bot.render_reply(req, msg, Reply(text="进度条目\n" * 3000), NOW_MS).body)
    content = json.loads(bot_crypto().decrypt(package["encrypt"]))["stream"]["content"]
    assert len(content.encode()) <= 20480


# --- registry ---------------------------------------------------------------------------------------


def test_platforms_for_lists_only_enabled_platforms():
    assert set(platforms_for(SETTINGS)) == {"wecom", "wecom-app"}
    assert platforms_for(Settings()) == {}
    full = SETTINGS.with_(dingtalk_app_key="k", dingtalk_app_secret="s", dingtalk_robot_code="r")
    routes = platforms_for(full)
    assert set(routes) == {"dingtalk", "wecom", "wecom-app"}
    assert all(p.name == route for route, p in routes.items())


def test_adapters_refuse_empty_credentials():
    with pytest.raises(ValueError):
        WeCom(Settings(wecom_aes_key=AES_KEY))
    with pytest.raises(ValueError):
        WeComApp(Settings(wecom_app_token=TOKEN, wecom_app_aes_key=AES_KEY))


# --- group robot webhook bodies and error codes -------------------------------------------------------


def test_webhook_url_quotes_the_key():
    assert webhook_url("https://qyapi.weixin.qq.com/", "a-b") == (
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=a-b"
    )
    assert webhook_url("http://127.0.0.1:9", "a&b=c").endswith("?key=a%26b%3Dc")


def test_webhook_single_bodies():
    assert webhook_text_body("hi", ["zhangsan", "@all"]) == {
        "msgtype": "text",
        "text": {"content": "hi", "mentioned_list": ["zhangsan", "@all"]},
    }
    assert webhook_text_body("hi") == {"msgtype": "text", "text": {"content": "hi"}}
    assert webhook_markdown_body("**x**") == {
        "msgtype": "markdown",
        "markdown": {"content": "**x**"},
    }
    assert webhook_markdown_v2_body("- a") == {
        "msgtype": "markdown_v2",
        "markdown_v2": {"content": "- a"},
    }


def test_webhook_bodies_render_per_kind():
    text = "**催办** 第 12 项\n[材料](https://a.cn/x)"
    [text_body] = webhook_bodies(text, ["lisi"], kind="text")
    assert text_body == {
        "msgtype": "text",
        "text": {"content": "催办 第 12 项\n材料 https://a.cn/x", "mentioned_list": ["lisi"]},
    }
    [md] = webhook_bodies(text, ["lisi"], kind="markdown")
    assert md["markdown"]["content"] == text + "\n<@lisi>"
    [v2] = webhook_bodies(text, kind="markdown_v2")
    assert v2 == {"msgtype": "markdown_v2", "markdown_v2": {"content": text}}
    # markdown_v2 cannot mention: a message with mentions falls back to markdown
    [fallback] = webhook_bodies(text, ["lisi"], kind="markdown_v2")
    assert fallback["msgtype"] == "markdown"
    with pytest.raises(ValueError):
        webhook_bodies(text, kind="news")


@pytest.mark.parametrize(
    ("kind", "limit"), [("text", 2048), ("markdown", 4096), ("markdown_v2", 4096)]
)
def test_webhook_bodies_split_long_messages(kind, limit):
    text = "\n".join(f"- 第{i}项 **司法局** [链接](https://example.cn/{i})" for i in range(1, 400))
    bodies = webhook_bodies(text, ["lisi"] if kind != "markdown_v2" else (), kind=kind)
    assert len(bodies) > 1
    contents = [b[kind]["content"] for b in bodies]
    assert all(len(c.encode()) <= limit for c in contents)
    assert contents[0].startswith(f"(1/{len(bodies)})")
    if kind == "text":
        assert bodies[0]["text"]["mentioned_list"] == ["lisi"]
        assert all("mentioned_list" not in b["text"] for b in bodies[1:])


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        (0, "ok"),
        ("0", "ok"),
        (45009, "rate_limited"),
        (93000, "permanent"),
        (40058, "permanent"),
        (40007, "permanent"),
        (40001, "permanent"),  # every 400xx is permanent
        (40099, "permanent"),
        (40100, "retry"),
        (-1, "retry"),
        (12345, "retry"),
        (None, "retry"),
        ("oops", "retry"),
        (130101, "retry"),  # a DingTalk code means nothing on WeCom
    ],
)
def test_classify_wecom_errcodes(code, outcome):
    assert wecom_errcode(code) == outcome
    assert outbound("wecom").classify(code, "") == outcome  # what delivery asks


def test_wecom_never_branches_on_errmsg():
    assert wecom_errcode(12345, "send too fast") == "retry"


def test_classify_unknown_platform():
    with pytest.raises(ValueError):
        outbound("wecom_app")  # the app's callbacks are answered in the response; it sends nothing
    assert outbound("feishu").classify is None  # Feishu's answers carry code/msg, not errcode
