"""The life of one platform callback, framework-free: handshake, verify, parse, dedupe, dispatch,
reply. `bot/web/hooks.py` only turns the WSGI request into an HttpIn and back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from bot import delivery, inbox
from bot.commands import Outcome
from bot.messages import HttpIn, HttpOut, Incoming, Reply
from bot.platforms.base import Platform, RequestRejected

log = logging.getLogger(__name__)

# How long a redelivered copy waits for the first copy's reply. After that it is answered 503,
# not acknowledged, while nothing of the first copy has committed (that copy may have died with
# its claim set: a 200 would end the platform's retries and lose the command); WeCom retries
# after 5 s, and a later copy finds the stored reply, or the claim gone and runs the command.
WAIT_FOR_FIRST_S = 3.0


class FirstCopyUnfinished(Exception):
    """A redelivered copy whose first copy holds the message's claim with nothing committed and
    no reply stored: answered 503 so the platform delivers it again."""


def handle_callback(
    platform: Platform,
    req: HttpIn,
    store,
    dispatch: Callable[..., Outcome],
    now_ms: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
    enqueue: Callable[..., str] | None = None,
    lease_s: int = 120,
) -> HttpOut:
    """Never raises for a bad request: 401 for a bad signature, 400 for a malformed body.

    `dispatch` is Dispatcher.handle_once: it claims the message id and stores the reply in the
    same round trips as the command's own reads and writes. With `enqueue`, the first copy of a
    message also queues what must go out later: the parts of a reply too long for the response
    body, and a (debounced) drain of the outbox when the dispatch wrote notices there. A
    callback the platform has answered later goes on the inbox (bot/inbox.py), where the
    answering consumer waits for it.
    """
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    try:
        shake = platform.handshake(req, now_ms)
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
    if platform.later(req, msg, now_ms) is not None:
        # Answered by the answering consumer (bot/inbox.py): one round trip here, an empty
        # body back.
        store.inbox.accept(msg.platform, msg.message_id, inbox.payload(msg))
        return platform.render_reply(req, msg, Reply.quiet(), now_ms)
    if msg.message_id:
        outcome = dispatch(msg, delivery.GROUP, delivery.DRAIN_DEBOUNCE_MS)
        if outcome.reply is None:
            try:
                waited = first_reply(outcome.store or store, msg, outcome, sleep)
            except FirstCopyUnfinished:
                log.warning("%s %s: first copy unfinished; 503 for a later delivery",
                            msg.platform, msg.message_id)  # fmt: skip
                return HttpOut(status=503, body=b"", content_type="text/plain")
            if waited is not None:
                return platform.render_reply(req, msg, waited, now_ms)
            # The first copy's claim went while this one waited (its save failed and the claim
            # was released, or it expired): nothing of it was committed, so this copy runs it.
            outcome = dispatch(msg, delivery.GROUP, delivery.DRAIN_DEBOUNCE_MS)
            if outcome.reply is None:
                return platform.render_reply(req, msg, Reply.quiet(), now_ms)
        reply, drain = outcome.reply, outcome.drain
    else:
        reply = dispatch(msg).reply
        drain = enqueue is not None and store.outbox.request_drain(
            delivery.GROUP, delivery.DRAIN_DEBOUNCE_MS
        )
    out, follow = platform.reply_plan(req, msg, reply, now_ms)
    if enqueue is not None and (drain or follow):
        _queue_later(store, enqueue, msg, reply, follow, drain, lease_s)
    return out


def first_reply(
    store, msg: Incoming, outcome: Outcome, sleep: Callable[[float], None] = time.sleep
) -> Reply | None:
    """The reply stored by the first copy of a redelivered message, waiting up to
    WAIT_FOR_FIRST_S while that copy is still running. None when the claim went meanwhile: the
    caller runs the message (waiting never claims it). Quiet when the first copy committed its
    command and stored no reply (it died in between: running it again would repeat it).
    FirstCopyUnfinished when, after the wait, the first copy still holds the claim with nothing
    committed: it may be slow or dead, and this copy must not be acknowledged."""
    stored: str | None = outcome.duplicate or ""
    waited = 0.0
    while not stored and waited < WAIT_FOR_FIRST_S:
        sleep(0.05)
        waited += 0.05
        stored = store.inbox.stored_reply(msg.platform, msg.message_id)
        if stored is None:
            return None
    if stored.startswith("{"):
        return Reply.from_json(stored)
    if not stored and not store.inbox.claim_committed(msg.platform, msg.message_id):
        raise FirstCopyUnfinished(msg.message_id)
    return Reply.quiet()


def _queue_later(store, enqueue, msg: Incoming, reply: Reply, follow, drain, lease_s) -> None:
    """Enqueue the reply's later parts and a drain of the outbox. A failure here is logged, not
    raised: the reply is already decided, and the periodic drain catches up on the outbox."""
    try:
        if follow and msg.message_id:
            spec = delivery.session_spec(
                msg.platform, msg.message_id, follow["url"], follow["expires_at_ms"],
                follow["chat"], reply.text, reply.mentions, follow["parts"],
            )  # fmt: skip
            delivery.queue_session_reply(store, enqueue, spec, lease_s)
        if drain:
            enqueue(delivery.DRAIN_JOB, retries=0, on_failure=None)
    except Exception:
        log.exception("could not queue follow-up work after a %s callback", msg.platform)


def _dummy(platform: Platform) -> Incoming:
    return Incoming(platform=platform.platform, user_id="", text="")
