"""WeCom's sending side: group robot webhooks (`POST {DUBAN_WECOM_API_BASE}/cgi-bin/webhook/
send?key=…`, 消息推送配置说明 https://developer.work.weixin.qq.com/document/path/91770). A chat
in org.yaml names its group robot by `webhook_key` (the key is the only credential: never
logged) and its group by `chat_id` (the smart bot's chatid: it only answers, it cannot push).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.config import Settings
from bot.messages import ChatTarget
from bot.platforms.base import (
    Answer,
    Outbound,
    Route,
    Transport,
    post_once,
    robot_key,
    webhook_answer,
)
from bot.platforms.wecom.bodies import classify_errcode, webhook_bodies, webhook_url, wecom_kind

WEBHOOK = "wecom_webhook"


def route(settings: Settings, target: ChatTarget) -> Route | None:
    """The group robot of a chat; None for a smart-bot chat id alone (it only answers)."""
    key = target.get("webhook_key")
    if not key:
        return None
    url = webhook_url(settings.wecom_api_base, key)
    return Route(WEBHOOK, "wecom", robot_key(f"wecom:{key}"), "企业微信群机器人", url=url)


def bodies(route: Route, text: str, mentions: Sequence[str]) -> list[dict[str, Any]]:
    if route.kind != WEBHOOK:
        raise ValueError(f"unknown route {route.kind}")
    return webhook_bodies(text, mentions, wecom_kind(text, mentions))


def send(wire: Transport, route: Route, body: dict[str, Any], key: str, credential: str) -> Answer:
    """One POST to the group robot; the webhook has no idempotency key, so a request that may
    have arrived is "unknown", never posted again by itself."""
    got = post_once(wire, route.url, body)
    return got if isinstance(got, Answer) else webhook_answer(OUTBOUND, *got)


# A group robot takes the userids of the smart bot's and the app's callbacks alike (one corp);
# over 20 a minute it answers 45009 and names no block time (消息推送配置说明).
OUTBOUND = Outbound(
    family="wecom",
    cooldown_s=lambda settings: settings.cooldown_wecom_s,
    mentionable=("wecom", "wecom_app"),
    classify=classify_errcode,
    chat_fields=("chat_id", "webhook_key"),
    address=("webhook_key", "chat_id"),
    chat_key="chat_id",
    refusals={
        "93000": "群机器人地址无效或已删除（93000）",
        "40058": "消息内容不合要求（40058）",
    },
    route=route,
    bodies=bodies,
    send=send,
)
