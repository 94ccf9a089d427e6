"""What Feishu's send side needs besides bodies: the endpoints, the tenant access token
request, the custom bot's signed body, the idempotency key, and what an answer means (sent,
cool down, give up, retry) with how long to cool down.

Every answer is `{"code", "msg", ...}`; code 0 is success. Errors come as HTTP 400 (older
APIs), 429 (frequency control) or 200 (custom bots) with a non-zero code, so the code decides.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from bot.platforms.feishu.crypto import custom_bot_sign

TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token/internal"
MESSAGES_PATH = "/open-apis/im/v1/messages"
WEBHOOK_PREFIX = "/open-apis/bot/v2/hook/"

# A token is reused until this long before it expires. Asked again within its last 30 minutes,
# Feishu hands out a new one while the old stays valid ("自建应用获取 tenant_access_token",
# https://open.feishu.cn/document/ukTMukTMukTM/ukDNz4SO0MjL5QzM/auth-v3/auth/tenant_access_token_internal),
# so refreshing 5 minutes early never sees the old one again.
TOKEN_EARLY_S = 300
MAX_COOLDOWN_S = 3600  # a reset header beyond an hour is not believed


def token_url(api_base: str) -> str:
    return f"{api_base.rstrip('/')}{TOKEN_PATH}"


def reply_url(api_base: str, message_id: str) -> str:
    """`POST /open-apis/im/v1/messages/:message_id/reply` ("回复消息",
    https://open.feishu.cn/document/uAjLw4CM/ukTMukTMukTM/reference/im-v1/message/reply)."""
    return f"{api_base.rstrip('/')}{MESSAGES_PATH}/{quote(message_id, safe='')}/reply"


def resource_url(api_base: str, message_id: str, file_key: str) -> str:
    """`GET /open-apis/im/v1/messages/:message_id/resources/:file_key?type=image|file`: a
    picture or file in a message sent to the bot, with the tenant access token ("获取消息中的资源
    文件", https://open.feishu.cn/document/uAjLw4CM/ukTMukTMukTM/reference/im-v1/message-resource/get).
    `type` goes as a query parameter: "image" for a picture (also one in a post), "file" for a
    file (also audio and video)."""
    base = f"{api_base.rstrip('/')}{MESSAGES_PATH}/{quote(message_id, safe='')}"
    return f"{base}/resources/{quote(file_key, safe='')}"


def send_url(api_base: str) -> str:
    """`POST /open-apis/im/v1/messages?receive_id_type=chat_id` ("发送消息",
    https://open.feishu.cn/document/uAjLw4CM/ukTMukTMukTM/reference/im-v1/message/create)."""
    return f"{api_base.rstrip('/')}{MESSAGES_PATH}?receive_id_type=chat_id"


def token_body(app_id: str, app_secret: str) -> dict[str, str]:
    return {"app_id": app_id, "app_secret": app_secret}


class TokenRefused(Exception):
    """The token endpoint gave no token (wrong app secret, or Feishu unavailable)."""


def token_from_answer(status: int, data: Any) -> tuple[str, int]:
    """(tenant_access_token, seconds it stays valid) from the token endpoint's answer."""
    if not isinstance(data, Mapping):
        raise TokenRefused(f"HTTP {status}")
    token, expire, code = data.get("tenant_access_token"), data.get("expire"), data.get("code")
    if code != 0 or not isinstance(token, str) or not token:
        raise TokenRefused(f"HTTP {status} code {code}")
    if isinstance(expire, bool) or not isinstance(expire, int) or expire <= 0:
        raise TokenRefused(f"HTTP {status} without a valid expire")
    return token, expire


def auth_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json; charset=utf-8"}


def idempotency_key(push_key: str) -> str:
    """The message API's `uuid`: requests with one uuid send at most one message within an
    hour ("发送消息"), so a part retried after a lost answer is not posted twice. Derived from
    the push and part, ≤ 50 characters as the API requires."""
    return hashlib.sha256(push_key.encode("utf-8")).hexdigest()[:32]


def sign_webhook_body(body: dict[str, Any], secret: str, now_s: int) -> dict[str, Any]:
    """The custom bot body with `timestamp` (seconds, as a string) and `sign` in it; they go in
    the body, not the URL, and must be within an hour of Feishu's clock (19021 otherwise)."""
    return {**body, "timestamp": str(now_s), "sign": custom_bot_sign(secret, now_s)}


# --- answers ----------------------------------------------------------------------------------

# Frequency control: 99991400 (HTTP 429, or 400 on older APIs; "频控策略",
# https://open.feishu.cn/document/ukTMukTMukTM/uUzN04SN3QjL1cDN), 230020 (the message API's
# per-chat limit, "发送消息"), 11232 (a custom bot's 100/min and 5/s, "自定义机器人使用指南").
RATE_LIMITED = frozenset({99991400, 230020, 11232})
# The tenant access token is missing, invalid or expired ("通用错误码",
# https://open.feishu.cn/document/ukTMukTMukTM/ugjM14COyUjL4ITN): fetch a new one and retry.
TOKEN_INVALID = frozenset({99991661, 99991663, 99991664, 99991665, 99991668})
# Resending cannot help: bad parameters 230001, bot not in the chat 230002, bot capability off
# 230006, message recalled (a reply to it) 230011, too long 230025, permission missing
# 230027 / 99991672, refused by the content audit 230028, a card it cannot build 230099
# ("发送消息", "回复消息"); a custom bot's sign or clock 19021, IP allow list 19022, keyword
# 19024 ("自定义机器人使用指南").
PERMANENT = frozenset(
    {
        230001, 230002, 230006, 230011, 230025, 230027, 230028, 230099, 99991672,
        19021, 19022, 19024,
    }
)  # fmt: skip
# 9499 is a custom bot's "Bad Request" (body malformed or over 20 KB), but the same code is
# also seen saying "too many request"; there its text decides.
_TOO_MANY = ("too many", "frequency", "limit", "频率", "限流")


@dataclass(frozen=True)
class Verdict:
    outcome: str  # ok | rate_limited | permanent | retry | token
    code: str = ""
    detail: str = ""  # short: never the body or a secret
    cooldown_s: float | None = None  # how long Feishu asked us to wait, if it said


def classify(status: int, data: Any, headers: Mapping[str, str] | None = None) -> Verdict:
    """What one answer of the message API or a custom bot means for the sender. "token"
    means: the tenant access token was refused; drop it and retry with a fresh one."""
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    reset = _reset_s(headers.get("x-ogw-ratelimit-reset", ""))
    d = data if isinstance(data, Mapping) else {}
    code = d.get("code", d.get("StatusCode"))
    if isinstance(code, bool) or not isinstance(code, int):
        if status == 429:
            return Verdict("rate_limited", "", "HTTP 429", reset)
        if status >= 500 or not d:
            return Verdict("retry", "", f"HTTP {status}")
        return Verdict("permanent" if 400 <= status < 500 else "retry", "", f"HTTP {status}")
    text, msg = str(code), str(d.get("msg", "")).lower()
    if code == 0 and status == 200:
        return Verdict("ok", text)
    if code in RATE_LIMITED or status == 429 or (code == 9499 and any(w in msg for w in _TOO_MANY)):
        return Verdict("rate_limited", text, f"code {text}", reset)
    if code in TOKEN_INVALID:
        return Verdict("token", text, f"code {text}")
    if code in PERMANENT or code == 9499:
        return Verdict("permanent", text, f"code {text}")
    if code == 0 or status >= 500:
        return Verdict("retry", text, f"HTTP {status} code {text}")
    # Unknown codes: the family of 4xx answers that no retry fixes is not documented as a
    # whole, so a retry (with RQ's backoff, then a dead letter) is the safe side.
    return Verdict("retry", text, f"code {text}")


def _reset_s(raw: str) -> float | None:
    """x-ogw-ratelimit-reset: seconds until the window resets ("频控策略")."""
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    return min(value, MAX_COOLDOWN_S) if value >= 0 else None
