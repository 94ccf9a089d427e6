"""POST /hooks/dingtalk: the enterprise-internal robot's HTTP-mode callback (verify, parse,
passive reply, or acknowledge now and answer later through the sessionWebhook).

Vendor documents cited below by title:
- 接收消息: https://open.dingtalk.com/document/orgapp/receive-message
- 消息发送与接收类型: https://open.dingtalk.com/document/development/robot-message-type
- 自定义机器人发送群消息: https://open.dingtalk.com/document/orgapp/custom-robots-send-group-messages
"""

from __future__ import annotations

import hmac
import re
from typing import Any

from bot.chatfiles import Attachment
from bot.config import Settings
from bot.messages import HttpIn, HttpOut, Incoming, Reply
from bot.platforms.base import (
    AckMode,
    MalformedError,
    SignatureError,
    check_size,
    get_obj,
    get_str,
    json_out,
    load_json_object,
    opt_bool,
    opt_str,
)
from bot.platforms.dingtalk.bodies import (
    DINGTALK_BODY_LIMIT,
    SessionWebhook,
    _fitted_body,
    card_body,
    custom_robot_bodies,
    dingtalk_sign,
    is_session_webhook_valid,
    message_body,
)

MAX_SKEW_MS = 3_600_000  # the callback timestamp must be within 1 hour of now (接收消息)

# One leading "@name" token; DingTalk usually removes the bot's own mention but leaves a space
# (接收消息).
_LEADING_MENTION = re.compile(r"^@\S+(?:\s+|$)")


class DingTalk:
    """POST /hooks/dingtalk: the enterprise-internal robot's HTTP-mode callback. With
    DUBAN_DINGTALK_REPLY=queue it acknowledges at once and answers through the sessionWebhook
    from a worker; a message without a usable sessionWebhook is answered in the response."""

    name = "dingtalk"
    platform = "dingtalk"

    def __init__(self, settings: Settings) -> None:
        if not settings.dingtalk_app_secret:
            # An empty key would let anyone compute a valid sign.
            raise ValueError("DingTalk needs DUBAN_DINGTALK_APP_SECRET")
        self.app_secret = settings.dingtalk_app_secret
        self.robot_code = settings.dingtalk_robot_code
        self.oapi_base = settings.dingtalk_oapi_base.rstrip("/")
        self.api_base = settings.dingtalk_api_base.rstrip("/")
        self.max_body_bytes = settings.max_body_bytes
        self.reply_later = settings.dingtalk_reply == "queue"
        self.ack_mode: AckMode = "ack_then_answer" if self.reply_later else "answer_in_response"

    @property
    def group_send_url(self) -> str:
        return f"{self.api_base}/v1.0/robot/groupMessages/send"

    @property
    def access_token_url(self) -> str:
        return f"{self.api_base}/v1.0/oauth2/accessToken"

    def handshake(self, req: HttpIn, now_ms: int) -> HttpOut | None:
        """HTTP mode has no URL-verification request."""
        return None

    def verify(self, req: HttpIn, now_ms: int) -> None:
        """Check the `timestamp`/`sign` headers (接收消息): both present, fresh, and matching."""
        timestamp = req.headers.get("timestamp", "")
        sign = req.headers.get("sign", "")
        if not timestamp or not sign:
            # An open-source bot once saw them missing; we reject rather than accept unsigned
            # callbacks.
            raise SignatureError("timestamp or sign header missing")
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 16):
            raise SignatureError("timestamp header is not epoch milliseconds")
        if abs(now_ms - int(timestamp)) > MAX_SKEW_MS:
            raise SignatureError("timestamp outside the 1-hour window")
        expected = dingtalk_sign(self.app_secret, timestamp).encode("ascii")
        if not hmac.compare_digest(expected, sign.encode("utf-8")):
            raise SignatureError("sign mismatch")

    def parse(self, req: HttpIn) -> Incoming | None:
        """The callback JSON (接收消息, its field table) as an Incoming: a text, or a picture or
        file (Incoming.attachment); None for other messages."""
        check_size(req.body, self.max_body_bytes)
        data = load_json_object(req.body)
        msgtype = get_str(data, "msgtype")
        attachment = ""
        if msgtype in ("picture", "file"):
            attachment = self._attachment(data, msgtype)
            content = ""
        elif msgtype != "text":
            return None
        else:
            content = get_str(get_obj(data, "text"), "content")
        conversation_type = get_str(data, "conversationType")  # a string "1"/"2", not a number
        if conversation_type not in ("1", "2"):
            raise MalformedError("conversationType must be '1' or '2'")
        is_group = conversation_type == "2"
        # senderStaffId is the org userid that mentions and bindings need; it is empty for
        # external users and before the robot is published, so fall back to senderId.
        user_id = opt_str(data, "senderStaffId") or opt_str(data, "senderId")
        if not user_id:
            raise MalformedError("no senderStaffId or senderId")
        conversation_id = opt_str(data, "conversationId")
        if is_group and not conversation_id:
            raise MalformedError("group message without conversationId")
        in_at_list = opt_bool(data, "isInAtList")
        text = _LEADING_MENTION.sub("", content.strip(), count=1).strip()
        session = self._session_of(data)
        return Incoming(
            platform=self.platform,
            user_id=user_id,
            text=text,
            chat_id=conversation_id if is_group else "",
            is_group=is_group,
            mentioned=not is_group or in_at_list,
            message_id=opt_str(data, "msgId"),
            user_name=opt_str(data, "senderNick"),
            reply_url=session.url if session else "",
            reply_url_expires_ms=session.expires_at_ms if session else 0,
            attachment=attachment,
        )

    def _attachment(self, data: dict[str, Any], msgtype: str) -> str:
        """A `picture` or `file` message (消息发送与接收类型,
        https://open.dingtalk.com/document/development/robot-message-type): its `content`
        carries the downloadCode that the robot's message file download API takes
        (https://open.dingtalk.com/document/orgapp/download-the-file-content-of-the-robot-receiving-message),
        and a file its fileName."""
        content = get_obj(data, "content")
        code = opt_str(content, "downloadCode") or opt_str(content, "pictureDownloadCode")
        if not code:
            raise MalformedError(f"{msgtype} message without a downloadCode")
        name = opt_str(content, "fileName") if msgtype == "file" else ""
        robot = opt_str(data, "robotCode") or self.robot_code
        kind = "image" if msgtype == "picture" else "file"
        return Attachment("dingtalk", kind, code, name, robot).to_json()

    def render_reply(self, req: HttpIn, msg: Incoming, reply: Reply, now_ms: int) -> HttpOut:
        """The passive reply in the callback's response body; `{"msgtype":"empty"}` says nothing."""
        return self.reply_plan(req, msg, reply, now_ms)[0]

    def reply_plan(
        self, req: HttpIn, msg: Incoming, reply: Reply, now_ms: int
    ) -> tuple[HttpOut, dict[str, Any] | None]:
        """The response body, and the follow-up for a reply too long for one body.

        The body holds at most 20,000 bytes (自定义机器人发送群消息). A longer reply is split into
        numbered parts: the first goes in the body and the rest through the message's
        sessionWebhook, but only while it is valid (sessionWebhookExpiredTime, 接收消息); without
        one, the body carries the reply truncated. The follow-up names the parts (by index) and the session; delivery posts them.
        """
        if not reply.shown:
            return json_out({"msgtype": "empty"}), None
        card = card_body(reply.text, reply.mentions)
        if card is not None:
            return json_out(card), None
        if 2 * len(reply.text.encode()) + 64 * len(reply.mentions) + 2048 <= DINGTALK_BODY_LIMIT:
            # Likely fits (most replies are short): render once and check the size, rather than
            # splitting. Markdown line breaks and JSON escaping can make a text of short lines
            # four times its size, so the check is on the body itself.
            out = json_out(message_body(reply.text, reply.mentions))
            if len(out.body) <= DINGTALK_BODY_LIMIT:
                return out, None
        bodies = custom_robot_bodies(reply.text, reply.mentions)
        if len(bodies) == 1:
            return json_out(bodies[0]), None
        if not msg.reply_url or not is_session_webhook_valid(msg.reply_url_expires_ms, now_ms):
            return json_out(_fitted_body(reply.text, reply.mentions)), None
        follow = {**msg.reply_route(), "parts": list(range(1, len(bodies)))}
        return json_out(bodies[0]), follow

    def later(self, req: HttpIn, msg: Incoming, now_ms: int) -> dict[str, Any] | None:
        """Where a worker answers this callback instead of the response body (bot/inbox.py):
        its sessionWebhook, when replies are queued and the session is still valid."""
        if not self.reply_later or not msg.message_id or not msg.reply_url:
            return None
        if not is_session_webhook_valid(msg.reply_url_expires_ms, now_ms):
            return None
        return msg.reply_route()

    def session_webhook(self, req: HttpIn) -> SessionWebhook | None:
        """The callback's sessionWebhook, if present and pointing at our DingTalk oapi base."""
        try:
            data = load_json_object(req.body)
        except MalformedError:
            return None
        return self._session_of(data)

    def _session_of(self, data: dict[str, Any]) -> SessionWebhook | None:
        """The host check keeps a signed but odd payload from steering our pushes elsewhere."""
        url = data.get("sessionWebhook")
        expires = data.get("sessionWebhookExpiredTime")
        if not isinstance(url, str) or isinstance(expires, bool) or not isinstance(expires, int):
            return None
        if not url.startswith(f"{self.oapi_base}/robot/sendBySession?"):
            return None
        return SessionWebhook(url=url, expires_at_ms=expires)
