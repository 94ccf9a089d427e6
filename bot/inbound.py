"""The life of one platform callback, framework-free: handshake, verify, parse, dedupe, dispatch,
reply. `bot/web/hooks.py` only turns the Flask request into an HttpIn and back.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

from bot.messages import HttpIn, HttpOut, Incoming, Reply
from bot.platforms.base import Platform, RequestRejected

log = logging.getLogger(__name__)

# How long a redelivered copy waits for the first copy's reply before answering "nothing" (the
# platform will not retry a 200, and the first copy still answers). WeCom retries after 5 s.
WAIT_FOR_FIRST_S = 3.0


def reply_to_json(reply: Reply) -> str:
    return json.dumps(
        {"text": reply.text, "mentions": list(reply.mentions), "silent": reply.silent},
        ensure_ascii=False,
    )


def reply_from_json(raw: str) -> Reply:
    d = json.loads(raw)
    return Reply(d["text"], tuple(d.get("mentions", ())), bool(d.get("silent")))


def handle_callback(
    platform: Platform,
    req: HttpIn,
    store,
    dispatch: Callable[[Incoming], Reply],
    now_ms: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> HttpOut:
    """Never raises for a bad request: 401 for a bad signature, 400 for a malformed body."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    try:
        shake = platform.handshake(req)
        if shake is not None:
            return shake
        platform.verify(req, now_ms)
        msg = platform.parse(req)
    except RequestRejected as e:
        # Logged without the body or any secret: the kind of failure and the route only.
        log.warning("%s callback rejected (%s): %s", platform.name, e.status, type(e).__name__)
        return HttpOut(status=e.status, body=b"", content_type="text/plain")
    if msg is None:
        return platform.render_reply(req, _dummy(platform), Reply.quiet(), now_ms)
    if msg.message_id:
        first, stored = store.claim_message(msg.platform, msg.message_id)
        if not first:
            waited = 0.0
            while not stored and waited < WAIT_FOR_FIRST_S:
                sleep(0.05)
                waited += 0.05
                stored = store.claim_message(msg.platform, msg.message_id)[1]
            reply = reply_from_json(stored) if stored.startswith("{") else Reply.quiet()
            return platform.render_reply(req, msg, reply, now_ms)
    reply = dispatch(msg)
    if msg.message_id:
        store.remember_reply(msg.platform, msg.message_id, reply_to_json(reply))
    return platform.render_reply(req, msg, reply, now_ms)


def _dummy(platform: Platform) -> Incoming:
    return Incoming(platform=platform.platform, user_id="", text="")
