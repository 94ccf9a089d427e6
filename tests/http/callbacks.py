"""Platform callbacks as the platforms send them: DingTalk requests signed with HmacSHA256
(https://open.dingtalk.com/document/orgapp/receive-message), WeCom ones encrypted and signed by
wechatpy, an implementation independent of ours
(https://developer.work.weixin.qq.com/document/path/90968), Feishu events encrypted and signed
here with `cryptography` and hashlib directly (code independent of ours, whose output lark-oapi's AESCipher and signature check accept; see
tests/unit/test_platform_feishu.py). Used by the HTTP tests of /hooks/*.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
import xml.etree.ElementTree as ET

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from wechatpy.crypto import WeChatCrypto as WechatpyCrypto
from wechatpy.enterprise.crypto import WeChatCrypto as WechatpyCorpCrypto

DING_SECRET = "test_app_secret_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghij"
WECOM_TOKEN = "TestToken123"
WECOM_AES_KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
APP_TOKEN = "AppToken456"
APP_AES_KEY = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA"
CORP_ID = "ww0123456789abcdef"

LIMIT = 64 * 1024


def now_ms() -> int:
    return int(time.time() * 1000)


# --- DingTalk ---------------------------------------------------------------------------------


def ding_headers(timestamp: int | None = None, secret: str = DING_SECRET) -> dict[str, str]:
    """`timestamp` and `sign` headers: base64(HmacSHA256(secret, timestamp + "\\n" + secret))."""
    ts = str(now_ms() if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()
    return {
        "timestamp": ts,
        "sign": base64.b64encode(digest).decode(),
        "content-type": "application/json",
    }


def ding_payload(
    text: str, msg_id: str, user: str = "staff001", group: bool = True, session_ms: int = 5_400_000,
    oapi_base: str = "https://oapi.dingtalk.com",
) -> dict:  # fmt: skip
    """A text @-message shaped like the real payload in zhayujie/bot-on-anything#274."""
    now = now_ms()
    return {
        "conversationId": "cidGroup123==",
        "atUsers": [{"dingtalkId": "$:LWCP_v1:$bot"}],
        "chatbotCorpId": "ding_corp",
        "chatbotUserId": "$:LWCP_v1:$bot",
        "msgId": msg_id,
        "senderNick": "张三",
        "isAdmin": False,
        "senderStaffId": user,
        "sessionWebhookExpiredTime": now + session_ms,
        "createAt": now,
        "senderCorpId": "ding_corp",
        "conversationType": "2" if group else "1",
        "senderId": "$:LWCP_v1:$sender",
        "conversationTitle": "司法局工作群",
        "isInAtList": True,
        "sessionWebhook": f"{oapi_base}/robot/sendBySession?session=sess-{msg_id}",
        "text": {"content": f" {text}"},
        "robotCode": "ding-robot",
        "msgtype": "text",
    }


def ding_post(client, payload: dict | bytes, headers: dict | None = None):
    body = (
        payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
    )
    return client.post("/hooks/dingtalk", data=body, headers=headers or ding_headers())


# --- WeCom --------------------------------------------------------------------------------------


def _envelope(crypto, plaintext: str, nonce: str, timestamp: str) -> tuple[str, str]:
    root = ET.fromstring(crypto.encrypt_message(plaintext, nonce, timestamp))
    return root.findtext("Encrypt"), root.findtext("MsgSignature")


def smartbot_crypto() -> WechatpyCrypto:
    return WechatpyCrypto(WECOM_TOKEN, WECOM_AES_KEY, "")  # receiveid "" for a smart bot


def app_crypto() -> WechatpyCorpCrypto:
    return WechatpyCorpCrypto(APP_TOKEN, APP_AES_KEY, CORP_ID)


def smartbot_json(text: str, msg_id: str, user: str = "zhangsan", group: bool = True) -> str:
    data = {
        "msgid": msg_id,
        "aibotid": "AIBOTID",
        "chattype": "group" if group else "single",
        "from": {"userid": user},
        "response_url": "https://example.invalid/resp",
        "msgtype": "text",
        "text": {"content": f"@督办 {text}"},
    }
    if group:
        data["chatid"] = "wrkSFfCgAAtestchatid"
    return json.dumps(data, ensure_ascii=False)


def smartbot_request(plaintext: str, timestamp: int | None = None, nonce: str = "5551234"):
    """(query string dict, body bytes) of a smart-bot callback encrypted by wechatpy."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    encrypt, signature = _envelope(smartbot_crypto(), plaintext, nonce, ts)
    query = {"msg_signature": signature, "timestamp": ts, "nonce": nonce}
    return query, json.dumps({"encrypt": encrypt}).encode()


def app_text_xml(text: str, msg_id: str, user: str = "zhangsan") -> str:
    return (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
        f"<FromUserName><![CDATA[{user}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{text}]]></Content><MsgId>{msg_id}</MsgId>"
        f"<AgentID>1000002</AgentID></xml>"
    )


def app_request(plaintext: str, timestamp: int | None = None, nonce: str = "7771234"):
    """(query, body) of a self-built app callback: wechatpy's ciphertext in WeCom's envelope."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    encrypt, signature = _envelope(app_crypto(), plaintext, nonce, ts)
    body = (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
        f"<Encrypt><![CDATA[{encrypt}]]></Encrypt><AgentID><![CDATA[1000002]]></AgentID></xml>"
    )
    query = {"msg_signature": signature, "timestamp": ts, "nonce": nonce}
    return query, body.encode()


def handshake_query(crypto, echo: str, nonce: str = "1", timestamp: int | None = None) -> dict:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    echostr, signature = _envelope(crypto, echo, nonce, ts)
    return {"msg_signature": signature, "timestamp": ts, "nonce": nonce, "echostr": echostr}


# --- Feishu -------------------------------------------------------------------------------------

FEISHU_APP_ID = "cli_duban_test"
FEISHU_APP_SECRET = "feishu-app-secret-0123456789"
FEISHU_TOKEN = "VerifyToken_abcdef0123456789"
FEISHU_ENCRYPT_KEY = "EncryptKey-0123456789abcdef"
FEISHU_CHAT = "oc_0123456789abcdef0123456789abcdef"


def feishu_encrypt(plaintext: str, key: str = FEISHU_ENCRYPT_KEY) -> str:
    """base64(iv ‖ AES-256-CBC(PKCS#7)) with key sha256(Encrypt Key), a random iv."""
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    data = padder.update(plaintext.encode()) + padder.finalize()
    enc = Cipher(algorithms.AES(hashlib.sha256(key.encode()).digest()), modes.CBC(iv)).encryptor()
    return base64.b64encode(iv + enc.update(data) + enc.finalize()).decode()


def feishu_message(
    text: str, message_id: str, user: str = "ou_user_zhang", group: bool = True,
    chat_id: str = FEISHU_CHAT, token: str = FEISHU_TOKEN, bot_mention: bool = True,
    event_id: str | None = None,
) -> dict:  # fmt: skip
    """An im.message.receive_v1 event shaped like Feishu's sample ("接收消息"): in a group, the
    text starts with the bot's @_user_1 placeholder (mentioned_type "bot")."""
    mentions = []
    if group and bot_mention:
        text = f"@_user_1 {text}"
        mentions = [
            {
                "key": "@_user_1",
                "id": {"open_id": "ou_bot_duban", "union_id": "on_bot", "user_id": ""},
                "mentioned_type": "bot",
                "name": "督办",
                "tenant_key": "tenant_test",
            }
        ]
    return {
        "schema": "2.0",
        "header": {
            "event_id": event_id or f"ev-{message_id}",
            "event_type": "im.message.receive_v1",
            "create_time": str(now_ms()),
            "token": token,
            "app_id": FEISHU_APP_ID,
            "tenant_key": "tenant_test",
        },
        "event": {
            "sender": {
                "sender_id": {"union_id": "on_zhang", "user_id": "", "open_id": user},
                "sender_type": "user",
                "tenant_key": "tenant_test",
            },
            "message": {
                "message_id": message_id,
                "root_id": "",
                "parent_id": "",
                "create_time": str(now_ms()),
                "update_time": str(now_ms()),
                "chat_id": chat_id,
                "chat_type": "group" if group else "p2p",
                "message_type": "text",
                "content": json.dumps({"text": text}, ensure_ascii=False),
                "mentions": mentions,
                "user_agent": "Mozilla/5.0 Lark/7.0",
            },
        },
    }


def feishu_file_message(
    message_id: str, kind: str, content: dict, user: str = "ou_user_zhang", group: bool = True,
    bot_mention: bool = True,
) -> dict:  # fmt: skip
    """An `image`, `file` or `post` message event ("接收消息内容结构"): `content` as Feishu puts
    it (a JSON string in the event). A post in a group @-mentions the bot with an `at` element
    whose user_id is the @_user_1 placeholder, as Feishu sends a photo pasted after an @; an
    image or file message carries no mention (none can be typed into one)."""
    event = feishu_message("", message_id, user=user, group=group, bot_mention=False)
    message = event["event"]["message"]
    message["message_type"] = kind
    if kind == "post" and group and bot_mention:
        at = [{"tag": "at", "user_id": "@_user_1", "user_name": "督办", "style": []}]
        content = {**content, "content": [at, *content.get("content", [])]}
        message["mentions"] = feishu_message("x", "m")["event"]["message"]["mentions"]
    message["content"] = json.dumps(content, ensure_ascii=False)
    return event


def feishu_request(
    event: dict | bytes, key: str = FEISHU_ENCRYPT_KEY, timestamp: int | None = None,
    nonce: str = "nonce-1234",
) -> tuple[dict[str, str], bytes]:  # fmt: skip
    """(headers, body) of an event as Feishu posts it: encrypted and signed with `key` (plain
    and unsigned when key is "")."""
    plain = event if isinstance(event, bytes) else json.dumps(event, ensure_ascii=False).encode()
    headers = {"content-type": "application/json; charset=utf-8"}
    if not key:
        return headers, plain
    body = json.dumps({"encrypt": feishu_encrypt(plain.decode(), key)}).encode()
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = hashlib.sha256((ts + nonce + key).encode() + body).hexdigest()
    headers |= {
        "X-Lark-Request-Timestamp": ts,
        "X-Lark-Request-Nonce": nonce,
        "X-Lark-Signature": signature,
    }
    return headers, body


def feishu_post(client, event: dict | bytes, **kw):
    headers, body = feishu_request(event, **kw)
    return client.post("/hooks/feishu", data=body, headers=headers)


def wecom_media(data: bytes, encoding_aes_key: str = WECOM_AES_KEY) -> bytes:
    """A file as the smart bot's URL serves it: AES-256-CBC under the bot's EncodingAESKey, IV =
    the key's first 16 bytes, PKCS#7 padded to 32 bytes (接收消息,
    https://developer.work.weixin.qq.com/document/path/100719); built here with `cryptography`
    directly, independent of bot/filefetch.py."""
    key = base64.b64decode(encoding_aes_key + "=")
    padder = padding.PKCS7(256).padder()
    padded = padder.update(data) + padder.finalize()
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return enc.update(padded) + enc.finalize()


FEISHU_HOOK_SECRET = "feishu-custom-bot-secret"


def use_feishu_groups(stub, tmp_path, monkeypatch, department: str = "司法局") -> None:
    """An org.yaml whose `department` chats are a Feishu group pushed by the app bot and a second
    Feishu group reached only by a signed custom bot (DUBAN_ORG); the stub hands out tokens for
    our app only and checks the custom bot's signature."""
    import yaml

    from bot.config import ROOT
    from tests.stubs.platform_server import FEISHU_HOOK

    org = yaml.safe_load((ROOT / "org.yaml").read_text(encoding="utf-8"))
    for d in org["departments"]:
        if d["name"] == department:
            d["chats"] = [
                {"platform": "feishu", "chat_id": FEISHU_CHAT},
                {
                    "platform": "feishu",
                    "webhook": f"{stub.url}{FEISHU_HOOK}hook-sifa",
                    "secret": FEISHU_HOOK_SECRET,
                },
            ]
    path = tmp_path / "org.yaml"
    path.write_text(yaml.safe_dump(org, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("DUBAN_ORG", str(path))
    stub.require_feishu_app(FEISHU_APP_ID, FEISHU_APP_SECRET)
    stub.require_feishu_sign("hook-sifa", FEISHU_HOOK_SECRET)
