"""Feishu's event WebSocket ("使用长连接接收事件",
https://open.feishu.cn/document/server-docs/event-subscription-guide/event-subscription-configure-/request-url-configuration-case):
events over a connection Duban opens, instead of an HTTP event subscription.

The protocol is the one lark-oapi's `lark_oapi.ws.Client` speaks (1.7.5): POST the endpoint URL
with {AppID, AppSecret} to get {code, data: {URL, ClientConfig}}, open URL (its query names our
service_id), then exchange protobuf `pbbp2.Frame`s. method 0 frames are control frames (we send
`ping` every ClientConfig.PingInterval seconds; the `pong` may carry a new ClientConfig),
method 1 frames carry data: an `event` whose JSON payload (plain, not encrypted) may come in
`sum` parts numbered by `seq`. Each event is answered by sending its frame back with a JSON
payload {"code": 200} (500 when we could not take it, so Feishu sends it again).

Not the SDK's client: it runs on an event loop created when the module is imported and blocks
in `start()` with no way to stop, so it cannot share this process's loop with the other
platforms; its handlers run on that loop and would hold the pings back while a command waits on
Redis; it needs websockets < 16 and brings pycryptodome and httpx into production. The frame is
small enough to encode here (`encode_frame`/`decode_frame`; tests check them against the SDK's
generated protobuf classes).

The client hands each event's payload to the `on_event` function it is given. In the stream
process that is `InboxEvents`: an `im.message.receive_v1` message is parsed by the Feishu
platform package and accepted into the inbox exactly as /hooks/feishu accepts it (the same
dedupe by message id), then answered by the answers worker through the reply API. An event is
answered 200 once it is safely in Redis (or was there already), or when it cannot be read
(sending it again would not help); 500 only when Redis could not take it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bot.platforms.base import MalformedError
from bot.stream.accept import accept_feishu_event
from bot.stream.connection import AuthError, GatewayError, InHand

log = logging.getLogger(__name__)

CONTROL, DATA = 0, 1  # Frame.method
OPEN_TIMEOUT_S = 10.0
PART_TTL_S = 5.0  # parts of an event not completed within this are dropped (as the SDK does)
# Endpoint answers that mean "try again later" (lark_oapi/ws/const.py); any other non-zero code
# is about our app or its credentials.
_BUSY = {1, 1000040343}
# Handshake answers (the handshake-status header): 403 forbidden, 514 authentication failed.
_REFUSED = {403, 514}


# --- pbbp2.Frame ------------------------------------------------------------------------------


@dataclass
class Frame:
    """message Frame { SeqID=1, LogID=2, service=3, method=4, headers=5 (Header{key=1, value=2}),
    payload_encoding=6, payload_type=7, payload=8, LogIDNew=9 } (proto2)."""

    seq_id: int = 0
    log_id: int = 0
    service: int = 0
    method: int = 0
    headers: list[tuple[str, str]] = field(default_factory=list)
    payload_encoding: str = ""
    payload_type: str = ""
    payload: bytes = b""
    log_id_new: str = ""

    def header(self, key: str) -> str:
        return next((v for k, v in self.headers if k == key), "")


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative int32 values travel as ten-byte two's complement
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, value: int | bytes | str) -> bytes:
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    data = value.encode("utf-8") if isinstance(value, str) else value
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def encode_frame(f: Frame) -> bytes:
    out = [_field(1, f.seq_id), _field(2, f.log_id), _field(3, f.service), _field(4, f.method)]
    out += [_field(5, _field(1, k) + _field(2, v)) for k, v in f.headers]
    for number, value in ((6, f.payload_encoding), (7, f.payload_type), (8, f.payload),
                          (9, f.log_id_new)):  # fmt: skip
        if value:
            out.append(_field(number, value))
    return b"".join(out)


def _fields(data: bytes):
    """(number, value) of each field; ValueError for anything that is not well-formed."""
    i = 0

    def varint() -> int:
        nonlocal i
        n = shift = 0
        while True:
            if i >= len(data) or shift > 63:
                raise ValueError("truncated varint")
            b = data[i]
            i += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return n

    while i < len(data):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            yield number, varint()
        elif wire == 2:
            size = varint()
            if i + size > len(data):
                raise ValueError("truncated field")
            yield number, data[i : i + size]
            i += size
        elif wire in (1, 5):
            i += 8 if wire == 1 else 4
            if i > len(data):
                raise ValueError("truncated field")
        else:
            raise ValueError(f"wire type {wire}")


def _int32(n: int) -> int:
    n &= (1 << 32) - 1
    return n - (1 << 32) if n >= 1 << 31 else n


def decode_frame(data: bytes) -> Frame:
    f = Frame()
    texts = {6: "payload_encoding", 7: "payload_type", 9: "log_id_new"}
    for number, value in _fields(data):
        if number in (1, 2, 3, 4) and not isinstance(value, int):
            raise ValueError(f"field {number} is not a number")
        if number in (5, 6, 7, 8, 9) and not isinstance(value, bytes):
            raise ValueError(f"field {number} is not bytes")
        if number == 1:
            f.seq_id = value
        elif number == 2:
            f.log_id = value
        elif number == 3:
            f.service = _int32(value)
        elif number == 4:
            f.method = _int32(value)
        elif number == 5:
            header = dict(_fields(value))
            key, val = header.get(1, b""), header.get(2, b"")
            if not isinstance(key, bytes) or not isinstance(val, bytes):
                raise ValueError("header key or value is not a string")
            f.headers.append((key.decode("utf-8"), val.decode("utf-8")))
        elif number == 8:
            f.payload = value
        elif number in texts:
            setattr(f, texts[number], value.decode("utf-8"))
    return f


# --- the client ---------------------------------------------------------------------------------


class FeishuWs:
    """One Feishu event WebSocket at a time, for `run_client`."""

    name = "feishu"

    def __init__(
        self,
        on_event: Callable[[bytes], None],
        app_id: str,
        app_secret: str,
        endpoint_url: str = "https://open.feishu.cn/callback/ws/endpoint",
    ) -> None:
        self.on_event = on_event  # runs in a worker thread; raising means "send it again"
        self.app_id, self.app_secret = app_id, app_secret
        self.endpoint_url = endpoint_url
        self.ping_interval = 120.0
        self._parts: dict[str, tuple[float, list[bytes | None]]] = {}
        self.counts = {"events": 0, "failed": 0, "malformed": 0, "pongs": 0}

    def endpoint(self) -> str:
        """POST the endpoint URL; the WebSocket URL (and the ping interval it configures)."""
        body = {"AppID": self.app_id, "AppSecret": self.app_secret}
        try:
            resp = requests.post(
                self.endpoint_url, json=body, headers={"locale": "zh"}, timeout=OPEN_TIMEOUT_S
            )
            data = resp.json() if resp.status_code == 200 else None
        except (requests.RequestException, ValueError) as e:
            raise GatewayError(f"endpoint request failed: {type(e).__name__}") from None
        if not isinstance(data, dict):
            raise GatewayError(f"endpoint answered HTTP {resp.status_code}")
        code = data.get("code")
        if code in _BUSY:
            raise GatewayError(f"endpoint busy ({code})")
        if code != 0:
            raise AuthError(
                f"Feishu refused the event connection ({code}: {data.get('msg', '')}): check"
                " DUBAN_FEISHU_APP_ID and DUBAN_FEISHU_APP_SECRET, and that the app receives"
                " events through a persistent connection"
            )
        info = data.get("data") or {}
        url = info.get("URL") if isinstance(info, dict) else None
        if not isinstance(url, str) or not url:
            raise GatewayError("endpoint answered without a URL")
        self._configure(info.get("ClientConfig"))
        return url

    def _configure(self, conf: Any) -> None:
        if isinstance(conf, dict) and isinstance(conf.get("PingInterval"), int | float):
            if conf["PingInterval"] > 0:
                self.ping_interval = float(conf["PingInterval"])

    async def session(self, stop: asyncio.Event) -> None:
        url = await asyncio.to_thread(self.endpoint)
        try:
            service = int(parse_qs(urlsplit(url).query)["service_id"][0])
        except (KeyError, IndexError, ValueError):
            raise GatewayError("the WebSocket URL names no service_id") from None
        in_hand = InHand()
        try:
            ws = await connect(url, ping_interval=None, max_size=2**20)
        except InvalidStatus as e:
            status = e.response.headers.get("handshake-status", "")
            if status.isdigit() and int(status) in _REFUSED:
                raise AuthError(
                    f"Feishu refused the event connection ({status}:"
                    f" {e.response.headers.get('handshake-msg', '')})"
                ) from None
            raise
        async with ws:
            log.info("feishu: connected to the event WebSocket")
            pinger = asyncio.ensure_future(self._ping(ws, service))
            halt = asyncio.ensure_future(stop.wait())
            reader = asyncio.ensure_future(self._read(ws, in_hand))
            try:
                done, _ = await asyncio.wait({reader, pinger, halt}, return_when="FIRST_COMPLETED")
                for task in done - {halt}:
                    task.result()
            finally:
                for task in (pinger, halt, reader):
                    task.cancel()
                await in_hand.finish()

    async def _ping(self, ws: ClientConnection, service: int) -> None:
        while True:
            ping = Frame(service=service, method=CONTROL, headers=[("type", "ping")])
            await ws.send(encode_frame(ping))
            await asyncio.sleep(self.ping_interval)

    async def _read(self, ws: ClientConnection, in_hand: InHand) -> None:
        async for raw in ws:
            try:
                if not isinstance(raw, bytes):
                    raise ValueError("a text frame")
                frame = decode_frame(raw)
            except (ValueError, UnicodeDecodeError) as e:
                self.counts["malformed"] += 1
                log.warning("feishu: unreadable frame skipped (%s)", e)
                continue
            kind = frame.header("type")
            if frame.method == CONTROL:
                if kind == "pong":
                    self.counts["pongs"] += 1
                    if frame.payload:
                        try:
                            self._configure(json.loads(frame.payload))
                        except ValueError:
                            pass
            elif frame.method == DATA and kind == "event":
                payload = self._whole(frame)
                if payload is not None:
                    await in_hand.start(self._event(ws, frame, payload, in_hand))
            else:
                log.info("feishu: %r frame ignored", kind)

    def _whole(self, frame: Frame) -> bytes | None:
        """The event's payload once all of its parts arrived, else None (kept for PART_TTL_S)."""
        try:
            total, seq = int(frame.header("sum") or 1), int(frame.header("seq") or 0)
        except ValueError:
            total, seq = 1, 0
        if total <= 1:
            return frame.payload
        if not 0 <= seq < total or total > 1000:
            self.counts["malformed"] += 1
            return None
        now = time.monotonic()
        for key in [k for k, (at, _) in self._parts.items() if now - at > PART_TTL_S]:
            del self._parts[key]
        key = frame.header("message_id")
        at, parts = self._parts.setdefault(key, (now, [None] * total))
        if len(parts) != total:
            return None
        parts[seq] = frame.payload
        if any(p is None for p in parts):
            return None
        del self._parts[key]
        return b"".join(p for p in parts if p is not None)

    async def _event(
        self, ws: ClientConnection, frame: Frame, payload: bytes, in_hand: InHand
    ) -> None:
        started = time.monotonic()
        try:
            await in_hand.run(self.on_event, payload)
            code = 200
            self.counts["events"] += 1
        except Exception:
            code = 500
            self.counts["failed"] += 1
            log.exception("feishu: event %s could not be handled", frame.header("message_id"))
        took = str(int((time.monotonic() - started) * 1000))
        answer = Frame(
            seq_id=frame.seq_id, log_id=frame.log_id, service=frame.service, method=frame.method,
            headers=[*frame.headers, ("biz_rt", took)], payload_encoding=frame.payload_encoding,
            payload_type=frame.payload_type, log_id_new=frame.log_id_new,
            payload=json.dumps({"code": code}).encode(),
        )  # fmt: skip
        try:
            await ws.send(encode_frame(answer))
        except ConnectionClosed:
            pass  # not answered: Feishu sends the event again


# --- events into Duban ----------------------------------------------------------------------------


class InboxEvents:
    """`on_event` for the stream process: each event into the inbox (bot/stream/accept.py)."""

    def __init__(self, rt: Any) -> None:
        self.rt = rt
        self.counts = {"accepted": 0, "duplicate": 0, "ignored": 0, "unanswerable": 0}
        self.counts["malformed"] = 0

    def __call__(self, payload: bytes) -> None:
        try:
            outcome = accept_feishu_event(self.rt, payload)
        except MalformedError as e:
            # Logged without the payload (people's messages); answered 200, as a hook answers
            # an unreadable body 400 once: Feishu sending it again would not make it readable.
            self.counts["malformed"] += 1
            log.warning("feishu: event skipped: %s", e)
            return
        self.counts[outcome] += 1


def for_runtime(rt: Any) -> FeishuWs:
    """The stream process's Feishu client, with the app's settings and InboxEvents."""
    s = rt.settings
    return FeishuWs(InboxEvents(rt), s.feishu_app_id, s.feishu_app_secret, s.feishu_ws_url)
