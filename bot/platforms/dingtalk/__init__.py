"""DingTalk (钉钉): the enterprise-internal robot's HTTP callback in (inbound), pushes and
replies out (outbound), their bodies, signing and limits (bodies). The Stream mode client is
bot/stream/dingtalk.py."""

from bot.config import Settings
from bot.platforms.dingtalk.bodies import (
    DINGTALK_BODY_LIMIT,
    DINGTALK_MSGPARAM_LIMIT,
    KINDS,
    SESSION_MARGIN_MS,
    SessionWebhook,
    access_token_body,
    action_card,
    card_body,
    classify_errcode,
    custom_robot_bodies,
    dingtalk_sign,
    fit_markup,
    is_session_webhook_valid,
    markup,
    message_body,
    openapi_card_body,
    openapi_group_bodies,
    openapi_group_body,
    session_webhook_body,
    sign_webhook_url,
)
from bot.platforms.dingtalk.inbound import DingTalk
from bot.platforms.dingtalk.outbound import OUTBOUND

__all__ = [
    "DINGTALK_BODY_LIMIT",
    "DINGTALK_MSGPARAM_LIMIT",
    "KINDS",
    "OUTBOUND",
    "SESSION_MARGIN_MS",
    "DingTalk",
    "SessionWebhook",
    "access_token_body",
    "action_card",
    "adapter",
    "card_body",
    "classify_errcode",
    "custom_robot_bodies",
    "dingtalk_sign",
    "fit_markup",
    "is_session_webhook_valid",
    "markup",
    "message_body",
    "openapi_card_body",
    "openapi_group_bodies",
    "openapi_group_body",
    "session_webhook_body",
    "sign_webhook_url",
]


def adapter(settings: Settings) -> DingTalk | None:
    """The robot's hook when it is configured (bot/platforms/registry.py)."""
    return DingTalk(settings) if settings.dingtalk_enabled else None
