"""GET|POST /hooks/wecom: the smart bot (智能机器人) in API mode, its encrypted JSON callback
and its passive stream reply, and the URL-verification handshake and signed, encrypted
envelope it shares with the self-built app (bot/platforms/wecom_app/).

Vendor documents cited below by title:
- 智能机器人 接收消息: https://developer.work.weixin.qq.com/document/path/100719
- 智能机器人 被动回复消息: https://developer.work.weixin.qq.com/document/path/101031
- 回调配置 (URL verification, retries): https://developer.work.weixin.qq.com/document/path/90930
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from bot.chatfiles import Attachment
from bot.config import Settings
from bot.messages import HttpIn, HttpOut, Incoming, Reply
from bot.platforms.base import (
    AnswersInResponse,
    MalformedError,
    SignatureError,
    check_size,
    encode_json,
    get_obj,
    get_str,
    json_out,
    load_json_object,
    opt_str,
)
from bot.platforms.wecom.bodies import reply_stream_body
from bot.platforms.wecom.crypto import WeComCrypto

MAX_SKEW_S = 3600  # WeCom retries within seconds (回调配置); older timestamps are replays

# "@RankBot /rank week": the smart bot's text.content includes the mention (接收消息).
_LEADING_MENTION = re.compile(r"^@\S+(?:\s+|$)")


def new_nonce() -> str:
    return str(secrets.randbelow(9_000_000_000) + 1_000_000_000)


class WeComCallback(AnswersInResponse):
    """What the smart bot and the self-built app share: the GET handshake and the signed,
    encrypted POST envelope. Subclasses say how to read `Encrypt` from the body. Both answer
    in the response (a passive reply), within WeCom's 5 seconds."""

    name = ""
    platform = ""

    def __init__(self, crypto: WeComCrypto, max_body_bytes: int) -> None:
        self.crypto = crypto
        self.max_body_bytes = max_body_bytes

    def _encrypt_of(self, body: bytes) -> str:
        raise NotImplementedError

    def handshake(self, req: HttpIn, now_ms: int) -> HttpOut | None:
        """GET URL verification (回调配置): check the signature over echostr and the freshness of
        its timestamp, decrypt it, and answer exactly the plaintext (no quotes, no newline).
        None for any other request. A signed verification URL is as replayable as a callback,
        so it gets the same window: a month-old one must not still prove who we are."""
        if req.method.upper() != "GET":
            return None
        q = req.query
        echostr = q.get("echostr", "")
        signature, timestamp, nonce = (
            q.get(k, "") for k in ("msg_signature", "timestamp", "nonce")
        )
        if not (echostr and signature and timestamp and nonce):
            raise SignatureError("URL verification without msg_signature/timestamp/nonce/echostr")
        _check_fresh(timestamp, now_ms)
        self.crypto.check_signature(signature, timestamp, nonce, echostr)
        plain = self.crypto.decrypt(echostr)
        return HttpOut(status=200, body=plain.encode("utf-8"), content_type="text/plain")

    def _signed_params(self, req: HttpIn) -> tuple[str, str, str]:
        q = req.query
        signature, timestamp, nonce = (
            q.get(k, "") for k in ("msg_signature", "timestamp", "nonce")
        )
        if not (signature and timestamp and nonce):
            raise SignatureError("msg_signature, timestamp or nonce missing")
        return signature, timestamp, nonce

    def verify(self, req: HttpIn, now_ms: int) -> None:
        """Signature over the body's Encrypt, a fresh timestamp, and a ciphertext that decrypts
        under our key for our receiveid. May raise MalformedError if the envelope is unreadable."""
        signature, timestamp, nonce = self._signed_params(req)
        _check_fresh(timestamp, now_ms)
        check_size(req.body, self.max_body_bytes)
        encrypt = self._encrypt_of(req.body)
        self.crypto.check_signature(signature, timestamp, nonce, encrypt)
        self.crypto.decrypt(encrypt)

    def _decrypt_body(self, req: HttpIn) -> str:
        """The decrypted callback plaintext; any failure here is malformed (verify ran first)."""
        check_size(req.body, self.max_body_bytes)
        try:
            return self.crypto.decrypt(self._encrypt_of(req.body))
        except SignatureError as e:
            raise MalformedError(str(e)) from None

    def _reply_timestamp_nonce(self, now_ms: int) -> tuple[str, str]:
        return str(now_ms // 1000), new_nonce()


def _check_fresh(timestamp: str, now_ms: int) -> None:
    """The `timestamp` query parameter: epoch seconds within MAX_SKEW_S of now."""
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise SignatureError("timestamp is not epoch seconds")
    if abs(now_ms // 1000 - int(timestamp)) > MAX_SKEW_S:
        raise SignatureError("timestamp outside the 1-hour window")


def encrypted_json_reply(
    crypto: WeComCrypto,
    plaintext: str,
    timestamp: str,
    nonce: str,
    random_prefix: bytes | None = None,
) -> dict[str, str]:
    """The smart bot's passive reply package {encrypt, msgsignature, timestamp, nonce} (被动回复消息),
    the shape WXBizJsonMsgCrypt.EncryptMsg produces."""
    encrypt = crypto.encrypt(plaintext, random_prefix)
    return {
        "encrypt": encrypt,
        "msgsignature": crypto.sign(timestamp, nonce, encrypt),
        "timestamp": timestamp,
        "nonce": nonce,
    }


class WeCom(WeComCallback):
    """GET|POST /hooks/wecom: the smart bot, receiveid = settings.wecom_receive_id ("")."""

    name = "wecom"
    platform = "wecom"

    def __init__(self, settings: Settings) -> None:
        if not settings.wecom_token:
            raise ValueError("WeCom smart bot needs DUBAN_WECOM_TOKEN")
        crypto = WeComCrypto(
            settings.wecom_token, settings.wecom_aes_key, settings.wecom_receive_id
        )
        super().__init__(crypto, settings.max_body_bytes)

    def _encrypt_of(self, body: bytes) -> str:
        return get_str(load_json_object(body), "encrypt")

    def parse(self, req: HttpIn) -> Incoming | None:
        """Decrypted JSON → Incoming for text, images and files; stream refreshes, events and
        other media → None."""
        return incoming_from(load_json_object(self._decrypt_body(req)), self.platform)

    def render_reply(self, req: HttpIn, msg: Incoming, reply: Reply, now_ms: int) -> HttpOut:
        """An encrypted stream reply with finish=true; an empty 200 when there is nothing to say."""
        body = reply_stream_body(msg, reply)
        if body is None:
            return HttpOut(status=200, body=b"")
        plain = encode_json(body).decode("utf-8")
        timestamp, nonce = self._reply_timestamp_nonce(now_ms)
        return json_out(encrypted_json_reply(self.crypto, plain, timestamp, nonce))


def incoming_from(data: dict[str, Any], platform: str = "wecom") -> Incoming | None:
    """A smart bot message (the callback's decrypted JSON, or a long-connection frame's body)
    as an Incoming for text, images and files; stream refreshes, events and other media → None."""
    msgtype = get_str(data, "msgtype")
    attachment = ""
    if msgtype in ("image", "file"):
        attachment = _attachment(data, msgtype)
        content = ""
    elif msgtype != "text":
        return None
    else:
        content = get_str(get_obj(data, "text"), "content")
    chattype = get_str(data, "chattype")
    if chattype not in ("single", "group"):
        raise MalformedError("chattype must be 'single' or 'group'")
    user_id = get_str(get_obj(data, "from"), "userid")
    if not user_id:
        raise MalformedError("from.userid is empty")
    is_group = chattype == "group"
    chat_id = opt_str(data, "chatid")
    if is_group and not chat_id:
        raise MalformedError("group message without chatid")
    return Incoming(
        platform=platform,
        user_id=user_id,
        text=_LEADING_MENTION.sub("", content.strip(), count=1).strip(),
        chat_id=chat_id if is_group else "",
        is_group=is_group,
        # The smart bot only receives @-messages in groups, and 1:1 messages (接收消息).
        mentioned=True,
        message_id=opt_str(data, "msgid"),
        attachment=attachment,
    )


def _attachment(data: dict[str, Any], msgtype: str) -> str:
    """An `image` or `file` message (接收消息, https://developer.work.weixin.qq.com/document/path/100719):
    `<msgtype>.url` is valid for five minutes and serves the content encrypted with the bot's
    EncodingAESKey (AES-256-CBC, IV = the key's first 16 bytes, PKCS#7 to 32 bytes); over the
    long connection the message gives its own `aeskey`. A file's name comes with its download."""
    media = get_obj(data, msgtype)
    url = get_str(media, "url")
    if not url.startswith(("https://", "http://")):
        raise MalformedError(f"{msgtype}.url is not a web address")
    return Attachment("wecom", msgtype, url, "", "", opt_str(media, "aeskey")).to_json()


# --- group robot webhook (send only, 消息推送配置说明) ----------------------------------------------
