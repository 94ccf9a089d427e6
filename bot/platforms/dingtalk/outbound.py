"""DingTalk's sending side: a chat in org.yaml names its custom robot (`webhook`, with its 加签
`secret`) or its group (`conversation_id`, the openConversationId the app robot sends to
through the OpenAPI); a reply to a message goes through its sessionWebhook.

Vendor documents cited below by title:
- 接收消息 (sessionWebhook): https://open.dingtalk.com/document/orgapp/receive-message
- 机器人发送群聊消息: https://open.dingtalk.com/document/orgapp/the-robot-sends-a-group-message
- 获取企业内部应用的accessToken:
  https://open.dingtalk.com/document/orgapp/obtain-the-access_token-of-an-internal-app
- 自定义机器人发送群消息: https://open.dingtalk.com/document/orgapp/custom-robots-send-group-messages
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.config import Settings
from bot.messages import ChatTarget
from bot.platforms.base import (
    JSON_HEADERS,
    Answer,
    Outbound,
    Route,
    SendFailed,
    TokenUnavailable,
    Transport,
    post_once,
    robot_key,
    webhook_answer,
)
from bot.platforms.dingtalk.bodies import (
    _can_mention,
    access_token_body,
    classify_errcode,
    custom_robot_bodies,
    openapi_group_bodies,
    sign_webhook_url,
)

WEBHOOK, OPENAPI, SESSION = "dingtalk_webhook", "dingtalk_openapi", "dingtalk_session"
GROUP_SEND_PATH = "/v1.0/robot/groupMessages/send"
TOKEN_PATH = "/v1.0/oauth2/accessToken"
TOKEN_EARLY_S = 300  # the access token is refreshed 5 minutes early (获取企业内部应用的accessToken)


def route(settings: Settings, target: ChatTarget) -> Route | None:
    """The custom robot when the chat has one (it can @), else the app robot's OpenAPI group
    send when the app is configured; None otherwise."""
    webhook = target.get("webhook")
    if webhook:
        return Route(WEBHOOK, "dingtalk", robot_key(f"dingtalk-webhook:{webhook}"),
                     "钉钉自定义机器人", url=webhook, secret=target.get("secret"))  # fmt: skip
    cid = target.get("conversation_id")
    if cid and settings.dingtalk_robot_code:
        return Route(OPENAPI, "dingtalk", robot_key(f"dingtalk-openapi:{cid}"),
                     "钉钉群（应用机器人）", conversation_id=cid,
                     app_id=settings.dingtalk_robot_code)  # fmt: skip
    return None


def reply_route(url: str, expires_at_ms: int, chat: str) -> Route:
    """A message's sessionWebhook (接收消息): plain JSON, valid until sessionWebhookExpiredTime."""
    robot = robot_key(f"dingtalk-session:{chat}")
    return Route(SESSION, "dingtalk", robot, "钉钉会话回复", url=url,
                 expires_at_ms=expires_at_ms, paced_per_chat=True)  # fmt: skip


def bodies(route: Route, text: str, mentions: Sequence[str]) -> list[dict[str, Any]]:
    if route.kind in (WEBHOOK, SESSION):
        return custom_robot_bodies(text, mentions)
    if route.kind == OPENAPI:
        return openapi_group_bodies(route.app_id, route.conversation_id, text)
    raise ValueError(f"unknown route {route.kind}")


def credential(wire: Transport, route: Route) -> str:
    """The app's access token for the OpenAPI send; "" for a webhook or a session reply."""
    return access_token(wire) if route.kind == OPENAPI else ""


def send(wire: Transport, route: Route, body: dict[str, Any], key: str, credential: str) -> Answer:
    """One POST. A custom robot's URL is signed at this moment (加签); the OpenAPI send carries
    the app's access token, dropped when refused. None of these has an idempotency key: a
    request that may have arrived is "unknown", never posted again by itself."""
    if route.kind == OPENAPI:
        return _send_openapi(wire, body, credential)
    url = route.url
    if route.kind == WEBHOOK and route.secret:
        url = sign_webhook_url(url, route.secret, int(wire.now() * 1000))
    got = post_once(wire, url, body)
    return got if isinstance(got, Answer) else webhook_answer(OUTBOUND, *got)


def _send_openapi(wire: Transport, body: dict[str, Any], token: str) -> Answer:
    url = f"{wire.settings.dingtalk_api_base.rstrip('/')}{GROUP_SEND_PATH}"
    got = post_once(wire, url, body, {**JSON_HEADERS, "x-acs-dingtalk-access-token": token})
    if isinstance(got, Answer):
        return got
    answer = classify_openapi(*got)
    if answer.detail == "auth":
        wire.drop_token("dingtalk", token)
    return answer


def access_token(wire: Transport) -> str:
    """The app's access token, cached and refreshed 5 minutes before it expires;
    TokenUnavailable when DingTalk gives none."""
    s = wire.settings

    def fetch() -> tuple[str, int]:
        url = f"{s.dingtalk_api_base.rstrip('/')}{TOKEN_PATH}"
        body = access_token_body(s.dingtalk_app_key, s.dingtalk_app_secret)
        try:
            status, data, _ = wire.post(url, body, {"Content-Type": "application/json"})
        except SendFailed as e:
            raise TokenUnavailable(f"access token: {e.detail}") from None
        d = data if isinstance(data, dict) else {}
        token, expires = d.get("accessToken"), d.get("expireIn")
        if status != 200 or not isinstance(token, str) or not isinstance(expires, int):
            raise TokenUnavailable(f"access token: HTTP {status}")
        return token, expires - TOKEN_EARLY_S

    return wire.token("dingtalk", fetch)


def classify_openapi(status: int, data: Any) -> Answer:
    """groupMessages/send: 200 with processQueryKey; errors as HTTP 4xx {code, message}
    (机器人发送群聊消息)."""
    if status == 200 and isinstance(data, dict) and "processQueryKey" in data:
        return Answer("ok")
    if status >= 500 or status == 429:
        return Answer("retry", detail=f"HTTP {status}")
    d = data if isinstance(data, dict) else {}
    code = d.get("errcode", d.get("code", ""))
    text = str(code)
    low = text.lower()
    if any(w in low for w in ("qps", "throttl", "ratelimit", "flowcontrol")):
        return Answer("rate_limited", text, text)
    if "permission" in low or "forbidden" in low:
        # The app lacks a permission (e.g. qyapi_robot_sendmsg): no token or retry
        # helps until the office grants it; the dead letter names the code.
        return Answer("permanent", text, f"HTTP {status} {text}"[:80])
    if status == 401 or "token" in low or "authentication" in low:
        return Answer("retry", text, "auth")
    if isinstance(code, int) or text.lstrip("-").isdigit():
        return Answer(classify_errcode(code), text, f"errcode {text}")
    if 400 <= status < 500:
        return Answer("permanent", text, f"HTTP {status} {text}"[:80])
    return Answer("retry", text, f"HTTP {status}")


# 20 messages a minute per robot, then DingTalk blocks it for 10 minutes (130101; 自定义机器人
# 发送群消息, "消息发送频率限制").
OUTBOUND = Outbound(
    family="dingtalk",
    cooldown_s=lambda settings: settings.cooldown_dingtalk_s,
    mentionable=("dingtalk",),
    can_mention=_can_mention,
    classify=classify_errcode,
    chat_fields=("conversation_id", "webhook", "secret"),
    address=("webhook", "conversation_id"),
    chat_key="conversation_id",
    refusals={
        "300001": "机器人令牌无效或会话已过期（300001）",
        "300005": "机器人令牌无效（300005）",
        "310000": "签名、关键词或 IP 白名单校验未通过（310000）",
        "460101": "消息过大（460101）",
    },
    route=route,
    reply_route=reply_route,
    bodies=bodies,
    credential=credential,
    send=send,
)
