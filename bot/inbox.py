"""Callbacks acknowledged at once and answered from a worker, so no callback waits for a command
to run (DingTalk 接收消息, https://open.dingtalk.com/document/orgapp/receive-message).

The web side (bot/inbound.py) verifies and parses a DingTalk callback, then `accept`s it in one
Redis round trip: its message id is claimed for the accepting side and the message is queued on
the `inbox` stream; the response body is empty. A drain job (`bot.jobs.drain_inbox`, enqueued by
the first callback of a burst and scheduled every minute as a safety net) reads the stream
through a consumer group, runs each message through Dispatcher.handle_once (which claims it for
the answering side and stores the reply in the same step as the command's change) and posts the
reply to the callback's sessionWebhook through delivery, which marks every part it sent. The
prompt drains go to a queue of their own (bot.queue.ANSWERS) with its own worker, so a
long job never holds a reply back; the scheduled one runs on the main queue.

A drainer that dies leaves its entries pending: the next drain claims them (XAUTOCLAIM), finds
the stored reply instead of running the command again, and the part markers keep the reply from
being posted twice. Entries are acknowledged and deleted once answered.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from bot import delivery, texts
from bot.commands import Unfinished
from bot.messages import Incoming, Reply

log = logging.getLogger(__name__)

GROUP = "answer"  # the inbox stream's consumer group
DRAIN_JOB = "bot.jobs.drain_inbox"
DRAIN_DEBOUNCE_MS = 2000  # while a drain is queued, later callbacks do not enqueue another
RECLAIM_MS = 60_000  # entries a drainer read but never acknowledged are taken after this


def payload(msg: Incoming) -> str:
    """What the inbox keeps of a callback: the parsed message (its reply URL included)."""
    return json.dumps({"msg": vars(msg)}, ensure_ascii=False)


def parse_payload(raw: str) -> tuple[Incoming, dict[str, Any]]:
    """The message and where to answer it (Incoming.reply_route)."""
    msg = Incoming(**json.loads(raw)["msg"])
    if not msg.reply_url:
        raise KeyError("reply_url")
    return msg, msg.reply_route()


def request_drain(enqueue, state: int) -> None:
    """After `accept` answered 2: enqueue one drain. A failure is logged, not raised: the
    message is safe in the stream and the scheduled drain answers it within a minute."""
    if state != 2 or enqueue is None:
        return
    try:
        enqueue(DRAIN_JOB, retries=0, on_failure=None)
    except Exception:
        log.exception("could not enqueue a drain of the inbox")


def drain_inbox(rt, dctx: delivery.Delivery, consumer: str = "", max_entries: int = 2000) -> dict:
    """Answer every accepted callback; returns counts by outcome."""
    store = rt.store
    consumer = consumer or delivery.consumer_name()
    store.clear_inbox_request()  # callbacks accepted from now on trigger a new drain
    counts = {"answered": 0, "replayed": 0, "silent": 0, "lost": 0, "bad": 0, "unfinished": 0}
    counts |= {"sent": 0, "deferred": 0, "dead": 0, "retry": 0}  # what became of the replies
    outbox_drain = False
    seen = 0
    left: set[str] = set()  # unfinished here: taken up by a later drain, not this one
    while seen < max_entries:
        rows = [r for r in store.read_inbox(GROUP, consumer, 50, RECLAIM_MS) if r[0] not in left]
        if not rows:
            break
        done = []
        for entry_id, raw in rows:
            seen += 1
            try:
                outbox_drain |= _answer(rt, dctx, entry_id, raw, counts)
            except Unfinished:
                # Its change could not be saved and its claim was released: left pending, it
                # is taken up again by a drain after RECLAIM_MS and then run.
                log.warning("inbox entry %s unfinished; left for the next drain", entry_id)
                counts["unfinished"] += 1
                left.add(entry_id)
                continue
            done.append(entry_id)
        # Acknowledged per batch: after a crash, the answered ones find their stored reply and
        # their parts marked sent, so nothing runs or posts twice.
        store.done_inbox(GROUP, done)
    if outbox_drain:
        # handle_once already took the debounce slot for these notices (its answer is
        # `drain`), so the drain is enqueued here, not asked for again.
        try:
            rt.services["enqueue"](delivery.DRAIN_JOB, retries=0, on_failure=None)
        except Exception:
            log.exception("could not enqueue a drain of the outbox; the scheduled one catches up")
    return counts


def _answer(rt, dctx: delivery.Delivery, entry_id: str, raw: str, counts: dict) -> bool:
    """Run one accepted message and post its reply; True when notices wait in the outbox."""
    try:
        msg, session = parse_payload(raw)
    except (ValueError, KeyError, TypeError):
        log.error("inbox entry %s is malformed; dropped", entry_id)
        counts["bad"] += 1
        return False
    # resume: this entry was left by a drainer that died; a message of several commands runs
    # the ones that drainer did not reach (each command of it is claimed on its own).
    outcome = rt.dispatcher.handle_once(
        msg, delivery.GROUP, delivery.DRAIN_DEBOUNCE_MS, resume=True
    )
    reply = outcome.reply
    if reply is None and not (outcome.duplicate or "").startswith("{"):
        if not rt.store.claim_committed(msg.platform, msg.message_id):
            # Claimed by a run that committed nothing (its worker died, or Redis failed under
            # it): the claim goes within CLAIM_TTL_S, and the entry, left pending, runs then.
            raise Unfinished(msg.message_id)
        # Claimed by a run that committed its command (a binding, a 报送: written before the
        # reply) and died before the reply was stored: the command is not run again blind; the
        # user is told to check, and asked to resend.
        log.warning("inbox entry %s: an earlier run left no reply", entry_id)
        counts["lost"] += 1
        reply = Reply(texts.INTERRUPTED.format(text=texts.quoted(msg.text, 20)))
    elif reply is None:
        reply = Reply.from_json(outcome.duplicate)
        counts["replayed"] += 1
    else:
        counts["answered"] += 1
    if reply.silent or not reply.text.strip():
        counts["silent"] += 1
        return outcome.drain
    spec = delivery.session_spec(
        msg.platform, msg.message_id, session["url"], int(session["expires_at_ms"]),
        session["chat"], reply.text, reply.mentions, None,
    )  # fmt: skip
    counts[_post_reply(dctx, spec)] += 1
    return outcome.drain


def _post_reply(dctx: delivery.Delivery, spec: dict) -> str:
    """Post at once from this job; a timeout or 5xx goes to an RQ push job with its backoff.
    No lease: until the entry is acknowledged, a crash brings the reply back through the inbox."""
    try:
        return delivery.run_push(dctx, spec, leased=False)
    except delivery.DeliveryRetry:
        job_id = delivery.job_base(spec["lease_id"])
        delivery.enqueue_push(dctx, spec, job_id, delay_s=dctx.backoff[0])
        return "retry"
