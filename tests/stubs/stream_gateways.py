"""Local stand-ins for the platforms' long-connection gateways, speaking their documented frames
on 127.0.0.1, for the intranet-mode tests and bench/stream.py:

- DingTalkGateway: POST /v1.0/gateway/connections/open (clientId/clientSecret checked) and the
  Stream WebSocket (ticket checked): CALLBACK, SYSTEM ping and disconnect frames out, ACKs in.
  A CALLBACK not acknowledged is sent again on the next connection, as the gateway does.
- WeComGateway: the smart bot's long connection: aibot_subscribe (bot id/secret checked),
  ping, aibot_msg_callback out, aibot_respond_msg in (each answered errcode 0); a callback not
  answered is sent again on the next connection with a new req_id.
- FeishuGateway: POST /callback/ws/endpoint and the event WebSocket with protobuf frames built
  by lark-oapi's generated pbbp2 classes (an implementation independent of ours). An event not
  answered with code 200 is sent again on the next connection, with the same message id.

Each runs its own event loop in a thread; the test calls plain methods and waits with
`wait_until`. Every gateway can drop the connection (`drop`), and `drop_after_send` makes it
close the socket right after the next frame it sends, before any answer can arrive.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    """Poll until `predicate()` is truthy; its value. AssertionError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.02)


class _Gateway:
    """A WebSocket server (and optionally an HTTP endpoint) on 127.0.0.1 in a thread."""

    http_paths: tuple[str, ...] = ()
    ready_on_connect = True  # False: `ws` is set once the client has subscribed

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._http: ThreadingHTTPServer | None = None
        self.ws: ServerConnection | None = None
        self.connections = 0
        self.unreadable: list[str | bytes] = []  # client frames that were not valid
        self.drop_after_send = False
        self._deaf: set[int] = set()  # connections whose frames are no longer heard
        self.on_answer: Callable[[], None] = lambda: None  # after each ACK / reply (bench)
        self.lock = threading.Lock()

    # --- life -------------------------------------------------------------------------------

    def start(self):
        self._thread.start()
        self._server = self.call(self._listen())
        self.ws_port = self._server.sockets[0].getsockname()[1]
        if self.http_paths:
            self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._http_handler())
            threading.Thread(target=self._http.serve_forever, daemon=True).start()
        return self

    async def _listen(self):
        return await serve(self._serve, "127.0.0.1", 0, ping_interval=None)

    def stop(self) -> None:
        if self._http:
            self._http.shutdown()
            self._http.server_close()
        self._server.close()
        self.call(self._server.wait_closed())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def call(self, coro, timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @property
    def http_url(self) -> str:
        assert self._http is not None
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    # --- the socket ---------------------------------------------------------------------------

    async def _serve(self, ws: ServerConnection) -> None:
        if not self.accept(ws):
            await ws.close(4003, "refused")
            return
        with self.lock:
            self.connections += 1
        await self.on_connect(ws)
        if self.ready_on_connect:
            self.ws = ws  # frames sent from now on are not also part of a redelivery
        try:
            async for raw in ws:
                if id(ws) not in self._deaf:
                    self.on_frame(ws, raw)
        except ConnectionClosed:
            pass

    def accept(self, ws: ServerConnection) -> bool:
        return True

    async def on_connect(self, ws: ServerConnection) -> None:
        pass

    def on_frame(self, ws: ServerConnection, raw: str | bytes) -> None:
        raise NotImplementedError

    def send(self, frame: str | bytes, timeout: float = 10.0) -> None:
        """Send on the current connection (waiting for one)."""
        wait_until(lambda: self.ws is not None, timeout, "a connection")
        self.call(self._send(self.ws, frame))

    async def _send(self, ws: ServerConnection, frame: str | bytes) -> None:
        await ws.send(frame)
        if self.drop_after_send:
            # Closed right behind the frame: the client reads it, and whatever it answers is
            # not heard (as when the network fails between the two).
            self.drop_after_send = False
            self.ws = None
            self._deaf.add(id(ws))
            await ws.close()

    def drop(self) -> None:
        """Cut the current connection without a closing handshake."""
        ws, self.ws = self.ws, None
        if ws is not None:
            self.loop.call_soon_threadsafe(ws.transport.abort)

    # --- the HTTP endpoint --------------------------------------------------------------------

    def on_http(self, path: str, body: dict) -> tuple[int, dict]:
        raise NotImplementedError

    def _http_handler(self) -> type[BaseHTTPRequestHandler]:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(size) or b"{}")
                except ValueError:
                    body = {}
                path = urlsplit(self.path).path
                status, answer = (
                    gateway.on_http(path, body) if path in gateway.http_paths else (404, {})
                )
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


# --- DingTalk Stream ----------------------------------------------------------------------------

OPEN_PATH = "/v1.0/gateway/connections/open"
BOT_TOPIC = "/v1.0/im/bot/messages/get"


class DingTalkGateway(_Gateway):
    http_paths = (OPEN_PATH,)

    def __init__(self, client_id: str = "ding-app-key", client_secret: str = "ding-secret"):
        super().__init__()
        self.client_id, self.client_secret = client_id, client_secret
        self.opens: list[dict] = []  # connections/open request bodies
        self.refused = 0
        self.tickets: set[str] = set()
        self.acks: list[dict] = []
        self.pending: dict[str, str] = {}  # messageId -> CALLBACK frame not acknowledged yet
        self._ids = itertools.count(1)

    @property
    def open_url(self) -> str:
        return self.http_url + OPEN_PATH

    def on_http(self, path: str, body: dict) -> tuple[int, dict]:
        self.opens.append(body)
        if body.get("clientId") != self.client_id or body.get("clientSecret") != self.client_secret:
            self.refused += 1
            return 401, {"code": "InvalidAuthentication", "message": "clientId or secret wrong"}
        ticket = secrets.token_urlsafe(12)
        self.tickets.add(ticket)
        return 200, {"endpoint": f"ws://127.0.0.1:{self.ws_port}/connect", "ticket": ticket}

    def accept(self, ws: ServerConnection) -> bool:
        query = parse_qs(urlsplit(ws.request.path).query)
        return query.get("ticket", [""])[0] in self.tickets

    async def on_connect(self, ws: ServerConnection) -> None:
        for frame in list(self.pending.values()):  # redelivery of what was not acknowledged
            await self._send(ws, frame)

    def on_frame(self, ws: ServerConnection, raw: str | bytes) -> None:
        try:
            ack = json.loads(raw)
            message_id = ack["headers"]["messageId"]
            assert isinstance(ack["code"], int) and isinstance(ack["data"], str)
        except (ValueError, KeyError, TypeError, AssertionError):
            self.unreadable.append(raw)
            return
        self.acks.append(ack)
        self.pending.pop(message_id, None)
        self.on_answer()

    def frame(self, kind: str, topic: str, data: str, message_id: str = "") -> tuple[str, str]:
        message_id = message_id or f"msg-{next(self._ids)}"
        headers = {
            "appId": "app-1", "connectionId": "conn-1", "contentType": "application/json",
            "messageId": message_id, "time": str(int(time.time() * 1000)), "topic": topic,
        }  # fmt: skip
        frame = {"specVersion": "1.0", "type": kind, "headers": headers, "data": data}
        return message_id, json.dumps(frame, ensure_ascii=False)

    def callback(self, payload: dict | str, message_id: str = "") -> str:
        """A robot message (the HTTP callback's JSON) as a CALLBACK frame; its messageId."""
        data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
        message_id, frame = self.frame("CALLBACK", BOT_TOPIC, data, message_id)
        wait_until(lambda: self.ws is not None, what="a connection")
        self.pending[message_id] = frame
        self.send(frame)
        return message_id

    def ping(self, data: str = '{"opaque":"abc"}') -> str:
        message_id, frame = self.frame("SYSTEM", "ping", data)
        self.send(frame)
        return message_id

    def disconnect(self) -> str:
        message_id, frame = self.frame("SYSTEM", "disconnect", "")
        self.send(frame)
        return message_id

    def acks_for(self, message_id: str) -> list[dict]:
        return [a for a in self.acks if a["headers"]["messageId"] == message_id]


# --- WeCom smart bot long connection ----------------------------------------------------------


class WeComGateway(_Gateway):
    ready_on_connect = False

    def __init__(self, bot_id: str = "bot-1", secret: str = "bot-secret"):
        super().__init__()
        self.bot_id, self.secret = bot_id, secret
        self.subscribes: list[dict] = []
        self.refused = 0
        self.pings = 0
        self.answer_pings = True
        self.answer_replies = True  # False: replies are taken silently (the answer is lost)
        self.responds: list[dict] = []
        self.pending: dict[str, dict] = {}  # msgid -> callback body not answered yet
        self._req_ids: dict[str, str] = {}  # req_id -> msgid of each callback sent
        self._ids = itertools.count(1)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}"

    def _answer(self, ws: ServerConnection, req_id: str, errcode: int = 0) -> None:
        frame = {"headers": {"req_id": req_id}, "errcode": errcode,
                 "errmsg": "ok" if errcode == 0 else "invalid"}  # fmt: skip
        asyncio.ensure_future(ws.send(json.dumps(frame)))

    def on_frame(self, ws: ServerConnection, raw: str | bytes) -> None:
        try:
            frame = json.loads(raw)
            cmd, req_id = frame["cmd"], frame["headers"]["req_id"]
        except (ValueError, KeyError, TypeError):
            self.unreadable.append(raw)
            return
        if cmd == "aibot_subscribe":
            self.subscribes.append(frame)
            body = frame.get("body") or {}
            if body.get("bot_id") != self.bot_id or body.get("secret") != self.secret:
                self.refused += 1
                self._answer(ws, req_id, 40058)
                return
            self._answer(ws, req_id)
            asyncio.ensure_future(self._redeliver(ws))
        elif cmd == "ping":
            self.pings += 1
            if self.answer_pings:
                self._answer(ws, req_id)
        elif cmd == "aibot_respond_msg":
            self.responds.append(frame)
            if self.answer_replies:
                self._answer(ws, req_id)
            msgid = self._req_ids.get(req_id)
            self.pending.pop(msgid, None)
            self.on_answer()
        else:
            self.unreadable.append(raw)

    async def _redeliver(self, ws: ServerConnection) -> None:
        for body in list(self.pending.values()):
            await self._send(ws, self._callback_frame(body))
        self.ws = ws

    def _callback_frame(self, body: dict) -> str:
        req_id = f"req-{next(self._ids)}"
        self._req_ids[req_id] = body.get("msgid", "")
        return json.dumps({"cmd": "aibot_msg_callback", "headers": {"req_id": req_id},
                           "body": body}, ensure_ascii=False)  # fmt: skip

    def callback(self, body: dict) -> None:
        """A smart bot message (the HTTP callback's decrypted JSON) as aibot_msg_callback."""
        wait_until(lambda: self.ws is not None, what="a subscribed connection")
        self.pending[body.get("msgid", "")] = body
        self.send(self._callback_frame(body))

    def kick(self) -> None:
        body = {"msgtype": "event", "event": {"eventtype": "disconnected_event"}}
        self.send(json.dumps({"cmd": "aibot_event_callback", "headers": {"req_id": "ev-1"},
                              "body": body}))  # fmt: skip

    def responds_to(self, msgid: str) -> list[dict]:
        return [r for r in self.responds if self._req_ids.get(r["headers"]["req_id"]) == msgid]


def wecom_text(text: str, msgid: str, user: str = "wx-staff001", chat: str = "wrGroup1") -> dict:
    """A group @-message as the smart bot receives it (text.content keeps the @mention)."""
    return {
        "msgid": msgid, "aibotid": "bot-1", "chatid": chat, "chattype": "group",
        "from": {"userid": user}, "msgtype": "text", "text": {"content": f"@督办 {text}"},
    }  # fmt: skip


# --- Feishu event WebSocket ---------------------------------------------------------------------

ENDPOINT_PATH = "/callback/ws/endpoint"


class FeishuGateway(_Gateway):
    http_paths = (ENDPOINT_PATH,)

    def __init__(self, app_id: str = "cli_test", app_secret: str = "feishu-secret"):
        super().__init__()
        from lark_oapi.ws.pb.pbbp2_pb2 import Frame

        self.Frame = Frame
        self.app_id, self.app_secret = app_id, app_secret
        self.ping_interval = 1
        self.refused = 0
        self.pings = 0
        self.answers: list[Any] = []  # lark Frame objects the client sent back for events
        self.service_id = 7
        self.pending: dict[str, list[bytes]] = {}  # message id -> frames of an event not taken
        self._ids = itertools.count(1)

    @property
    def endpoint_url(self) -> str:
        return self.http_url + ENDPOINT_PATH

    def on_http(self, path: str, body: dict) -> tuple[int, dict]:
        if body.get("AppID") != self.app_id or body.get("AppSecret") != self.app_secret:
            self.refused += 1
            return 200, {"code": 10014, "msg": "app secret invalid"}
        url = f"ws://127.0.0.1:{self.ws_port}/ws?device_id=dev-1&service_id={self.service_id}"
        config = {"ReconnectCount": -1, "ReconnectInterval": 1, "ReconnectNonce": 0,
                  "PingInterval": self.ping_interval}  # fmt: skip
        return 200, {"code": 0, "msg": "ok", "data": {"URL": url, "ClientConfig": config}}

    def _new(self, method: int, headers: dict[str, str], payload: bytes = b""):
        frame = self.Frame()
        frame.SeqID, frame.LogID, frame.service, frame.method = 0, 0, self.service_id, method
        for k, v in headers.items():
            h = frame.headers.add()
            h.key, h.value = k, v
        if payload:
            frame.payload = payload
        return frame

    def on_frame(self, ws: ServerConnection, raw: str | bytes) -> None:
        frame = self.Frame()
        try:
            frame.ParseFromString(raw)
        except Exception:
            self.unreadable.append(raw)
            return
        kind = next((h.value for h in frame.headers if h.key == "type"), "")
        if frame.method == 0 and kind == "ping":
            self.pings += 1
            pong = self._new(0, {"type": "pong"}, json.dumps({"PingInterval": 1}).encode())
            asyncio.ensure_future(ws.send(pong.SerializeToString()))
        elif frame.method == 1:
            self.answers.append(frame)
            message_id = next((h.value for h in frame.headers if h.key == "message_id"), "")
            try:
                taken = json.loads(frame.payload).get("code") == 200
            except (ValueError, AttributeError):
                taken = False
            if taken:
                self.pending.pop(message_id, None)
            self.on_answer()
        else:
            self.unreadable.append(raw)

    def event(self, payload: dict, parts: int = 1) -> str:
        """An event as one or several data frames; its message id."""
        message_id = f"ev-{next(self._ids)}"
        # on a connection first, or a connection coming up would send it twice (as pending too)
        wait_until(lambda: self.ws is not None, what="a connection")
        data = json.dumps(payload, ensure_ascii=False).encode()
        size = -(-len(data) // parts)
        for seq in range(parts):
            headers = {"type": "event", "message_id": message_id, "sum": str(parts),
                       "seq": str(seq), "trace_id": "trace-1"}  # fmt: skip
            chunk = data[seq * size : (seq + 1) * size]
            raw = self._new(1, headers, chunk).SerializeToString()
            self.pending.setdefault(message_id, []).append(raw)
            self.send(raw)
        return message_id

    async def on_connect(self, ws: ServerConnection) -> None:
        for frames in list(self.pending.values()):  # an event not taken is sent again
            for raw in frames:
                await self._send(ws, raw)

    def event_bytes(self, payload: bytes) -> str:
        """An event frame carrying these bytes as its payload (not necessarily JSON)."""
        message_id = f"ev-{next(self._ids)}"
        headers = {"type": "event", "message_id": message_id, "sum": "1", "seq": "0"}
        wait_until(lambda: self.ws is not None, what="a connection")
        raw = self._new(1, headers, payload).SerializeToString()
        self.pending.setdefault(message_id, []).append(raw)
        self.send(raw)
        return message_id

    def answers_for(self, message_id: str) -> list[dict]:
        out = []
        for f in self.answers:
            if any(h.key == "message_id" and h.value == message_id for h in f.headers):
                out.append(json.loads(f.payload))
        return out
