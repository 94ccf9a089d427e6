"""The WeCom smart bot's long connection: its messages and our replies over one WebSocket that
Duban opens, instead of POST /hooks/wecom ("智能机器人长连接",
https://developer.work.weixin.qq.com/document/path/101463; the frame shapes below are those of
WeCom's own SDK, @wecom/aibot-node-sdk).

Every frame is JSON {cmd, headers: {req_id}, body}. We send `aibot_subscribe` with the bot id
and secret first, then `ping` every 30 s; the server answers each request with
{headers: {req_id}, errcode, errmsg}. Messages arrive as `aibot_msg_callback`; a reply is an
`aibot_respond_msg` carrying the message's req_id and a finished stream body, the one the HTTP
hook encrypts. Events arrive as `aibot_event_callback`; `disconnected_event` says another
connection with the same bot id took over (WeCom keeps one per bot).

A message is run (accept.answer_wecom) before its reply is sent, and the reply is claimed in
Redis first, so a message delivered again after a reconnect has one effect and one reply.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import secrets
import time
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bot.platforms.base import MalformedError
from bot.platforms.wecom import reply_stream_body
from bot.stream.accept import answer_wecom, claim_reply, reply_not_sent, reply_sent
from bot.stream.connection import AuthError, GatewayError, InHand, Replaced

log = logging.getLogger(__name__)

ANSWER_TIMEOUT_S = 5.0  # the SDK's wait for the answer to a request (replyAckTimeout)
MISSED_PINGS = 2  # unanswered heartbeats in a row after which the connection counts as dead
_seq = itertools.count(1)


def req_id(prefix: str) -> str:
    """A request id; the SDK's are `<cmd>_<ms>_<random>`."""
    return f"{prefix}_{int(time.time() * 1000)}_{next(_seq)}{secrets.token_hex(3)}"


class WeComLongConn:
    """One long connection at a time, for `run_client`."""

    name = "wecom"

    def __init__(self, rt: Any, url: str = "", heartbeat_s: float = 30.0) -> None:
        settings = rt.settings
        self.rt = rt
        self.url = url or settings.wecom_longconn_url
        self.bot_id = settings.wecom_bot_id
        self.secret = settings.wecom_bot_secret
        self.heartbeat_s = heartbeat_s
        self.answer_timeout = ANSWER_TIMEOUT_S
        self._waiting: dict[str, asyncio.Future] = {}
        self.counts = {"answered": 0, "replayed": 0, "silent": 0, "ignored": 0, "malformed": 0}
        self.counts |= {"not_answered": 0, "uncertain": 0, "pings": 0}

    async def session(self, stop: asyncio.Event) -> None:
        in_hand = InHand()
        async with connect(self.url, ping_interval=None, max_size=2**20) as ws:
            reader = asyncio.ensure_future(self._read(ws, in_hand))
            try:
                await self._subscribe(ws)
                log.info("wecom: subscribed on the long connection")
                beat = asyncio.ensure_future(self._heartbeat(ws))
                halt = asyncio.ensure_future(stop.wait())
                done, _ = await asyncio.wait({reader, beat, halt}, return_when="FIRST_COMPLETED")
                for task in (beat, halt):
                    task.cancel()
                for task in done - {halt}:
                    task.result()  # Replaced, a lost heartbeat, or the connection's end
                if reader in done:
                    raise GatewayError("the server closed the connection")
            finally:
                reader.cancel()
                for fut in self._waiting.values():
                    if not fut.done():
                        fut.set_result(None)
                await in_hand.finish()

    async def _request(
        self, ws: ClientConnection, frame: dict, rid: str, timeout: float | None = None
    ) -> dict | None:
        """Send a request and wait for its answer; None when none came in time or the
        connection ended first (the request may have arrived). ConnectionClosed from the send
        itself: the request did not go out."""
        fut = asyncio.get_running_loop().create_future()
        self._waiting[rid] = fut
        try:
            await ws.send(json.dumps(frame, ensure_ascii=False))
            return await asyncio.wait_for(fut, timeout or self.answer_timeout)
        except TimeoutError:
            return None
        finally:
            self._waiting.pop(rid, None)

    async def _subscribe(self, ws: ClientConnection) -> None:
        rid = req_id("aibot_subscribe")
        body = {"bot_id": self.bot_id, "secret": self.secret}
        frame = {"cmd": "aibot_subscribe", "headers": {"req_id": rid}, "body": body}
        answer = await self._request(ws, frame, rid)
        if answer is None:
            raise GatewayError("no answer to aibot_subscribe")
        if answer.get("errcode") != 0:
            raise AuthError(
                f"WeCom refused the long connection (errcode {answer.get('errcode')}:"
                f" {answer.get('errmsg', '')}): check DUBAN_WECOM_BOT_ID and DUBAN_WECOM_BOT_SECRET"
            )

    async def _heartbeat(self, ws: ClientConnection) -> None:
        """An app-level ping every heartbeat_s; the connection is dead after MISSED_PINGS
        unanswered ones (WebSocket pings alone do not keep the bot subscribed)."""
        missed = 0
        while True:
            await asyncio.sleep(self.heartbeat_s)
            rid = req_id("ping")
            ping = {"cmd": "ping", "headers": {"req_id": rid}}
            answer = await self._request(ws, ping, rid, min(self.answer_timeout, self.heartbeat_s))
            missed = 0 if answer is not None and answer.get("errcode") == 0 else missed + 1
            if missed >= MISSED_PINGS:
                raise GatewayError(f"{missed} heartbeats unanswered")

    async def _read(self, ws: ClientConnection, in_hand: InHand) -> None:
        async for raw in ws:
            try:
                frame = json.loads(raw)
                cmd = frame.get("cmd", "")
                rid = frame.get("headers", {}).get("req_id", "")
                if not isinstance(rid, str):
                    raise TypeError("req_id is not a string")
            except (ValueError, AttributeError, TypeError) as e:
                self.counts["malformed"] += 1
                log.warning("wecom: unreadable frame skipped (%s)", type(e).__name__)
                continue
            if cmd == "aibot_msg_callback":
                await in_hand.start(self._message(ws, rid, frame.get("body"), in_hand))
            elif cmd == "aibot_event_callback":
                event = (frame.get("body") or {}).get("event") or {}
                if isinstance(event, dict) and event.get("eventtype") == "disconnected_event":
                    raise Replaced("another long connection with this bot id took over")
            elif not cmd and rid in self._waiting:
                if rid.startswith("ping"):
                    self.counts["pings"] += 1
                if not self._waiting[rid].done():
                    self._waiting[rid].set_result(frame)
            else:
                log.info("wecom: frame %r ignored", cmd or "answer")

    async def _message(self, ws: ClientConnection, rid: str, body: Any, in_hand: InHand) -> None:
        try:
            if not isinstance(body, dict) or not rid:
                raise MalformedError("message frame without body or req_id")
            answered = await in_hand.run(answer_wecom, self.rt, body)
        except MalformedError as e:
            self.counts["malformed"] += 1
            log.warning("wecom: message frame %s skipped: %s", rid, e)
            return
        except Exception:
            # Nothing was answered; if WeCom sends the message again, it is run then.
            self.counts["not_answered"] += 1
            log.exception("wecom: message frame %s could not be handled", rid)
            return
        if answered is None:
            self.counts["ignored"] += 1
            return
        msg, reply = answered
        out = reply_stream_body(msg, reply)
        if out is None:
            self.counts["silent"] += 1
            return
        token = secrets.token_hex(8)
        if not await in_hand.run(claim_reply, self.rt, msg, token):
            self.counts["replayed"] += 1  # the reply went out (or is going out) on another copy
            return
        frame = {"cmd": "aibot_respond_msg", "headers": {"req_id": rid}, "body": out}
        try:
            answer = await self._request(ws, frame, rid)
        except ConnectionClosed:
            await self._settle(msg, token, sent=False)
            return
        if answer is None:
            await self._settle(msg, token, sent=None)
        elif answer.get("errcode") == 0:
            self.counts["answered"] += 1
            await asyncio.to_thread(reply_sent, self.rt, msg, token)
        else:
            log.warning("wecom: reply to %s refused (errcode %s)", msg.message_id,
                        answer.get("errcode"))  # fmt: skip
            await self._settle(msg, token, sent=False)

    async def _settle(self, msg: Any, token: str, sent: bool | None) -> None:
        """After a reply whose fate we know (False: a redelivery may answer) or do not know
        (None: it may have arrived; like delivery's "uncertain", it is not sent again)."""
        if sent is None:
            self.counts["uncertain"] += 1
            log.warning("wecom: no answer to the reply to %s; not sent again", msg.message_id)
            await asyncio.to_thread(reply_sent, self.rt, msg, token)
        else:
            await asyncio.to_thread(reply_not_sent, self.rt, msg, token)
