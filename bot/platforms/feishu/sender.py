"""Feishu's sending side as the Sender contract (bot/platforms/base.py) wants it: a chat in
org.yaml names its group by `chat_id` (oc_…, pushed by the app bot when it is configured) or
its custom bot by `webhook` with its signing `secret`; a reply to a message goes through the
message's reply API. The endpoints, token request and answers are outbound.py's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.config import Settings
from bot.messages import ChatTarget
from bot.platforms.base import (
    Answer,
    Outbound,
    Route,
    SendFailed,
    TokenUnavailable,
    Transport,
    robot_key,
)
from bot.platforms.feishu import bodies as feishu_bodies
from bot.platforms.feishu import outbound as feishu

CHAT, WEBHOOK, REPLY = "feishu_chat", "feishu_webhook", "feishu_reply"


def route(settings: Settings, target: ChatTarget) -> Route | None:
    """The app bot when it is configured (it can also answer there), else a custom bot."""
    chat_id, webhook = target.get("chat_id"), target.get("webhook")
    if chat_id and settings.feishu_enabled:
        return Route(CHAT, "feishu", robot_key(f"feishu:{chat_id}"), "飞书群（应用机器人）",
                     url=feishu.send_url(settings.feishu_api_base), conversation_id=chat_id)  # fmt: skip
    if webhook:
        return Route(WEBHOOK, "feishu", robot_key(f"feishu-webhook:{webhook}"),
                     "飞书自定义机器人", url=webhook, secret=target.get("secret"))  # fmt: skip
    return None


def reply_route(url: str, expires_at_ms: int, chat: str) -> Route:
    """The reply API of a message (no expiry), paced per chat."""
    robot = robot_key(f"feishu-reply:{chat}")
    return Route(REPLY, "feishu", robot, "飞书消息回复", url=url, paced_per_chat=True)


def bodies(route: Route, text: str, mentions: Sequence[str]) -> list[dict[str, Any]]:
    if route.kind in (CHAT, REPLY):
        return feishu_bodies.api_bodies(text, mentions, route.conversation_id)
    if route.kind == WEBHOOK:
        return feishu_bodies.webhook_bodies(text, mentions)
    raise ValueError(f"unknown route {route.kind}")


def tenant_token(wire: Transport) -> str:
    """The app's tenant access token, refreshed early (see outbound.TOKEN_EARLY_S)."""
    s = wire.settings

    def fetch() -> tuple[str, int]:
        body = feishu.token_body(s.feishu_app_id, s.feishu_app_secret)
        try:
            status, data, _ = wire.post(feishu.token_url(s.feishu_api_base), body,
                                        {"Content-Type": "application/json"})  # fmt: skip
            token, expires = feishu.token_from_answer(status, data)
        except SendFailed as e:
            raise TokenUnavailable(f"tenant access token: {e.detail}") from None
        except feishu.TokenRefused as e:
            raise TokenUnavailable(f"tenant access token: {e}") from None
        return token, expires - feishu.TOKEN_EARLY_S

    return wire.token("feishu", fetch)


def credential(wire: Transport, route: Route) -> str:
    """The tenant access token for the message API; "" for a custom bot."""
    return "" if route.kind == WEBHOOK else tenant_token(wire)


def send(wire: Transport, route: Route, body: dict[str, Any], key: str, credential: str) -> Answer:
    """A send or reply with the tenant token and an idempotency uuid (`key` names the push and
    part), or a custom bot post signed at this moment. A refused token is dropped (delivery
    claims and posts once more with a new one: the refused request sent nothing)."""
    if route.kind == WEBHOOK:
        if route.secret:
            body = feishu.sign_webhook_body(body, route.secret, int(wire.now()))
        answer, _ = _post(wire, route, body, "")
        return answer
    if key:
        body = {**body, "uuid": feishu.idempotency_key(key)}
    answer, refused = _post(wire, route, body, credential)
    if refused:
        wire.drop_token("feishu", credential)
    return answer


def _post(wire: Transport, route: Route, body: dict[str, Any], token: str) -> tuple[Answer, bool]:
    """One POST; (its answer, whether the token was refused)."""
    headers = feishu.auth_headers(token) if token else {"Content-Type": "application/json"}
    try:
        status, data, answer_headers = wire.post(route.url, body, headers, with_headers=True)
    except SendFailed as e:
        # The message API takes a uuid and posts it at most once an hour, so a request that may
        # have arrived is safely sent again; a custom bot's webhook has no such key: a request
        # that may have arrived is uncertain, as on the other platforms.
        unsure = route.kind == WEBHOOK and e.may_have_arrived
        return Answer("unknown" if unsure else "retry", detail=e.detail), False
    verdict = feishu.classify(status, data, answer_headers)
    if verdict.outcome == "token":
        return Answer("retry", verdict.code, "auth"), True
    return Answer(verdict.outcome, verdict.code, verdict.detail, verdict.cooldown_s), False


# Feishu limits per minute (and per second); its own x-ogw-ratelimit-reset wins when sent.
OUTBOUND = Outbound(
    family="feishu",
    cooldown_s=lambda settings: settings.cooldown_feishu_s,
    mentionable=("feishu",),
    chat_fields=("chat_id", "webhook", "secret"),
    address=("chat_id", "webhook"),
    chat_key="chat_id",
    refusals={
        "230002": "飞书应用机器人不在该群中（230002）",
        "230006": "飞书应用未开启机器人能力（230006）",
        "230027": "飞书应用缺少发送消息的权限（230027）",
        "19021": "飞书自定义机器人签名校验未通过（19021）",
        "19024": "飞书自定义机器人关键词校验未通过（19024）",
    },
    route=route,
    reply_route=reply_route,
    bodies=bodies,
    credential=credential,
    send=send,
)
