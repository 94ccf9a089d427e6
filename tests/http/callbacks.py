"""Platform callbacks as the platforms send them: DingTalk requests signed with HmacSHA256
(platforms.md §3.1), WeCom ones encrypted and signed by wechatpy, an implementation independent
of ours (§2.3). Used by the HTTP tests of /hooks/*.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import xml.etree.ElementTree as ET

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
    """A text @-message shaped like the real payload in zhayujie/bot-on-anything#274 (§3.1)."""
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
    return WechatpyCrypto(WECOM_TOKEN, WECOM_AES_KEY, "")  # receiveid "" (§2.3)


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
