"""Where a message from a long connection joins the path of its HTTP hook (bot/inbound.py): the
same parsing, the same dedupe by platform message id, the same dispatch and replies.

Plain functions over the runtime; the clients run them in worker threads (they wait on Redis).
DingTalk messages are accepted into the inbox exactly as a queued HTTP callback is, and answered
by the answers worker through their sessionWebhook (bot/inbox.py); Feishu events go the same
way and are answered through the message's reply API, as /hooks/feishu's are. WeCom messages are run here,
as the HTTP hook runs them, and answered on the socket; a claim in Redis keeps a redelivered
message from being answered twice.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from bot import delivery, inbox
from bot.inbound import first_reply
from bot.messages import HttpIn, Incoming, Reply
from bot.platforms.base import MalformedError, load_json_object
from bot.platforms.dingtalk import is_session_webhook_valid
from bot.platforms.feishu.inbound import message_of
from bot.platforms.wecom import incoming_from

log = logging.getLogger(__name__)

REPLY_CLAIM_MS = 30_000  # a reply being sent holds its message this long
REPLY_SENT_MS = delivery.MARKER_TTL_S * 1000  # a confirmed reply is remembered this long


def accept_to_inbox(rt: Any, platform: Any, data: bytes, now_ms: int | None = None) -> str:
    """A message its platform has us answer later through a reply URL (a DingTalk CALLBACK
    frame's `data`: the JSON an HTTP callback carries, answered through its sessionWebhook)
    into the inbox, as bot/inbound.py queues a callback: "accepted", "duplicate" (accepted
    before: nothing queued), "ignored" (not a text message) or "unanswerable" (no usable reply
    URL: not run). Raises MalformedError for a message we cannot read; a Redis failure
    propagates, so the frame is not acknowledged and the gateway sends it again."""
    msg = platform.parse(HttpIn("POST", f"/stream/{platform.name}", {}, {}, data))
    return accept_message(rt, msg, now_ms)


def accept_feishu_event(rt: Any, payload: bytes, now_ms: int | None = None) -> str:
    """An event from Feishu's event WebSocket (the JSON an HTTP event carries, not encrypted:
    the connection was opened with the app's credentials) into the inbox, as /hooks/feishu
    queues one; the outcomes and errors of accept_to_inbox."""
    event = load_json_object(payload)
    return accept_message(rt, message_of(event, rt.settings.feishu_api_base), now_ms)


def accept_message(rt: Any, msg: Incoming | None, now_ms: int | None = None) -> str:
    """A parsed message into the inbox, deduplicated by its platform message id (the claim that
    bot/inbound.py makes for a hook's callback); see accept_to_inbox."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    if msg is None:
        return "ignored"
    if not msg.message_id:
        raise MalformedError("message id missing")
    expires = msg.reply_url_expires_ms
    if not msg.reply_url or (expires and not is_session_webhook_valid(expires, now_ms)):
        # A long connection has no response body to answer in. A command run without an answer
        # would leave the user guessing whether it happened, so it is not run at all.
        log.warning("%s message %s has no usable reply URL; not run", msg.platform,
                    msg.message_id)  # fmt: skip
        return "unanswerable"
    payload = inbox.payload(msg)
    accepted = rt.store.inbox.accept(msg.platform, msg.message_id, payload)
    return "accepted" if accepted else "duplicate"


def answer_wecom(rt: Any, body: dict[str, Any]) -> tuple[Incoming, Reply] | None:
    """Run a smart bot message (an aibot_msg_callback frame's body, the JSON an HTTP callback
    carries encrypted) once; its reply, or the stored reply of the first copy for a redelivered
    one. None for what is not a text message. Raises MalformedError for a message we cannot
    read."""
    msg = incoming_from(body)
    if msg is None:
        return None
    if not msg.message_id:
        raise MalformedError("msgid missing")
    outcome = rt.dispatcher.handle_once(msg, delivery.GROUP, delivery.DRAIN_DEBOUNCE_MS)
    if outcome.reply is None:
        waited = first_reply(outcome.store or rt.store, msg, outcome)
        if waited is not None:
            return msg, waited
        # the first copy's claim went while waiting, nothing committed: this copy runs it
        outcome = rt.dispatcher.handle_once(msg, delivery.GROUP, delivery.DRAIN_DEBOUNCE_MS)
        if outcome.reply is None:
            return msg, Reply.quiet()
    if outcome.drain:
        try:
            rt.services.enqueue(delivery.DRAIN_JOB, retries=0, on_failure=None)
        except Exception:
            # The periodic drain catches up on the outbox; the reply is decided already.
            log.exception("could not queue a drain of the outbox after a wecom message")
    return msg, outcome.reply


def _reply_lock(msg: Incoming) -> str:
    return f"reply:{msg.platform}:{msg.message_id}"


def claim_reply(rt: Any, msg: Incoming, token: str) -> bool:
    """Whether this copy may send the reply: no other copy is sending it or has sent it."""
    return rt.store.scheduler.hold_lock(_reply_lock(msg), token, REPLY_CLAIM_MS)


def reply_sent(rt: Any, msg: Incoming, token: str) -> None:
    """The platform took the reply (or may have: its answer never came): never send it again."""
    rt.store.scheduler.hold_lock(_reply_lock(msg), token, REPLY_SENT_MS)


def reply_not_sent(rt: Any, msg: Incoming, token: str) -> None:
    """The reply provably did not go out: a redelivered copy may send it."""
    rt.store.scheduler.release_lock(_reply_lock(msg), token)
