"""WeCom (企业微信): the smart bot's encrypted callback in (inbound), the group robot's pushes
out (outbound), their bodies and limits (bodies) and the callback crypto (crypto). The
self-built app's one-to-one callback is bot/platforms/wecom_app/, on the same crypto."""

from bot.config import Settings
from bot.platforms.wecom.bodies import (
    LIMITS,
    WECOM_MARKDOWN_LIMIT,
    WECOM_STREAM_LIMIT,
    WECOM_TEXT_LIMIT,
    classify_errcode,
    fit_markup,
    markup,
    reply_stream_body,
    stream_body,
    stream_id_for,
    webhook_bodies,
    webhook_card_body,
    webhook_markdown_body,
    webhook_markdown_v2_body,
    webhook_text_body,
    webhook_url,
    wecom_kind,
)
from bot.platforms.wecom.inbound import WeCom, WeComCallback, encrypted_json_reply, incoming_from
from bot.platforms.wecom.outbound import OUTBOUND

__all__ = [
    "LIMITS",
    "OUTBOUND",
    "WECOM_MARKDOWN_LIMIT",
    "WECOM_STREAM_LIMIT",
    "WECOM_TEXT_LIMIT",
    "WeCom",
    "WeComCallback",
    "adapter",
    "classify_errcode",
    "encrypted_json_reply",
    "fit_markup",
    "incoming_from",
    "markup",
    "reply_stream_body",
    "stream_body",
    "stream_id_for",
    "webhook_bodies",
    "webhook_card_body",
    "webhook_markdown_body",
    "webhook_markdown_v2_body",
    "webhook_text_body",
    "webhook_url",
    "wecom_kind",
]


def adapter(settings: Settings) -> WeCom | None:
    """The smart bot's hook when it is configured (bot/platforms/registry.py)."""
    return WeCom(settings) if settings.wecom_enabled else None
