"""DingTalk Stream mode: the robot's messages over a WebSocket that Duban opens, instead of
POST /hooks/dingtalk.

Protocol ("协议描述", https://open-dingtalk.github.io/developerpedia/docs/learn/stream/protocol):
POST the gateway's connections/open with the app's clientId/clientSecret and the topics we
subscribe to, get {endpoint, ticket}, open `endpoint?ticket=...`. Every frame is JSON
{specVersion, type: SYSTEM|EVENT|CALLBACK, headers: {messageId, topic, ...}, data: "<JSON>"} and
is acknowledged with {code, headers: {messageId, contentType}, message, data}. SYSTEM `ping` is
answered with its own data; SYSTEM `disconnect` means the gateway is about to close: we open a
new connection. A robot message is a CALLBACK on /v1.0/im/bot/messages/get whose data is the
JSON an HTTP-mode callback carries; it is acknowledged once it is in the inbox, and answered
through its sessionWebhook by the answers worker, as in DUBAN_DINGTALK_REPLY=queue.

Not the official `dingtalk-stream` SDK (0.24.3): its gateway address is a class constant, its
SYSTEM frames fail to parse (`SystemMessage.from_dict` is defined inside `__init__`, so pings go
unanswered), one unreadable frame drops the whole connection, it reconnects after a fixed 10 s,
blocks the event loop on the open request (no timeout), and has no way to stop. The protocol is
small; this client speaks it on `websockets`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from typing import Any
from urllib.parse import quote_plus, urlsplit

import requests
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bot.platforms.base import MalformedError
from bot.platforms.dingtalk import DingTalk
from bot.stream.accept import accept_to_inbox
from bot.stream.connection import AuthError, GatewayError, InHand

log = logging.getLogger(__name__)

BOT_TOPIC = "/v1.0/im/bot/messages/get"
OPEN_TIMEOUT_S = 10.0
UA = "duban-stream/1"


def ack(message_id: str, data: str, code: int = 200, message: str = "OK") -> str:
    """The acknowledgement of one frame (the SDK's AckMessage.to_dict)."""
    headers = {"messageId": message_id, "contentType": "application/json"}
    return json.dumps({"code": code, "headers": headers, "message": message, "data": data})


def local_ip(url: str) -> str:
    """The address this host reaches the gateway from (the `localIp` the open request carries).
    A UDP connect sends nothing; it only picks the route."""
    host = urlsplit(url).hostname or ""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect((host, 443))
            return s.getsockname()[0]
    except OSError:
        return ""


class DingTalkStream:
    """One DingTalk Stream connection at a time, for `run_client`."""

    name = "dingtalk"

    def __init__(self, rt: Any, open_url: str = "", ping_interval: float = 60.0) -> None:
        settings = rt.settings
        self.rt = rt
        self.platform = DingTalk(settings)
        self.client_id = settings.dingtalk_app_key
        self.client_secret = settings.dingtalk_app_secret
        self.open_url = open_url or settings.dingtalk_stream_url
        self.ping_interval = ping_interval  # WebSocket pings, as the SDK's keepalive does
        self.counts = {"accepted": 0, "duplicate": 0, "ignored": 0, "unanswerable": 0}
        self.counts |= {"malformed": 0, "pings": 0, "not_acked": 0}

    def open_connection(self) -> str:
        """POST connections/open; the WebSocket URL with its ticket."""
        body = {
            "clientId": self.client_id,
            "clientSecret": self.client_secret,
            "subscriptions": [{"type": "CALLBACK", "topic": BOT_TOPIC}],
            "ua": UA,
            "localIp": local_ip(self.open_url),
        }
        try:
            resp = requests.post(self.open_url, json=body, timeout=OPEN_TIMEOUT_S)
        except requests.RequestException as e:
            raise GatewayError(f"connections/open failed: {type(e).__name__}") from None
        if resp.status_code in (400, 401, 403):
            # The answer names the problem (e.g. an unknown clientId); never our secret.
            code = _field(resp, "code") or resp.status_code
            raise AuthError(
                f"DingTalk refused the Stream connection ({code}): check DUBAN_DINGTALK_APP_KEY"
                " and DUBAN_DINGTALK_APP_SECRET, and that the robot is set to Stream mode"
            )
        if resp.status_code != 200:
            raise GatewayError(f"connections/open answered HTTP {resp.status_code}")
        endpoint, ticket = _field(resp, "endpoint"), _field(resp, "ticket")
        if not isinstance(endpoint, str) or not isinstance(ticket, str) or not endpoint:
            raise GatewayError("connections/open answered without endpoint and ticket")
        return f"{endpoint}?ticket={quote_plus(ticket)}"

    async def session(self, stop: asyncio.Event) -> None:
        url = await asyncio.to_thread(self.open_connection)
        in_hand = InHand()
        async with connect(url, ping_interval=self.ping_interval, max_size=2**20) as ws:
            log.info("dingtalk: connected to the Stream gateway")
            closer = asyncio.ensure_future(_close_on(stop, ws))
            try:
                async for raw in ws:
                    if await self._frame(ws, raw, in_hand) == "disconnect":
                        log.info("dingtalk: the gateway asked for a new connection")
                        break
            finally:
                closer.cancel()
                await in_hand.finish()

    async def _frame(self, ws: ClientConnection, raw: str | bytes, in_hand: InHand) -> str:
        """Handle one frame; "disconnect" when the gateway asks us to reconnect."""
        try:
            frame = json.loads(raw)
            kind, headers = frame["type"], frame["headers"]
            message_id, topic = str(headers["messageId"]), headers.get("topic", "")
            data = frame.get("data") or ""
            if not isinstance(data, str):
                raise TypeError("data is not a string")
        except (ValueError, KeyError, TypeError) as e:
            self.counts["malformed"] += 1
            log.warning("dingtalk: unreadable frame skipped (%s)", type(e).__name__)
            return ""
        if kind == "SYSTEM":
            if topic == "ping":
                self.counts["pings"] += 1
                await _send(ws, ack(message_id, data))
            elif topic == "disconnect":
                await _send(ws, ack(message_id, data))
                return "disconnect"
            else:
                await _send(ws, ack(message_id, data))
        elif kind == "CALLBACK" and topic == BOT_TOPIC:
            await in_hand.start(self._message(ws, message_id, data, in_hand))
        else:
            # Nothing else is subscribed; acknowledged so that it is not sent again.
            log.info("dingtalk: %s frame on %r acknowledged unread", kind, topic)
            await _send(ws, ack(message_id, "", message="ignored"))
        return ""

    async def _message(
        self, ws: ClientConnection, message_id: str, data: str, in_hand: InHand
    ) -> None:
        try:
            state = await in_hand.run(accept_to_inbox, self.rt, self.platform, data.encode())
        except MalformedError as e:
            # Acknowledged all the same: sending it again would not make it readable.
            self.counts["malformed"] += 1
            log.warning("dingtalk: message frame %s skipped: %s", message_id, e)
            await _send(ws, ack(message_id, "", message="malformed"))
            return
        except Exception:
            # Not acknowledged: the gateway sends it again, and the dedupe makes that harmless.
            self.counts["not_acked"] += 1
            log.exception("dingtalk: message frame %s could not be accepted", message_id)
            return
        self.counts[state] += 1
        await _send(ws, ack(message_id, json.dumps({"response": None})))


def _field(resp: requests.Response, key: str) -> Any:
    try:
        data = resp.json()
    except ValueError:
        return None
    return data.get(key) if isinstance(data, dict) else None


async def _send(ws: ClientConnection, text: str) -> bool:
    """Send one frame; False when the connection is gone (the gateway sends again what it did
    not get acknowledged)."""
    try:
        await ws.send(text)
        return True
    except ConnectionClosed:
        return False


async def _close_on(stop: asyncio.Event, ws: ClientConnection) -> None:
    await stop.wait()
    await ws.close()
