"""What every platform adapter shares: the two rejection errors, the adapter contract, safe JSON/XML
readers and the outbound error-code classification. The registry of platforms is
bot/platforms/registry.py (it imports the adapters, which import this module).
"""

from __future__ import annotations

import hashlib
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from xml.parsers import expat

from bot.config import Settings
from bot.messages import ChatTarget, HttpIn, HttpOut, Incoming, Reply


class RequestRejected(Exception):
    """Base of the errors that turn an inbound callback away; `status` is the HTTP answer."""

    status = 400


class SignatureError(RequestRejected):
    """Signature, timestamp or decryption check failed: the request is not from the platform."""

    status = 401


class MalformedError(RequestRejected):
    """The request is signed (or unsigned) but cannot be read: bad JSON/XML or wrong field types."""

    status = 400


# How a platform wants its messages answered, as Bolt declares it per listener:
# "answer_in_response": the reply goes in the callback's HTTP response (WeCom's passive reply);
# "ack_then_answer": the callback is acknowledged at once and a worker answers later through
# the route `later` gives (bot/inbox.py), e.g. Feishu's reply API. A platform that acks and
# answers later may still answer one message in the response when `later` gives None (DingTalk
# without a usable sessionWebhook).
AckMode = Literal["answer_in_response", "ack_then_answer"]


class Platform(Protocol):
    """The contract of one inbound route; every method is pure translation, none decides."""

    name: str  # route name: /hooks/<name>
    platform: str  # the value put in Incoming.platform
    ack_mode: AckMode

    def handshake(self, req: HttpIn, now_ms: int) -> HttpOut | None:
        """The answer to a URL-verification request; None for anything else."""
        ...

    def verify(self, req: HttpIn, now_ms: int) -> None:
        """Raise SignatureError unless the request provably comes from the platform, now."""
        ...

    def parse(self, req: HttpIn) -> Incoming | None:
        """The message; None for what is acknowledged and not run; MalformedError."""
        ...

    def later(self, req: HttpIn, msg: Incoming, now_ms: int) -> dict[str, Any] | None:
        """Where a worker answers `msg` (Incoming.reply_route()), or None to answer it in the
        response."""
        ...

    def reply_plan(
        self, req: HttpIn, msg: Incoming, reply: Reply, now_ms: int
    ) -> tuple[HttpOut, dict[str, Any] | None]:
        """The response carrying `reply`, and a follow-up for what did not fit (delivery posts
        it) or None."""
        ...

    def render_reply(self, req: HttpIn, msg: Incoming, reply: Reply, now_ms: int) -> HttpOut:
        """The response carrying `reply` (a quiet reply: the bare acknowledgement)."""
        ...


# What the sender does with a platform's answer: done, cool down and re-queue, give up, retry.
Outcome = Literal["ok", "rate_limited", "permanent", "retry"]


@dataclass(frozen=True)
class Route:
    """How one push reaches its chat: which endpoint, which robot's budget, which dialect. Built
    by the platform's `route` (or `reply_route`); delivery only carries it to `bodies` and
    `send` and keys the budget and cool-down on `robot`."""

    kind: str  # the platform's own name of the route, e.g. "<family>_webhook"
    family: str  # the Sender that built it: its bodies, sending and error codes
    robot: str  # robot_key(...) for the budget and cooldown
    label: str  # Chinese, shown to the office
    url: str = ""
    secret: str = ""
    conversation_id: str = ""  # the chat's id where the endpoint takes it in the body
    app_id: str = ""  # the sending app's id where the body names it
    expires_at_ms: int = 0  # when the endpoint stops working (0: never)
    paced_per_chat: bool = False  # a reply to a user's own message: a budget per chat


@dataclass(frozen=True)
class Answer:
    """What one POST came to: ok | rate_limited | permanent | retry | unknown (it may have
    been shown, and no answer says so)."""

    outcome: str
    errcode: str = ""
    detail: str = ""  # short, for logs and the office; never a body or a secret
    cooldown_s: float | None = None  # how long the platform asked us to rest, when it said


class SendFailed(Exception):
    """A POST that got no HTTP answer; `may_have_arrived` when the request may have been
    taken (a read timeout, a connection broken after the request was written)."""

    def __init__(self, detail: str, may_have_arrived: bool) -> None:
        super().__init__(detail)
        self.detail = detail
        self.may_have_arrived = may_have_arrived


class TokenUnavailable(Exception):
    """No access token could be had this time: the send is retried later."""


class Transport(Protocol):
    """What delivery lends a platform's `send`: the HTTP pool, the token cache, the clock."""

    settings: Settings

    def now(self) -> float:
        """Epoch seconds (the delivery clock: signatures and expiries use it)."""
        ...

    def post(
        self, url: str, body: dict[str, Any], headers: dict[str, str], *, with_headers: bool = False
    ) -> tuple[int, Any, Mapping[str, str]]:
        """POST `body` as compact UTF-8 JSON: (status, parsed JSON or None, the answer's headers
        when asked for, else {}). SendFailed when no answer came."""
        ...

    def token(self, name: str, fetch: Callable[[], tuple[str, int]]) -> str:
        """A platform's access token, cached for the seconds `fetch` gives, one fetcher at a
        time; TokenUnavailable when none can be had."""
        ...

    def drop_token(self, name: str, token: str) -> None:
        """Forget a token the platform refused (the next send fetches a new one)."""
        ...


def robot_key(robot_id: str) -> str:
    """The budget/cooldown name of a robot: hashed, since robot ids contain webhook secrets."""
    return hashlib.sha256(robot_id.encode("utf-8")).hexdigest()[:20]


class Sender(Protocol):
    """The outbound contract of one platform family: its chats in org.yaml, how a push reaches
    one (route), the bodies within its byte limits, the POST with its signing and token, and
    what an answer means with how long to cool down. Declared by the platform's package as
    `OUTBOUND` and found through bot/platforms/registry.py; delivery keeps only what is common
    (budgets, markers, leases, retries, dead letters)."""

    family: str
    platforms: tuple[str, ...]  # the `platform:` values of org.yaml chats this family serves
    chat_fields: tuple[str, ...]  # the org.yaml fields of such a chat
    address: tuple[str, ...]  # one of these fields must be set (where to post)
    chat_key: str  # the field holding the id messages name the group by (Incoming.chat_id)
    mentionable: tuple[str, ...]  # the Incoming.platform values whose ids it can @-mention
    refusals: Mapping[str, str]  # errcode -> what the office is told when it is final

    def cooldown_s(self, settings: Settings) -> float: ...

    def can_mention(self, user_id: str) -> bool: ...

    def route(self, settings: Settings, target: ChatTarget) -> Route | None: ...

    def reply_route(self, url: str, expires_at_ms: int, chat: str) -> Route: ...

    def bodies(self, route: Route, text: str, mentions: Sequence[str]) -> list[dict[str, Any]]:
        """The request bodies of one push in numbered parts within the route's byte limits;
        the mentions (bare ids the route can @) on the first."""
        ...

    def credential(self, wire: Transport, route: Route) -> str:
        """The access token a route's send carries ("" for none), fetched before the part is
        claimed (a claim covers one POST, not a token fetch); TokenUnavailable when none can
        be had."""
        ...

    def send(
        self, wire: Transport, route: Route, body: dict[str, Any], key: str, credential: str
    ) -> Answer:
        """POST one part (`key` names the push and part, for an idempotency key where the API
        takes one). A refused `credential` is dropped (wire.drop_token) and answered as a
        retry with detail "auth": delivery claims and posts the part once more with a new one."""
        ...

    # What a webhook's {"errcode", "errmsg"} answer means; None for a family whose answers
    # are not errcodes (its `send` reads them itself).
    classify: Callable[[int | str | None, str], Outcome] | None


def _any_id(user_id: str) -> bool:
    return True


def _no_route(settings: Settings, target: ChatTarget) -> Route | None:
    return None


def _no_reply_route(url: str, expires_at_ms: int, chat: str) -> Route:
    raise ValueError("this platform answers no message through a reply route")


def _no_bodies(route: Route, text: str, mentions: Sequence[str]) -> list[dict[str, Any]]:
    raise ValueError(f"no bodies for the route {route.kind!r}")


def _no_credential(wire: Transport, route: Route) -> str:
    return ""


def _no_send(
    wire: Transport, route: Route, body: dict[str, Any], key: str, credential: str
) -> Answer:
    raise ValueError(f"no sending for the route {route.kind!r}")


@dataclass(frozen=True)
class Outbound:
    """A Sender declared as data: each platform's package builds its `OUTBOUND` from its own
    functions (a toy platform in a test may give only what it uses: a Sender without routes
    reaches no chat)."""

    family: str
    # How long a robot rests after a rate-limit answer that names no time: a setting, since
    # each platform blocks for its own time.
    cooldown_s: Callable[[Settings], float]
    mentionable: tuple[str, ...]
    # Whether one of those ids can be @-mentioned at all (e.g. not an encrypted sender id).
    can_mention: Callable[[str], bool] = _any_id
    # What a webhook's {"errcode", "errmsg"} answer means (None: not errcodes).
    classify: Callable[[int | str | None, str], Outcome] | None = None
    platforms: tuple[str, ...] = ()  # () means (family,)
    chat_fields: tuple[str, ...] = ()
    address: tuple[str, ...] = ()
    chat_key: str = ""
    refusals: Mapping[str, str] = field(default_factory=dict)
    route: Callable[[Settings, ChatTarget], Route | None] = _no_route
    reply_route: Callable[[str, int, str], Route] = _no_reply_route
    bodies: Callable[[Route, str, Sequence[str]], list[dict[str, Any]]] = _no_bodies
    credential: Callable[[Transport, Route], str] = _no_credential
    send: Callable[[Transport, Route, dict[str, Any], str, str], Answer] = _no_send

    def __post_init__(self) -> None:
        if not self.platforms:
            object.__setattr__(self, "platforms", (self.family,))


def webhook_answer(sender: Sender, status: int, data: Any) -> Answer:
    """A webhook's answer: HTTP 200 with {"errcode", "errmsg"}; the errcode decides (its
    wording changes), through the sender's table."""
    if status >= 500 or status == 429:
        return Answer("retry", detail=f"HTTP {status}")
    if status != 200 or not isinstance(data, dict):
        return Answer("permanent" if 400 <= status < 500 else "retry", detail=f"HTTP {status}")
    if sender.classify is None:
        raise ValueError(f"{sender.family} routes do not answer with an errcode")
    errcode = data.get("errcode")
    outcome = sender.classify(errcode, str(data.get("errmsg", "")))
    return Answer(outcome, str(errcode), f"errcode {errcode}")


def post_once(
    wire: Transport, url: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[int, Any] | Answer:
    """One POST of a send API without an idempotency key: (status, data), or the Answer of a
    POST that got no answer ("unknown" when it may have arrived: never posted again by
    itself)."""
    try:
        status, data, _ = wire.post(url, body, headers or JSON_HEADERS)
    except SendFailed as e:
        return Answer("unknown" if e.may_have_arrived else "retry", detail=e.detail)
    return status, data


JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}


class AnswersInResponse:
    """The `later` and `reply_plan` of a platform that answers every message in its response."""

    ack_mode: AckMode = "answer_in_response"

    def later(self, req: HttpIn, msg: Incoming, now_ms: int) -> dict[str, Any] | None:
        return None

    def reply_plan(
        self, req: HttpIn, msg: Incoming, reply: Reply, now_ms: int
    ) -> tuple[HttpOut, dict[str, Any] | None]:
        return self.render_reply(req, msg, reply, now_ms), None  # type: ignore[attr-defined]


# --- JSON -------------------------------------------------------------------------------------


def encode_json(obj: Any) -> bytes:
    """Compact UTF-8 JSON. Byte limits are on the raw body
    (WeCom https://developer.work.weixin.qq.com/document/path/91770,
    DingTalk https://open.dingtalk.com/document/orgapp/custom-robots-send-group-messages), and
    `ensure_ascii` would triple the size of Chinese text, so outbound bodies use this."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def json_out(obj: Any, status: int = 200) -> HttpOut:
    return HttpOut(status=status, body=encode_json(obj), content_type="application/json")


def check_size(body: bytes, max_bytes: int) -> None:
    if len(body) > max_bytes:
        raise MalformedError(f"body of {len(body)} bytes exceeds {max_bytes}")


def load_json_object(raw: bytes | str) -> dict[str, Any]:
    """Parse a JSON object, turning every failure (syntax, encoding, nesting) into MalformedError.

    A lone surrogate ("\\ud800" escaped, or its bytes, which json reads with surrogatepass) is
    replaced by U+FFFD here, once: no UTF-8 store or request can carry it, and failing later
    would answer 500 to every redelivery of the same callback.
    """
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as e:
        raise MalformedError(f"invalid JSON: {type(e).__name__}") from None
    if not isinstance(data, dict):
        raise MalformedError("JSON body is not an object")
    return _without_surrogates(data)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _without_surrogates(value: Any) -> Any:
    """`value` with every lone surrogate in its strings (keys too) replaced by U+FFFD; a pair
    escaped as "\\ud83d\\ude00" was already joined into one character by json."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_without_surrogates(k): _without_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_surrogates(v) for v in value]
    return value


def get_str(data: dict[str, Any], key: str) -> str:
    """A required string field."""
    value = data.get(key)
    if not isinstance(value, str):
        raise MalformedError(f"{key} must be a string")
    return value


def opt_str(data: dict[str, Any], key: str) -> str:
    """An optional string field: missing or null reads as ""; any other type is malformed."""
    value = data.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MalformedError(f"{key} must be a string")
    return value


def get_obj(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise MalformedError(f"{key} must be an object")
    return value


def opt_bool(data: dict[str, Any], key: str, default: bool = False) -> bool:
    value = data.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise MalformedError(f"{key} must be a boolean")
    return value


# --- XML --------------------------------------------------------------------------------------


def _refuse(*_args: object) -> None:
    raise MalformedError("XML with DOCTYPE or ENTITY declarations is refused")


def safe_xml(raw: bytes | str) -> ET.Element:
    """Parse a callback XML document with xml.etree, refusing any DOCTYPE or entity declaration.

    WeCom callbacks (接收消息与事件, https://developer.work.weixin.qq.com/document/path/90238)
    never carry a DOCTYPE; refusing it rules out external entities (XXE) and entity expansion
    bombs. A first expat pass aborts at the DOCTYPE before any declaration is processed; only a document that passes is handed to ElementTree.
    """
    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    guard = expat.ParserCreate()
    guard.StartDoctypeDeclHandler = _refuse
    guard.EntityDeclHandler = _refuse
    guard.UnparsedEntityDeclHandler = _refuse
    guard.ExternalEntityRefHandler = _refuse
    guard.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    try:
        guard.Parse(data, True)
        return ET.fromstring(data)
    except (expat.ExpatError, ET.ParseError, ValueError) as e:
        raise MalformedError(f"invalid XML: {type(e).__name__}") from None


def xml_text(root: ET.Element, tag: str, *, required: bool = True) -> str:
    """The text of a direct child element ("" when empty); MalformedError when required and absent."""
    child = root.find(tag)
    if child is None:
        if required:
            raise MalformedError(f"XML element {tag} is missing")
        return ""
    if len(child):
        raise MalformedError(f"XML element {tag} must hold text only")
    return child.text or ""


# --- outbound error codes ----------------------------------------------------------------------


def classify_code(
    errcode: int | str | None, rate_limited: frozenset[int], permanent: frozenset[int]
) -> tuple[Outcome | None, int | None]:
    """The outcome a platform's tables decide, and the code as a number: ("retry", None) for no
    number, ("ok", 0), "rate_limited", "permanent", or (None, code) for the platform's own rules
    on codes its tables do not list."""
    code = errcode_of(errcode)
    if code is None:
        return "retry", None
    if code == 0:
        return "ok", code
    if code in rate_limited:
        return "rate_limited", code
    if code in permanent:
        return "permanent", code
    return None, code


def errcode_of(errcode: int | str | None) -> int | None:
    """An errcode as a number (platforms send numbers, some as strings); None if it is not one."""
    if isinstance(errcode, bool):
        return None
    if isinstance(errcode, int):
        return errcode
    if isinstance(errcode, str):
        try:
            return int(errcode.strip())
        except ValueError:
            return None
    return None
