"""A threaded HTTP stand-in for the WeCom, DingTalk and Feishu send endpoints on 127.0.0.1, for HTTP
and e2e tests: it records every request and can be told to fail, throttle or stall the next ones.
Feishu's tenant access tokens it hands out are checked on every message request (and can be
revoked), and custom bots registered with a secret have their signature checked.

    stub = PlatformStub().start()
    settings = Settings(wecom_api_base=stub.url, dingtalk_api_base=stub.url,
                        dingtalk_oapi_base=stub.url, ...)
    stub.fail_next(2, errcode=45009, key="robot-key")   # throttle one robot twice
    stub.fail_next(status=500)                           # then one HTTP 500
    stub.fail_next(delay=5.0)                            # then one that outlasts the client timeout
    stub.fail_for(12.0, status=500)                      # every request for 12 s: an outage
    stub.require_feishu_app("cli_x", "secret")           # the app whose tokens it hands out
    ...
    stub.oauth_sign_in("dingtalk", "u-1", "张三")          # who its sign-in page "is"
    stub.requests                                        # what arrived, in order
    stub.stop()
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import socketserver
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

WECOM_WEBHOOK = "/cgi-bin/webhook/send"
DINGTALK_ROBOT = "/robot/send"
DINGTALK_SESSION = "/robot/sendBySession"
DINGTALK_GROUP_SEND = "/v1.0/robot/groupMessages/send"
DINGTALK_TOKEN = "/v1.0/oauth2/accessToken"
FEISHU_TOKEN = "/open-apis/auth/v3/tenant_access_token/internal"
FEISHU_MESSAGES = "/open-apis/im/v1/messages"  # send; a reply is FEISHU_MESSAGES/<id>/reply
FEISHU_REPLY = "/open-apis/im/v1/messages/:message_id/reply"  # the path key of every reply
FEISHU_HOOK = "/open-apis/bot/v2/hook/"  # + the custom bot's token
# Files sent to a robot in chat (bot/filefetch.py): DingTalk's message file download API gives
# a URL of FILES; WeCom's smart bot URLs point at FILES; the app's media/get serves by MediaId.
DINGTALK_FILE_DOWNLOAD = "/v1.0/robot/messageFiles/download"
FILES = "/stubfiles/"  # + the file's id
WECOM_GETTOKEN = "/cgi-bin/gettoken"
WECOM_MEDIA_GET = "/cgi-bin/media/get"
WECOM_APP_TOKEN = "stub-wecom-app-token"
# Feishu's message resource API: GET FEISHU_MESSAGES/<message_id>/resources/<file_key>?type=…
FEISHU_RESOURCE = "/open-apis/im/v1/messages/:message_id/resources/:file_key"
# Sign-in through the platform (bot/signin.py): each platform's authorize page (a browser GET
# answered with a redirect to redirect_uri carrying a code and the state) and the endpoints that
# turn the code into the person's id. Codes are good once, for 5 minutes, as the vendors say.
WECOM_AUTHORIZE = "/connect/oauth2/authorize"
WECOM_GETUSERINFO = "/cgi-bin/auth/getuserinfo"
DINGTALK_AUTHORIZE = "/oauth2/auth"
DINGTALK_USER_TOKEN = "/v1.0/oauth2/userAccessToken"
DINGTALK_USERS_ME = "/v1.0/contact/users/me"
DINGTALK_GETBYUNIONID = "/topapi/user/getbyunionid"
FEISHU_AUTHORIZE = "/open-apis/authen/v1/authorize"
FEISHU_OAUTH_TOKEN = "/open-apis/authen/v2/oauth/token"
FEISHU_USER_INFO = "/open-apis/authen/v1/user_info"
OAUTH_CODE_S = 300
PATHS = (
    WECOM_WEBHOOK, DINGTALK_ROBOT, DINGTALK_SESSION, DINGTALK_GROUP_SEND, DINGTALK_TOKEN,
    FEISHU_TOKEN, FEISHU_MESSAGES, FEISHU_REPLY, FEISHU_HOOK,
)  # fmt: skip

# errmsg texts as observed in real responses (WeCom 91770, DingTalk custom robot 错误码); clients
# must branch on errcode, so these are only for readable test logs.
ERRMSG = {
    -1: "system busy",
    45009: "api freq out of limit",
    130101: "send too fast, exceed 20 times per minute",
    93000: "invalid webhook url",
    40058: "markdown.content exceed max length 4096",
    40007: "invalid media_id",
    300001: "token is not exist",
    300005: "token is not exist",
    310000: "sign not match",
    460101: "body 大小不合法",
    99991400: "request trigger frequency limit",
    99991663: "Invalid access token for authorization. Please make a request with token attached.",
    230020: "This operation triggers the frequency limit.",
    11232: "frequency limited psm",
    19021: "sign match fail or timestamp is not within one hour from current time",
    10014: "app secret invalid",
    230025: "The message content exceeds the length limit.",
    230099: "Failed to create card content",
    9499: "Bad Request",
    234001: "Invalid request param.",
    234003: "File not in msg.",
}


@dataclass(frozen=True)
class Recorded:
    """One request as the stub saw it."""

    method: str
    path: str  # a Feishu reply's path is FEISHU_REPLY, a custom bot's FEISHU_HOOK (see raw_path)
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    json: Any  # parsed body, or None when it was not JSON
    key: str  # the robot it addressed (see robot_key_of)
    raw_path: str = ""
    at: float = field(default_factory=time.time)


@dataclass
class _Rule:
    remaining: int
    errcode: int | None
    status: int | None
    delay: float
    key: str | None
    path: str | None
    until: float = 0.0  # a rule for a time (fail_for): in force until this epoch second

    def live(self, now: float) -> bool:
        return self.remaining > 0 and (not self.until or now < self.until)

    def matches(self, path: str, key: str, now: float) -> bool:
        return (
            self.live(now)
            and (self.key is None or self.key == key)
            and (self.path is None or self.path == path)
        )


def route_of(raw_path: str) -> tuple[str, str]:
    """(path key, robot key from the path): Feishu's reply and custom bot paths carry an id (a
    resource download's key is its message id)."""
    if raw_path.startswith(FEISHU_MESSAGES + "/") and "/resources/" in raw_path:
        return FEISHU_RESOURCE, raw_path[len(FEISHU_MESSAGES) + 1 :].split("/resources/")[0]
    if raw_path.startswith(FEISHU_MESSAGES + "/") and raw_path.endswith("/reply"):
        return FEISHU_REPLY, raw_path[len(FEISHU_MESSAGES) + 1 : -len("/reply")]
    if raw_path.startswith(FEISHU_HOOK):
        return FEISHU_HOOK, raw_path[len(FEISHU_HOOK) :]
    return raw_path, ""


def robot_key_of(path: str, query: dict[str, str], payload: Any, from_path: str = "") -> str:
    """Which robot a request addresses, the unit that faults can be aimed at: the WeCom `key`,
    the DingTalk `access_token` or `session`, the OpenAPI openConversationId, Feishu's
    receive_id (a send), message id (a reply) or custom bot token."""
    if from_path:
        return from_path
    if path == FEISHU_MESSAGES and isinstance(payload, dict):
        return str(payload.get("receive_id", ""))
    if path == WECOM_WEBHOOK:
        return query.get("key", "")
    if path == DINGTALK_ROBOT:
        return query.get("access_token", "")
    if path == DINGTALK_SESSION:
        return query.get("session", "")
    if path == DINGTALK_GROUP_SEND and isinstance(payload, dict):
        return str(payload.get("openConversationId", ""))
    return ""


# --- card schemas -----------------------------------------------------------------------------
# What the vendors document of a card with buttons, checked on every card that arrives; a card
# that breaks it is answered as the platform would refuse it (see CARD_ERRCODE) and listed in
# PlatformStub.rejected. Lengths are characters ("建议不超过…个字"), byte limits UTF-8.
# DingTalk actionCard / sampleActionCard…4: https://open.dingtalk.com/document/group/message-types-and-data-format
# WeCom template_card (group robot): https://developer.work.weixin.qq.com/document/path/91770

DINGTALK_CARD_BUTTONS = 4  # the OpenAPI's largest button card, sampleActionCard4
DINGTALK_BODY_LIMIT = 20000
DINGTALK_MSGPARAM_LIMIT = 15000
WECOM_TEXT_NOTICE = {"main_title.title": 26, "main_title.desc": 30, "sub_title_text": 112}
WECOM_LISTS = {"horizontal_content_list": 6, "jump_list": 3, "vertical_content_list": 4}
CARD_ERRCODE = {"dingtalk": 40035, "wecom": 40035, "wecom_action": 42045, "size": 460101}
# Feishu: the message API takes a text body of at most 150 KB and a card or post of 30 KB
# (230025 beyond, "发送消息" https://open.feishu.cn/document/uAjLw4CM/ukTMukTMukTM/reference/im-v1/message/create),
# a custom bot 20 KB ("自定义机器人使用指南" https://open.feishu.cn/document/ukTMukTMukTM/ucTM5YjL3ETO24yNxkjN).
# A card it cannot build is refused with 230099. Card JSON 1.0: https://open.feishu.cn/document/uAjLw4CM/ukzMukzMukzM/feishu-cards/card-json-structure,
# buttons: https://open.feishu.cn/document/common-capabilities/message-card/add-card-interaction/interactive-components/button
FEISHU_API_LIMITS = {"text": 150 * 1024, "post": 30 * 1024, "interactive": 30 * 1024}
FEISHU_HOOK_LIMIT = 20 * 1024
FEISHU_TEXT_TAGS = ("plain_text", "lark_md")
FEISHU_ELEMENTS = ("div", "markdown", "hr", "action", "note", "img", "column_set")


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("https://", "http://", "dingtalk://"))


def dingtalk_card_problems(card: Any, body_bytes: int) -> list[str]:
    """What is wrong with a custom robot's (or sessionWebhook's) actionCard."""
    if not isinstance(card, dict):
        return ["actionCard is not an object"]
    out = [f"actionCard.{k} is empty" for k in ("title", "text") if not _text(card.get(k))]
    single = "singleTitle" in card or "singleURL" in card
    btns = card.get("btns")
    if single and btns is not None:
        out.append("both singleTitle and btns")
    elif single:
        if not _text(card.get("singleTitle")) or not _url(card.get("singleURL")):
            out.append("singleTitle/singleURL missing or not a URL")
    elif not isinstance(btns, list) or not btns:
        out.append("no singleURL and no btns")
    else:
        if len(btns) > DINGTALK_CARD_BUTTONS:
            out.append(f"{len(btns)} buttons > {DINGTALK_CARD_BUTTONS}")
        for b in btns:
            if not isinstance(b, dict) or not _text(b.get("title")) or not _url(b.get("actionURL")):
                out.append(f"bad button {b!r}")
    if card.get("btnOrientation", "0") not in ("0", "1"):
        out.append("btnOrientation must be '0' or '1'")
    if body_bytes > DINGTALK_BODY_LIMIT:
        out.append(f"body of {body_bytes} bytes > {DINGTALK_BODY_LIMIT}")
    return out


def openapi_card_problems(msg_key: str, raw_param: Any) -> list[str]:
    """What is wrong with an OpenAPI sampleActionCard…4 send's msgParam."""
    if not isinstance(raw_param, str):
        return ["msgParam is not a JSON string"]
    if len(raw_param.encode("utf-8")) > DINGTALK_MSGPARAM_LIMIT:
        return [f"msgParam over {DINGTALK_MSGPARAM_LIMIT} bytes"]
    try:
        param = json.loads(raw_param)
    except ValueError:
        return ["msgParam is not JSON"]
    out = [f"{k} is empty" for k in ("title", "text") if not _text(param.get(k))]
    n = msg_key[len("sampleActionCard") :]
    if not n:
        if not _text(param.get("singleTitle")) or not _url(param.get("singleURL")):
            out.append("singleTitle/singleURL missing or not a URL")
    elif n in ("2", "3", "4"):
        for i in range(1, int(n) + 1):
            if not _text(param.get(f"actionTitle{i}")) or not _url(param.get(f"actionURL{i}")):
                out.append(f"actionTitle{i}/actionURL{i} missing or not a URL")
    else:
        out.append(f"msgKey {msg_key} is not a button card this stub knows")
    return out


def wecom_card_problems(card: Any) -> tuple[list[str], bool]:
    """What is wrong with a group robot's template_card; and whether card_action is the fault."""
    if not isinstance(card, dict):
        return ["template_card is not an object"], False
    if card.get("card_type") not in ("text_notice", "news_notice"):
        return [f"card_type {card.get('card_type')!r} is not one a group robot may send"], False
    action = card.get("card_action")
    if not isinstance(action, dict) or action.get("type") not in (1, 2):
        return ["card_action missing or of an unknown type"], True
    if action["type"] == 1 and not _url(action.get("url")):
        return ["card_action.url missing"], True
    out = []
    main = card.get("main_title") if isinstance(card.get("main_title"), dict) else {}
    if not _text(main.get("title")) and not _text(card.get("sub_title_text")):
        out.append("neither main_title.title nor sub_title_text")
    fields = {
        "main_title.title": main.get("title"),
        "main_title.desc": main.get("desc"),
        "sub_title_text": card.get("sub_title_text"),
    }
    for name, value in fields.items():
        if value is not None and (
            not isinstance(value, str) or len(value) > WECOM_TEXT_NOTICE[name]
        ):
            out.append(f"{name} longer than {WECOM_TEXT_NOTICE[name]} characters")
    for name, most in WECOM_LISTS.items():
        items = card.get(name, [])
        if not isinstance(items, list) or len(items) > most:
            out.append(f"{name} holds more than {most}")
            continue
        for item in items:
            if not isinstance(item, dict):
                out.append(f"{name} item is not an object")
            elif name == "jump_list" and (
                not _text(item.get("title"))
                or len(item["title"]) > 13
                or (item.get("type") == 1 and not _url(item.get("url")))
            ):
                out.append(f"jump {item!r}: title of 1–13 characters and a URL")
            elif name == "vertical_content_list" and (
                not _text(item.get("title"))
                or len(item["title"]) > 26
                or len(item.get("desc", "")) > 112
            ):
                out.append(f"vertical item {item!r}: title ≤ 26, desc ≤ 112 characters")
    return out, False


def _feishu_text(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and value.get("tag") in FEISHU_TEXT_TAGS
        and isinstance(value.get("content"), str)
    )


def feishu_card_problems(card: Any) -> list[str]:
    """What is wrong with a Feishu card (JSON 1.0): elements of known tags, a div's text a
    plain_text or lark_md, an action module of buttons with a text and one http(s) url."""
    if not isinstance(card, dict):
        return ["card is not an object"]
    elements = card.get("elements")
    if not isinstance(elements, list) or not elements:
        return ["card.elements missing or empty"]
    out = []
    header = card.get("header")
    if header is not None and not (isinstance(header, dict) and _feishu_text(header.get("title"))):
        out.append("header.title is not a text")
    for e in elements:
        tag = e.get("tag") if isinstance(e, dict) else None
        if tag not in FEISHU_ELEMENTS:
            out.append(f"element of unknown tag {tag!r}")
        elif tag == "div" and not _feishu_text(e.get("text")) and not e.get("fields"):
            out.append("div without a plain_text or lark_md text")
        elif tag == "action":
            actions = e.get("actions")
            if not isinstance(actions, list) or not actions:
                out.append("action module without actions")
                continue
            for b in actions:
                if not isinstance(b, dict) or b.get("tag") != "button":
                    out.append(f"action {b!r} is not a button")
                elif not _feishu_text(b.get("text")) or not b["text"]["content"].strip():
                    out.append(f"button {b!r} without a text")
                elif "url" in b and "multi_url" in b:
                    out.append("button with both url and multi_url")
                elif "url" in b and not _url(b["url"]):
                    out.append(f"button url {b.get('url')!r} is not http(s)")
                elif b.get("type", "default") not in ("default", "primary", "danger"):
                    out.append(f"button type {b.get('type')!r}")
    return out


def card_problems(path: str, payload: Any, body_bytes: int) -> tuple[list[str], int]:
    """The schema problems of a card request and the errcode its platform answers; ([], 0)
    for a request that is no card or a good one."""
    if not isinstance(payload, dict):
        return [], 0
    if path in (DINGTALK_ROBOT, DINGTALK_SESSION) and payload.get("msgtype") == "actionCard":
        found = dingtalk_card_problems(payload.get("actionCard"), body_bytes)
        size = any("bytes >" in p for p in found)
        return found, CARD_ERRCODE["size" if size else "dingtalk"] if found else 0
    if path == DINGTALK_GROUP_SEND and str(payload.get("msgKey", "")).startswith(
        "sampleActionCard"
    ):
        found = openapi_card_problems(payload["msgKey"], payload.get("msgParam"))
        return found, CARD_ERRCODE["dingtalk"] if found else 0
    if path == WECOM_WEBHOOK and payload.get("msgtype") == "template_card":
        found, action = wecom_card_problems(payload.get("template_card"))
        return found, CARD_ERRCODE["wecom_action" if action else "wecom"] if found else 0
    return [], 0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # bursts of concurrent sends must not wait for SYN retries


class _LeanServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class _LeanHandler(socketserver.StreamRequestHandler):
    """A lean HTTP/1.1 front end (`PlatformStub.start(lean=True)`): request line, headers and a
    Content-Length body read by hand, the answer written in one send. http.server parses every
    header block with the email package and writes a response in pieces, several times the
    CPU; the benchmarks, whose stub shares the cores with the server under test, use this."""

    disable_nagle_algorithm = True
    server: _LeanServer

    def handle(self) -> None:
        stub: PlatformStub = self.server.stub  # type: ignore[attr-defined]
        while line := self.rfile.readline(65537):
            if not line.strip():
                continue
            method, target, _ = line.decode("latin-1").split(" ", 2)
            headers = {}
            while (h := self.rfile.readline(65537)).strip():
                name, _, value = h.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            if len(body) < length:
                return  # the client went away mid-body: neither recorded nor answered
            status, out_headers, out = stub.respond(method, target, headers, body)
            head = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}"]
            head += [f"{k}: {v}" for k, v in out_headers.items()]
            head.append(f"Content-Length: {len(out)}\r\n\r\n")
            try:
                self.wfile.write("\r\n".join(head).encode("latin-1") + out)
            except (BrokenPipeError, ConnectionResetError):
                return
            if headers.get("connection", "").lower() == "close":
                return


class PlatformStub:
    """The stub server. Thread-safe: tests read `requests` while the app posts from other threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[Recorded] = []
        self._rules: list[_Rule] = []
        self._dingtalk_secrets: dict[str, str] = {}
        self._feishu_secrets: dict[str, str] = {}
        self._feishu_app: tuple[str, str] | None = None
        self._feishu_tokens: set[str] = set()
        self.rejected: list[tuple[Recorded, list[str]]] = []  # cards that broke their schema
        self._stopping = threading.Event()
        self._arrived = threading.Condition(self._lock)
        self._tokens = itertools.count(1)
        self.token_expire_in = 7200  # expireIn / expire of the access tokens it hands out
        # x-ogw-ratelimit-reset on Feishu's 99991400 answers (seconds); None sends no header
        self.feishu_reset_s: int | None = None
        self._server: _Server | _LeanServer | None = None
        self._thread: threading.Thread | None = None
        self._files: dict[str, tuple[bytes, str]] = {}  # id -> (bytes as served, name)
        self._feishu_kinds: dict[str, str] = {}  # message_id/file_key -> "image" | "file"
        # sign-in: who is signed in at each platform's page, who refuses, codes and user tokens
        self._oauth_people: dict[str, tuple[str, str, bool]] = {}  # platform -> (id, name, member)
        self._oauth_denied: set[str] = set()
        self._codes: dict[str, dict[str, Any]] = {}
        self._user_tokens: dict[str, tuple[str, str, str]] = {}  # token -> (platform, id, name)

    # --- sign-in through the platform (OAuth) ---------------------------------------------------

    def oauth_sign_in(
        self, platform: str, user_id: str, name: str = "", member: bool = True
    ) -> None:
        """The person the platform's authorize page has signed in (its own session in the
        browser): `platform` is wecom, dingtalk or feishu; `user_id` is the id the robot
        callbacks carry (WeCom userid, DingTalk staff userid, Feishu open_id); a DingTalk
        non-member has a unionId that getbyunionid does not find."""
        with self._lock:
            self._oauth_people[platform] = (user_id, name, member)
            self._oauth_denied.discard(platform)

    def oauth_deny(self, platform: str) -> None:
        """The person presses 拒绝 on the platform's page: the redirect carries error."""
        with self._lock:
            self._oauth_denied.add(platform)

    def _authorize(self, rec: Recorded) -> tuple[int, dict[str, str], bytes]:
        platform = {
            WECOM_AUTHORIZE: "wecom", DINGTALK_AUTHORIZE: "dingtalk", FEISHU_AUTHORIZE: "feishu"
        }[rec.path]  # fmt: skip
        q = rec.query
        client = q.get("appid") if platform == "wecom" else q.get("client_id")
        redirect_uri = q.get("redirect_uri", "")
        scope_ok = q.get("scope") == "snsapi_base" if platform == "wecom" else True
        if platform == "dingtalk":
            scope_ok = q.get("scope") == "openid" and q.get("prompt") == "consent"
        if not client or not redirect_uri.startswith("http") or q.get("response_type") != "code":
            return 400, {"Content-Type": "text/plain"}, b"bad authorize request"
        if not scope_ok:
            return 400, {"Content-Type": "text/plain"}, b"bad scope"
        with self._lock:
            person = self._oauth_people.get(platform)
            denied = platform in self._oauth_denied
        back: dict[str, str] = {}
        if denied and platform != "wecom":  # snsapi_base is silent: there is nothing to refuse
            back["error"] = "access_denied"
        elif person is None:
            return 400, {"Content-Type": "text/plain"}, b"nobody signed in"
        else:
            code = f"code-{platform}-{next(self._tokens)}"
            with self._lock:
                self._codes[code] = {
                    "platform": platform, "user": person, "client": client,
                    "redirect_uri": redirect_uri, "at": time.time(),
                }  # fmt: skip
            back["authCode" if platform == "dingtalk" else "code"] = code
        if "state" in q:
            back["state"] = q["state"]
        sep = "&" if "?" in redirect_uri else "?"
        return 302, {"Location": f"{redirect_uri}{sep}{urlencode(back)}"}, b""

    def _take_code(self, code: str, platform: str) -> dict[str, Any] | None:
        """A code's grant, consumed: None when unknown, of another platform, used or expired."""
        with self._lock:
            got = self._codes.pop(code, None)
        if got is None or got["platform"] != platform or time.time() - got["at"] > OAUTH_CODE_S:
            return None
        return got

    def _user_token(self, platform: str, user: tuple[str, str, bool]) -> str:
        token = f"user-{platform}-{next(self._tokens)}"
        with self._lock:
            self._user_tokens[token] = (platform, user[0], user[1])
        return token

    def _known_user(self, token: str, platform: str) -> tuple[str, str, str] | None:
        with self._lock:
            got = self._user_tokens.get(token)
        return got if got and got[0] == platform else None

    def _oauth_answer(self, rec: Recorded) -> tuple[int, dict[str, str], bytes] | None:
        """The sign-in endpoints; None for every other request."""
        if rec.path in (WECOM_AUTHORIZE, DINGTALK_AUTHORIZE, FEISHU_AUTHORIZE):
            return self._authorize(rec) if rec.method == "GET" else None
        body = rec.json if isinstance(rec.json, dict) else {}
        if rec.path == WECOM_GETUSERINFO:
            if rec.query.get("access_token") != WECOM_APP_TOKEN:
                return _json(200, {"errcode": 40014, "errmsg": "invalid access_token"})
            got = self._take_code(rec.query.get("code", ""), "wecom")
            if got is None:
                return _json(200, {"errcode": 40029, "errmsg": "invalid code"})
            return _json(200, {"errcode": 0, "errmsg": "ok", "userid": got["user"][0]})
        if rec.path == DINGTALK_USER_TOKEN and rec.method == "POST":
            got = self._take_code(str(body.get("code", "")), "dingtalk")
            if (
                got is None
                or body.get("grantType") != "authorization_code"
                or body.get("clientId") != got["client"]
                or not body.get("clientSecret")
            ):
                return _json(400, {"code": "invalidParameter", "message": "authCode is invalid"})
            token = self._user_token("dingtalk", got["user"])
            return _json(200, {"accessToken": token, "refreshToken": f"r-{token}",
                               "expireIn": 7200, "corpId": "ding-stub-corp"})  # fmt: skip
        if rec.path == DINGTALK_USERS_ME:
            user = self._known_user(rec.headers.get("x-acs-dingtalk-access-token", ""), "dingtalk")
            if user is None:
                return _json(401, {"code": "InvalidAuthentication", "message": "token"})
            with self._lock:
                member = self._oauth_people.get("dingtalk", ("", "", True))[2]
            union = f"union-{user[1]}" if member else f"union-outsider-{user[1]}"
            return _json(200, {"nick": user[2], "unionId": union, "openId": f"open-{user[1]}",
                               "stateCode": "86"})  # fmt: skip
        if rec.path == DINGTALK_GETBYUNIONID and rec.method == "POST":
            if not rec.query.get("access_token", "").startswith("stub-token-"):
                return _json(200, {"errcode": 40014, "errmsg": "不合法的access_token"})
            union = str(body.get("unionid", ""))
            if not union.startswith("union-") or union.startswith("union-outsider-"):
                return _json(200, {"errcode": 60121, "errmsg": "找不到该用户"})
            return _json(200, {"errcode": 0, "errmsg": "ok", "request_id": "stub",
                               "result": {"contact_type": 0, "userid": union[6:]}})  # fmt: skip
        if rec.path == FEISHU_OAUTH_TOKEN and rec.method == "POST":
            got = self._take_code(str(body.get("code", "")), "feishu")
            if (
                got is None
                or body.get("grant_type") != "authorization_code"
                or body.get("client_id") != got["client"]
                or not body.get("client_secret")
                or body.get("redirect_uri") != got["redirect_uri"]
            ):
                return _json(
                    400,
                    {
                        "code": 20003,
                        "error": "invalid_grant",
                        "error_description": "The authorization code is not found.",
                    },
                )
            token = self._user_token("feishu", got["user"])
            return _json(200, {"code": 0, "access_token": token, "expires_in": 7200,
                               "token_type": "Bearer", "scope": ""})  # fmt: skip
        if rec.path == FEISHU_USER_INFO:
            auth = rec.headers.get("authorization", "")
            user = self._known_user(auth[7:] if auth.startswith("Bearer ") else "", "feishu")
            if user is None:
                return _json(200, {"code": 20005, "msg": "The user access token passed is invalid"})
            data = {"name": user[2], "en_name": "", "open_id": user[1],
                    "union_id": f"on_{user[1]}", "tenant_key": "stub-tenant"}  # fmt: skip
            return _json(200, {"code": 0, "msg": "success", "data": data})
        return None

    # --- files sent in chat ---------------------------------------------------------------------

    def serve_file(self, file_id: str, data: bytes, name: str = "") -> str:
        """Serve `data` at FILES + file_id (with `name` in its Content-Disposition), also as the
        DingTalk downloadCode and the WeCom MediaId `file_id`; returns its URL."""
        with self._lock:
            self._files[file_id] = (data, name)
        return f"{self.url}{FILES}{file_id}"

    def _file_answer(self, rec: Recorded) -> tuple[int, dict[str, str], bytes] | None:
        """The binary answers (a file download, media/get) and DingTalk's download API; None for
        every other request."""
        if rec.path == DINGTALK_FILE_DOWNLOAD and rec.method == "POST":
            token = rec.headers.get("x-acs-dingtalk-access-token", "")
            code = (rec.json or {}).get("downloadCode", "") if isinstance(rec.json, dict) else ""
            robot = (rec.json or {}).get("robotCode", "") if isinstance(rec.json, dict) else ""
            if not token.startswith("stub-token-"):
                return _json(401, {"code": "InvalidAuthentication", "message": "token"})
            if code not in self._files or not robot:
                return _json(400, {"code": "invalidParameter", "message": "downloadCode"})
            return _json(200, {"downloadUrl": f"{self.url}{FILES}{code}"})
        if rec.path == FEISHU_RESOURCE:
            return self._feishu_resource(rec)
        if rec.path == WECOM_GETTOKEN:
            if not rec.query.get("corpid") or not rec.query.get("corpsecret"):
                return _json(200, {"errcode": 41004, "errmsg": "corpsecret missing"})
            return _json(200, {"errcode": 0, "access_token": WECOM_APP_TOKEN, "expires_in": 7200})
        if rec.path == WECOM_MEDIA_GET:
            media = self._files.get(rec.query.get("media_id", ""))
            if rec.query.get("access_token") != WECOM_APP_TOKEN:
                return _json(200, {"errcode": 40014, "errmsg": "invalid access_token"})
            if media is None:
                return _json(200, {"errcode": 40007, "errmsg": ERRMSG[40007]})
            return _binary(*media)
        if rec.raw_path.startswith(FILES):
            got = self._files.get(rec.raw_path[len(FILES) :])
            if got is None:
                return 404, {"Content-Type": "text/plain"}, b"not found"
            return _binary(*got)
        return None

    def serve_feishu_resource(
        self, message_id: str, file_key: str, data: bytes, name: str = "", kind: str = "file"
    ) -> None:
        """Serve `data` as the resource `file_key` of the message `message_id`, to be asked for
        with `type` = `kind` ("image" for a picture, "file" for a file)."""
        with self._lock:
            self._files[f"feishu:{message_id}/{file_key}"] = (data, name)
            self._feishu_kinds[f"{message_id}/{file_key}"] = kind

    def _feishu_resource(self, rec: Recorded) -> tuple[int, dict[str, str], bytes]:
        """GET /open-apis/im/v1/messages/:message_id/resources/:file_key?type=image|file
        ("获取消息中的资源文件", https://open.feishu.cn/document/uAjLw4CM/ukTMukTMukTM/reference/im-v1/message-resource/get):
        the tenant token as a bearer, `type` matching the resource; errors as JSON."""
        auth = rec.headers.get("authorization", "")
        key = rec.raw_path[len(FEISHU_MESSAGES) + 1 :].replace("/resources/", "/", 1)
        with self._lock:
            known = auth.startswith("Bearer ") and auth[7:] in self._feishu_tokens
            got = self._files.get(f"feishu:{key}")
            kind = self._feishu_kinds.get(key)
        if rec.method != "GET":
            return _json(404, {"code": 404, "msg": "not found"})
        if not known:
            return _json(400, {"code": 99991663, "msg": ERRMSG[99991663]})
        if rec.query.get("type") not in ("image", "file"):
            return _json(400, {"code": 234001, "msg": ERRMSG[234001]})
        if got is None or rec.query["type"] != kind:
            return _json(400, {"code": 234003, "msg": ERRMSG[234003]})
        return _binary(*got)

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self, lean: bool = False) -> PlatformStub:
        """Serve on a free port of 127.0.0.1; `lean`: with the lean front end (_LeanHandler)."""
        if lean:
            self._server = _LeanServer(("127.0.0.1", 0), _LeanHandler)
            self._server.stub = self  # type: ignore[attr-defined]
        else:
            self._server = _Server(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping on a delay
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> PlatformStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the stub first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # --- programming ----------------------------------------------------------------------------

    def fail_next(
        self,
        n: int = 1,
        *,
        errcode: int | None = None,
        status: int | None = None,
        delay: float = 0.0,
        key: str | None = None,
        path: str | None = None,
    ) -> None:
        """Answer the next `n` matching requests differently: with `errcode` (HTTP 200 and
        {"errcode", "errmsg"}; on /v1.0/ OpenAPI paths HTTP 400 and {"code", "message"} as well),
        with HTTP `status` (e.g. 500), and/or after `delay` seconds (to provoke client timeouts).
        `key` limits the rule to one robot (see robot_key_of), `path` to one endpoint. Rules are
        consumed in the order they were added."""
        if errcode is None and status is None and not delay:
            raise ValueError("say what to do: errcode, status or delay")
        with self._lock:
            self._rules.append(_Rule(n, errcode, status, delay, key, path))

    def fail_for(
        self,
        seconds: float,
        *,
        errcode: int | None = None,
        status: int | None = None,
        key: str | None = None,
        path: str | None = None,
    ) -> float:
        """An outage: every matching request for the next `seconds` is answered with `errcode`
        or HTTP `status` (as fail_next), however many come. Returns the epoch second it ends."""
        if errcode is None and status is None:
            raise ValueError("say what to answer: errcode or status")
        until = time.time() + seconds
        with self._lock:
            self._rules.append(_Rule(1 << 62, errcode, status, 0.0, key, path, until))
        return until

    def require_dingtalk_sign(self, access_token: str, secret: str) -> None:
        """Check 加签 on /robot/send for this access_token like DingTalk does (310000 if wrong)."""
        with self._lock:
            self._dingtalk_secrets[access_token] = secret

    def require_feishu_sign(self, hook_token: str, secret: str) -> None:
        """Check a Feishu custom bot's timestamp and sign in the body like Feishu (19021)."""
        with self._lock:
            self._feishu_secrets[hook_token] = secret

    def require_feishu_app(self, app_id: str, app_secret: str) -> None:
        """Hand out tenant access tokens only for this app id and secret (10014 otherwise)."""
        with self._lock:
            self._feishu_app = (app_id, app_secret)

    def revoke_feishu_tokens(self) -> None:
        """Every token handed out so far is refused from now on (99991663), as after a reset."""
        with self._lock:
            self._feishu_tokens.clear()

    def reset(self) -> None:
        """Forget requests and pending rules."""
        with self._lock:
            self._requests.clear()
            self._rules.clear()

    # --- inspection -----------------------------------------------------------------------------

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str, key: str | None = None) -> list[Recorded]:
        return [r for r in self.requests if r.path == path and (key is None or r.key == key)]

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Recorded]:
        """Block until at least `count` requests have arrived; raise TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self._requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self._requests)} of {count} requests arrived")
                self._arrived.wait(left)
            return list(self._requests)

    # --- serving --------------------------------------------------------------------------------

    def _record(self, rec: Recorded) -> _Rule | None:
        with self._arrived:
            self._requests.append(rec)
            self._arrived.notify_all()
            now = rec.at  # a request's fate follows its recorded arrival time
            self._rules = [r for r in self._rules if r.live(now)]
            for rule in self._rules:
                if rule.matches(rec.path, rec.key, now):
                    rule.remaining -= 1
                    return rule
        return None

    def _signature_ok(self, rec: Recorded) -> bool:
        with self._lock:
            secret = self._dingtalk_secrets.get(rec.key)
        if secret is None or rec.path != DINGTALK_ROBOT:
            return True
        timestamp, sign = rec.query.get("timestamp", ""), rec.query.get("sign", "")
        if not timestamp.isdigit() or abs(time.time() * 1000 - int(timestamp)) > 3_600_000:
            return False
        digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256)
        return hmac.compare_digest(base64.b64encode(digest.digest()).decode(), sign)

    def _feishu_sign_ok(self, rec: Recorded) -> bool:
        with self._lock:
            secret = self._feishu_secrets.get(rec.key)
        if secret is None or rec.path != FEISHU_HOOK:
            return True
        body = rec.json if isinstance(rec.json, dict) else {}
        timestamp, sign = str(body.get("timestamp", "")), str(body.get("sign", ""))
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 3600:
            return False
        key = f"{timestamp}\n{secret}".encode()
        expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
        return hmac.compare_digest(expected, sign)

    def _feishu(self, rec: Recorded) -> tuple[int, dict[str, Any]]:
        """Feishu's endpoints: the token, message sends and replies (bearer token checked, content
        a JSON string), custom bots (sign checked when required)."""
        ok = {"code": 0, "msg": "success"}
        if rec.path == FEISHU_TOKEN:
            with self._lock:
                app = self._feishu_app
            given = (rec.json.get("app_id"), rec.json.get("app_secret"))
            if app is not None and given != app:
                return 200, {"code": 10014, "msg": ERRMSG[10014]}
            token = f"t-stub-{next(self._tokens)}"
            with self._lock:
                self._feishu_tokens.add(token)
            return 200, {**ok, "tenant_access_token": token, "expire": self.token_expire_in}
        if rec.path == FEISHU_HOOK:
            if not self._feishu_sign_ok(rec):
                return 200, {"code": 19021, "msg": ERRMSG[19021], "data": {}}
            problems = []
            if len(rec.body) > FEISHU_HOOK_LIMIT:
                problems.append(f"body of {len(rec.body)} bytes > {FEISHU_HOOK_LIMIT}")
            if rec.json.get("msg_type") == "interactive":
                problems += feishu_card_problems(rec.json.get("card"))
            if problems:
                with self._lock:
                    self.rejected.append((rec, problems))
                return 200, {"code": 9499, "msg": "; ".join(problems), "data": {}}
            return 200, {**ok, "data": {}}
        auth = rec.headers.get("authorization", "")
        with self._lock:
            known = auth.startswith("Bearer ") and auth[7:] in self._feishu_tokens
        if not known:
            return 400, {"code": 99991663, "msg": ERRMSG[99991663]}
        if not isinstance(rec.json.get("content"), str) or not rec.json.get("msg_type"):
            return 400, {"code": 230001, "msg": "invalid message content"}
        kind = rec.json["msg_type"]
        limit = FEISHU_API_LIMITS.get(kind, FEISHU_API_LIMITS["post"])
        if len(rec.body) > limit:
            with self._lock:
                self.rejected.append((rec, [f"body of {len(rec.body)} bytes > {limit}"]))
            return 400, {"code": 230025, "msg": ERRMSG[230025]}
        if kind == "interactive":
            try:
                problems = feishu_card_problems(json.loads(rec.json["content"]))
            except ValueError:
                problems = ["content is not JSON"]
            if problems:
                with self._lock:
                    self.rejected.append((rec, problems))
                return 400, {"code": 230099, "msg": f"{ERRMSG[230099]}: {'; '.join(problems)}"}
        message = {"message_id": f"om_stub_{len(self.requests)}", "msg_type": rec.json["msg_type"]}
        return 200, {**ok, "data": message}

    def _answer(self, rec: Recorded, rule: _Rule | None) -> tuple[int, dict[str, Any]]:
        openapi = rec.path.startswith("/v1.0/")
        if rule is not None:
            if rule.delay:
                self._stopping.wait(rule.delay)
            if rule.errcode is not None and rec.path.startswith("/open-apis/"):
                status = rule.status or (429 if rule.errcode == 99991400 else 400)
                if rec.path == FEISHU_HOOK:
                    status = rule.status or 200
                return status, {"code": rule.errcode, "msg": ERRMSG.get(rule.errcode, "stub")}
            if rule.errcode is not None:
                msg = ERRMSG.get(rule.errcode, "stub error")
                if openapi:
                    return rule.status or 400, {
                        "code": str(rule.errcode),
                        "message": msg,
                        "errcode": rule.errcode,
                        "errmsg": msg,
                    }
                return rule.status or 200, {"errcode": rule.errcode, "errmsg": msg}
            if rule.status is not None:
                return rule.status, {"errcode": -1, "errmsg": "stub http error"}
        if rec.path not in PATHS:
            return 404, {"errcode": 404, "errmsg": "no such endpoint"}
        if not isinstance(rec.json, dict):
            return 400, {"errcode": 40000, "errmsg": "body is not a JSON object"}
        if rec.path.startswith("/open-apis/"):
            return self._feishu(rec)
        if not self._signature_ok(rec):
            return 200, {"errcode": 310000, "errmsg": ERRMSG[310000]}
        problems, errcode = card_problems(rec.path, rec.json, len(rec.body))
        if problems:
            with self._lock:
                self.rejected.append((rec, problems))
            if openapi:
                return 400, {"code": str(errcode), "message": "; ".join(problems)}
            return 200, {"errcode": errcode, "errmsg": "; ".join(problems)}
        if rec.path == DINGTALK_TOKEN:
            token = f"stub-token-{next(self._tokens)}"
            return 200, {"accessToken": token, "expireIn": self.token_expire_in}
        if rec.path == DINGTALK_GROUP_SEND:
            return 200, {"processQueryKey": f"stub-query-{len(self.requests)}"}
        return 200, {"errcode": 0, "errmsg": "ok"}

    def respond(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """One request as it arrived (`headers` with lower-case names): record it and answer it
        (status, headers, body). Both front ends (http.server's and the lean one) call this."""
        parts = urlsplit(target)
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            payload = None
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        path, from_path = route_of(parts.path)
        rec = Recorded(
            method=method,
            path=path,
            query=query,
            headers=headers,
            body=body,
            json=payload,
            key=robot_key_of(path, query, payload, from_path),
            raw_path=parts.path,
        )
        served = self._file_answer(rec) or self._oauth_answer(rec)
        if served is not None:
            rule = self._record(rec)
            if rule is not None:  # a fault aimed at a download (fail_next with path)
                if rule.delay:
                    self._stopping.wait(rule.delay)
                if rule.errcode is not None or rule.status is not None:
                    code = rule.errcode if rule.errcode is not None else -1
                    served = _json(
                        rule.status or 400, {"code": code, "msg": ERRMSG.get(code, "stub error")}
                    )
            return served
        status, answer = self._answer(rec, self._record(rec))
        status, out_headers, out = _json(status, answer)
        if answer.get("code") == 99991400 and self.feishu_reset_s is not None:
            out_headers["x-ogw-ratelimit-reset"] = str(self.feishu_reset_s)
        return status, out_headers, out

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes: without TCP_NODELAY, Nagle holds the
            # body back until the client's delayed ACK (~40 ms per request on keep-alive).
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                self._handle()

            def do_GET(self) -> None:
                self._handle()

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                if len(body) < length:
                    # the client went away mid-body (a killed worker): a platform's server
                    # never sees such a request, so neither is it recorded nor answered
                    self.close_connection = True
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, out_headers, out = stub.respond(self.command, self.path, headers, body)
                try:
                    self.send_response(status)
                    for k, v in {**out_headers, "Content-Length": str(len(out))}.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(out)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a provoked timeout)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output quiet

        return Handler


def _json(status: int, answer: dict) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps(answer, ensure_ascii=False).encode("utf-8")
    return status, {"Content-Type": "application/json; charset=utf-8"}, body


def _binary(data: bytes, name: str) -> tuple[int, dict[str, str], bytes]:
    """A file as the platforms' CDNs serve it: its name, when known, in Content-Disposition
    (RFC 6266's filename* for the UTF-8 name, a plain filename beside it)."""
    from urllib.parse import quote

    headers = {"Content-Type": "application/octet-stream"}
    if name:
        headers["Content-Disposition"] = (
            f"attachment; filename=\"{quote(name)}\"; filename*=UTF-8''{quote(name)}"
        )
    return 200, headers, data
