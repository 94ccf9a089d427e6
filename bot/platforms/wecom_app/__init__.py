"""WeCom self-built app (自建应用) callback: encrypted XML in, encrypted passive XML reply out, with
the corp id as receiveid. An app only sees its 1:1 conversations: it cannot be added to a group
chat, so group @-commands come through the smart bot (bot/platforms/wecom/).

Vendor documents cited below by title:
- 接收消息与事件: https://developer.work.weixin.qq.com/document/path/90238
- 被动回复消息格式: https://developer.work.weixin.qq.com/document/path/90241
"""

from __future__ import annotations

import re

from bot.chatfiles import Attachment
from bot.config import Settings
from bot.messages import HttpIn, HttpOut, Incoming, Reply
from bot.platforms.base import MalformedError, safe_xml, xml_text
from bot.platforms.wecom.bodies import WECOM_TEXT_LIMIT, markup
from bot.platforms.wecom.crypto import WeComCrypto
from bot.platforms.wecom.inbound import WeComCallback
from bot.render import truncate_message

# Characters XML 1.0 cannot carry at all, even inside CDATA.
_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

# The reply envelope exactly as wechatpy writes it (and as the reply vector in tests/fixtures
# records it).
_REPLY_TEMPLATE = (
    "<xml>\n"
    "<Encrypt><![CDATA[{encrypt}]]></Encrypt>\n"
    "<MsgSignature><![CDATA[{signature}]]></MsgSignature>\n"
    "<TimeStamp>{timestamp}</TimeStamp>\n"
    "<Nonce><![CDATA[{nonce}]]></Nonce>\n"
    "</xml>"
)


def cdata(value: str) -> str:
    """A CDATA section holding `value`; "]]>" is split across two sections."""
    value = _XML_INVALID.sub("", value)
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def reply_plaintext(to_user: str, from_corp: str, create_time: int | str, content: str) -> str:
    """The inner XML of a passive text reply (被动回复消息格式), in the order of the sample."""
    return (
        f"<xml><ToUserName>{cdata(to_user)}</ToUserName>"
        f"<FromUserName>{cdata(from_corp)}</FromUserName>"
        f"<CreateTime>{create_time}</CreateTime>"
        f"<MsgType>{cdata('text')}</MsgType>"
        f"<Content>{cdata(content)}</Content></xml>"
    )


def encrypted_xml_reply(
    crypto: WeComCrypto,
    plaintext: str,
    timestamp: str,
    nonce: str,
    random_prefix: bytes | None = None,
) -> str:
    """The encrypted reply envelope; its signature covers the reply's own Encrypt (被动回复消息格式)."""
    encrypt = crypto.encrypt(plaintext, random_prefix)
    signature = crypto.sign(timestamp, nonce, encrypt)
    return _REPLY_TEMPLATE.format(
        encrypt=encrypt, signature=signature, timestamp=timestamp, nonce=nonce
    )


def adapter(settings: Settings) -> WeComApp | None:
    """The self-built app's hook when it is configured (bot/platforms/registry.py)."""
    return WeComApp(settings) if settings.wecom_app_enabled else None


class WeComApp(WeComCallback):
    """GET|POST /hooks/wecom-app: the self-built app, receiveid = corp id."""

    name = "wecom-app"
    platform = "wecom_app"

    def __init__(self, settings: Settings) -> None:
        if not (settings.wecom_app_token and settings.wecom_corp_id):
            raise ValueError("WeCom app needs DUBAN_WECOM_APP_TOKEN and DUBAN_WECOM_CORP_ID")
        crypto = WeComCrypto(
            settings.wecom_app_token, settings.wecom_app_aes_key, settings.wecom_corp_id
        )
        super().__init__(crypto, settings.max_body_bytes)
        self.corp_id = settings.wecom_corp_id

    def _encrypt_of(self, body: bytes) -> str:
        encrypt = xml_text(safe_xml(body), "Encrypt")
        if not encrypt:
            raise MalformedError("Encrypt is empty")
        return encrypt

    def parse(self, req: HttpIn) -> Incoming | None:
        """Decrypted XML → Incoming for text, image and file messages; events and other media
        → None. An image (接收普通消息, https://developer.work.weixin.qq.com/document/path/90239)
        or file carries a MediaId, fetched with media/get
        (https://developer.work.weixin.qq.com/document/path/90254) by a worker."""
        root = safe_xml(self._decrypt_body(req))
        msgtype = xml_text(root, "MsgType")
        attachment = ""
        if msgtype in ("image", "file"):
            media_id = xml_text(root, "MediaId")
            if not media_id:
                raise MalformedError("MediaId is empty")
            name = xml_text(root, "FileName", required=False) if msgtype == "file" else ""
            attachment = Attachment("wecom_app", msgtype, media_id, name).to_json()
        elif msgtype != "text":
            return None
        user_id = xml_text(root, "FromUserName")
        if not user_id:
            raise MalformedError("FromUserName is empty")
        return Incoming(
            platform=self.platform,
            user_id=user_id,
            text="" if attachment else xml_text(root, "Content").strip(),
            chat_id="",
            is_group=False,
            mentioned=True,  # always a one-to-one conversation
            message_id=xml_text(root, "MsgId", required=False),
            attachment=attachment,
        )

    def render_reply(self, req: HttpIn, msg: Incoming, reply: Reply, now_ms: int) -> HttpOut:
        """An encrypted passive text reply; an empty 200 when there is nothing to say (接收消息与事件).

        Passive replies have no markdown type, so the text is rendered plain (≤ 2048 bytes).
        """
        if not reply.shown:
            return HttpOut(status=200, body=b"")
        content = truncate_message(markup(reply.text, "text"), WECOM_TEXT_LIMIT)
        timestamp, nonce = self._reply_timestamp_nonce(now_ms)
        plain = reply_plaintext(msg.user_id, self.corp_id, timestamp, content)
        body = encrypted_xml_reply(self.crypto, plain, timestamp, nonce)
        return HttpOut(status=200, body=body.encode("utf-8"), content_type="application/xml")
