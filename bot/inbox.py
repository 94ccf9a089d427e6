"""Callbacks acknowledged at once and answered by a long-lived consumer, so no callback waits for
a command to run (DingTalk 接收消息, https://open.dingtalk.com/document/orgapp/receive-message).

The web side (bot/inbound.py) verifies and parses a DingTalk callback, then `accept`s it in one
Redis round trip: its message id is claimed for the accepting side and the parsed message is
queued on the `inbox` stream; the response body is empty. The answering process (`python -m
bot.worker --queue answers`, `consume` below) waits on the stream with a blocking read of its
consumer group, runs each message in-process through Dispatcher.handle_once (which claims it
for the answering side and stores the reply in the same step as the command's change) and
posts the reply to the callback's sessionWebhook through delivery, which marks every part it
sent, over the process's keep-alive HTTP session. No job and no fork per message: the runtime,
the runtime (its delivery included) and the connections live as long as the process. A drain every minute on
the main worker (`drain_inbox`) is the safety net when no answering process runs.

A consumer that dies leaves its entries pending. While alive it keeps a liveness mark in Redis
(refreshed by a thread, ALIVE_MS); once the mark has expired, any other consumer takes all of
its entries over (XCLAIM, `rescue_inbox`), a restarted one under the same name re-reads its
own, and an entry left unacknowledged for RECLAIM_MS is taken by anyone (XAUTOCLAIM). The one
taking over finds the stored reply instead of running the command again, and the part markers
keep the reply from being posted twice. Entries are acknowledged and deleted once answered,
with the parts of their replies marked sent, in the round trip of the consumer's next read.

An entry a consumer could not finish (Redis failed under its save, or the code raised) stays
pending under its name, and the consumer itself tries it again after RETRY_S, doubling up to
RETRY_MAX_S, instead of leaving it for RECLAIM_MS. Where its own run's claim is still set
(Unfinished.held: the release failed too, as on a full disk), the retry releases it first, as
for a dead consumer's entries, so the user's command runs within seconds of Redis writing again
rather than after the claim's expiry.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bot import delivery, texts
from bot.commands import Outcome, Unfinished
from bot.messages import Incoming, Reply
from bot.store.inbox import Unflushed

log = logging.getLogger(__name__)

GROUP = "answer"  # the inbox stream's consumer group
DRAIN_JOB = "bot.jobs.drain_inbox"
RECLAIM_MS = 60_000  # entries a consumer read but never acknowledged are taken after this
ALIVE_MS = 5_000  # a consumer's liveness mark lasts this long (refreshed 4 times meanwhile)
BLOCK_MS = 1_000  # a consumer's blocking read returns after this with nothing to answer
RESCUE_EVERY_S = 2.0  # how often a consumer looks for entries that dead consumers left
BATCH = 50
LANES = 16  # messages of different people answered at once (threads: their waits overlap)
RETRY_S = 1.0  # an entry this consumer could not finish is tried again after this ...
RETRY_MAX_S = 30.0  # ... doubling up to this while it keeps failing


def payload(msg: Incoming) -> str:
    """What the inbox keeps of a callback: the parsed message (its reply URL included)."""
    return json.dumps({"msg": vars(msg)}, ensure_ascii=False)


def parse_payload(raw: str) -> tuple[Incoming, dict[str, Any]]:
    """The message and where to answer it (Incoming.reply_route)."""
    msg = Incoming(**json.loads(raw)["msg"])
    if not msg.reply_url:
        raise KeyError("reply_url")
    return msg, msg.reply_route()


class Liveness:
    """`with Liveness(store, consumer):` keeps the consumer's liveness mark set from a thread,
    so a long answer (a slow platform) never makes it look gone; the mark is removed on a clean
    exit, and simply expires when the process is killed."""

    def __init__(self, store, consumer: str, ttl_ms: int = ALIVE_MS):
        self.store, self.consumer, self.ttl_ms = store, consumer, ttl_ms
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="inbox-liveness", daemon=True)

    def __enter__(self) -> Liveness:
        self.store.inbox.mark_consumer(self.consumer, self.ttl_ms)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)
        try:
            self.store.inbox.unmark_consumer(self.consumer)
        except Exception:  # Redis gone: the mark expires by itself
            log.debug("liveness mark of %s left to expire", self.consumer)

    def _run(self) -> None:
        while not self._stop.wait(self.ttl_ms / 4000):
            try:
                self.store.inbox.mark_consumer(self.consumer, self.ttl_ms)
            except Exception as e:  # Redis away for a while: try again on the next beat
                log.warning("could not renew the liveness mark of %s: %s", self.consumer, e)


def new_counts() -> dict[str, int]:
    counts = {"answered": 0, "replayed": 0, "silent": 0, "lost": 0, "bad": 0, "unfinished": 0}
    counts["failed"] = 0
    return counts | {"sent": 0, "deferred": 0, "dead": 0, "retry": 0}  # what became of replies


def consume(
    rt,
    dctx: delivery.Delivery,
    stop: threading.Event | None = None,
    consumer: str = "",
    block_ms: int | None = BLOCK_MS,
    max_entries: int | None = None,
    orphans: set[str] | None = None,
    unflushed: Unflushed | None = None,
) -> dict:
    """Answer accepted callbacks until `stop` is set; with `block_ms` None, until the inbox is
    empty or `max_entries` were seen (a drain). Returns counts by outcome. A Redis error
    propagates: whatever was read and not answered stays pending under this consumer's name,
    and the next `consume` under it reads it again first. `orphans`: the entries whose earlier
    run is known to be over (taken over from a consumer that is gone, or left by this one with
    its own claim still set); pass the same set to the next `consume` under this name, and the
    same `unflushed`: the acknowledgements and "sent" marks of a batch go with the next read
    (one round trip less per batch, and per reply), and a Redis error may leave some
    unwritten, which the next `consume` writes first."""
    store, stop = rt.store, stop or threading.Event()
    consumer = consumer or delivery.consumer_name()
    counts, seen = new_counts(), 0
    orphans = set() if orphans is None else orphans
    unflushed = Unflushed() if unflushed is None else unflushed
    retry_s, retry_at = RETRY_S, None  # when to read this consumer's unfinished entries again
    store.inbox.ensure_group(GROUP)
    with Liveness(store, consumer), ThreadPoolExecutor(LANES, "answer-lane") as lanes:
        own, next_rescue = True, 0.0  # own: entries pending under this name, read them first
        while not stop.is_set() and (max_entries is None or seen < max_entries):
            if time.monotonic() >= next_rescue:
                own |= store.inbox.rescue(GROUP, consumer, ALIVE_MS, RECLAIM_MS, orphans) > 0
                next_rescue = time.monotonic() + RESCUE_EVERY_S
            if retry_at is not None and time.monotonic() >= retry_at:
                own, retry_at = True, None
            left = 0
            if own:
                own, after = False, "0"
                store.inbox.flush(GROUP, unflushed)  # a part marked sent is not posted again
                while rows := store.inbox.read_own(GROUP, consumer, BATCH, after):
                    n, left_now = _answer_batch(rt, dctx, rows, counts, lanes, orphans, unflushed)
                    seen, left, after = seen + n, left + left_now, rows[-1][0]
                retry_s = RETRY_S if not left else retry_s  # all of its own answered: reset
            else:
                rows = store.inbox.read(GROUP, consumer, BATCH, block_ms, unflushed)
                if rows:
                    n, left = _answer_batch(rt, dctx, rows, counts, lanes, orphans, unflushed)
                    seen += n
                elif block_ms is None:
                    break
            if left and retry_at is None:
                retry_at = time.monotonic() + retry_s
                retry_s = min(retry_s * 2, RETRY_MAX_S)
        store.inbox.flush(GROUP, unflushed)
    return counts


def drain_inbox(rt, dctx: delivery.Delivery, consumer: str = "", max_entries: int = 2000) -> dict:
    """Answer every accepted callback, then return (the scheduled safety net, and tests)."""
    return consume(rt, dctx, consumer=consumer, block_ms=None, max_entries=max_entries)


def _answer_batch(
    rt,
    dctx: delivery.Delivery,
    rows: list[tuple[str, str]],
    counts: dict,
    lanes=None,
    orphans: set[str] | None = None,
    unflushed: Unflushed | None = None,
) -> tuple[int, int]:
    """Answer `rows`; the answered ones are acknowledged, and the parts posted marked sent,
    with the consumer's next read (into `unflushed`; without it, here, in one round trip). After
    a crash before that, an answered entry is read again and finds its stored reply, and its
    part claimed by a run that is gone: it is never posted twice (marked uncertain instead).
    With `lanes` (a thread pool of LANES), the messages of different people are answered
    at once, so the round trips of one to Redis and to the platform overlap another's work;
    one person's messages stay in one lane, in the order they came. Returns how many entries
    were read and how many of them are left pending (unfinished or failed)."""
    out = Unflushed() if unflushed is None else unflushed
    done, by_lane = [], {}
    for entry_id, raw in rows:
        try:
            msg, session = parse_payload(raw)
        except (ValueError, KeyError, TypeError):
            log.error("inbox entry %s is malformed; dropped", entry_id)
            counts["bad"] += 1
            done.append(entry_id)
            continue
        lane = hash((msg.platform, msg.user_id)) % LANES
        orphan = orphans is not None and entry_id in orphans
        by_lane.setdefault(lane, []).append((entry_id, msg, session, orphan))
    work = list(by_lane.values())
    if lanes is not None and len(work) > 1:
        results = list(lanes.map(lambda lane: _answer_lane(rt, dctx, lane, orphans), work))
    else:
        results = [_answer_lane(rt, dctx, lane, orphans) for lane in work]
    outbox_drain = False
    for lane_done, lane_counts, drain, ends in results:
        done += lane_done
        out.ends += ends
        outbox_drain |= drain
        for k, v in lane_counts.items():
            counts[k] += v
    out.acks += done
    if unflushed is None:
        rt.store.inbox.flush(GROUP, out)
    if orphans:
        orphans.difference_update(done)
    if outbox_drain:
        # handle_once already took the debounce slot for these notices (its answer is
        # `drain`), so the drain is enqueued here, not asked for again.
        try:
            rt.services.enqueue(delivery.DRAIN_JOB, retries=0, on_failure=None)
        except Exception:
            log.exception("could not enqueue a drain of the outbox; the scheduled one catches up")
    return len(rows), len(rows) - len(done)


def _answer_lane(
    rt, dctx: delivery.Delivery, lane: list, orphans: set[str] | None = None
) -> tuple[list[str], dict, bool, list]:
    """One lane's messages in order: the entries answered, counts, whether notices wait, the
    parts posted (to be marked sent). An entry left with this run's own claim still set joins
    `orphans` (see consume)."""
    done, counts, drain, ends = [], new_counts(), False, []
    for entry_id, msg, session, orphan in lane:
        try:
            drain |= _answer(rt, dctx, entry_id, msg, session, counts, orphan, ends)
        except Unfinished as e:
            # Its change could not be saved: left pending, this consumer tries it again after
            # RETRY_S (and anyone after RECLAIM_MS). A claim of its own that could not be
            # released is released by that retry (the entry is this consumer's alone).
            log.warning("inbox entry %s unfinished; tried again shortly", entry_id)
            counts["unfinished"] += 1
            if e.held and orphans is not None:
                orphans.add(entry_id)
            continue
        except Exception:
            # A message that breaks the code must not stop the answers of everyone else (the
            # process would die on it again after each restart): logged, left pending, tried
            # again with a growing delay (RETRY_S up to RETRY_MAX_S), as a failed job would be.
            log.exception("inbox entry %s failed; left for later", entry_id)
            counts["failed"] += 1
            continue
        done.append(entry_id)
    return done, counts, drain, ends


def _answer(
    rt,
    dctx: delivery.Delivery,
    entry_id: str,
    msg: Incoming,
    session: dict,
    counts: dict,
    orphan: bool = False,
    ends: list | None = None,
) -> bool:
    """Run one accepted message and post its reply; True when notices wait in the outbox.
    `ends`: where the parts posted are put, to be marked sent with the acknowledgement.
    `orphan`: the entry was taken over from a consumer that is gone (killed: its liveness mark
    expired), so a claim it left that committed nothing is released and the command run now,
    instead of after the claim's expiry."""
    # The message's campaign (bot/campaigns.py): its dispatcher runs it and its store holds the
    # claim; a person who must first pick a campaign gets the question instead.
    routed = rt.dispatcher.route(msg)
    store = rt.store if isinstance(routed, Reply) else routed.store
    # The reply's first part is claimed by the script that stores the reply: a round trip less.
    claim = None if isinstance(routed, Reply) else delivery.reply_claim(
        dctx, msg.platform, msg.message_id, session
    )  # fmt: skip

    def run() -> Outcome:
        # resume: this entry was left by a drainer that died; a message of several commands
        # runs the ones that drainer did not reach (each command of it is claimed on its own).
        if isinstance(routed, Reply):
            return Outcome(routed)
        return routed.handle_once(
            msg, delivery.GROUP, delivery.DRAIN_DEBOUNCE_MS, resume=True, routed=True,
            begin=claim[0] if claim else None,
        )  # fmt: skip

    outcome = run()
    reply = outcome.reply
    left = reply is None and not (outcome.duplicate or "").startswith("{")
    if left and orphan and not store.inbox.claim_committed(msg.platform, msg.message_id):
        if store.inbox.release_claim(msg.platform, msg.message_id):
            outcome = run()
            reply = outcome.reply
            left = reply is None and not (outcome.duplicate or "").startswith("{")
    if left:
        if not store.inbox.claim_committed(msg.platform, msg.message_id):
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
    if not reply.shown:
        counts["silent"] += 1
        return outcome.drain
    spec = delivery.session_spec(
        msg.platform, msg.message_id, session["url"], int(session["expires_at_ms"]),
        session["chat"], reply.text, reply.mentions, None,
    )  # fmt: skip
    first = None
    if claim and outcome.begun:  # this run stored the reply, and claimed its first part with it
        first = delivery.FirstPart(claim[1], claim[0].token, *outcome.begun)
    counts[_post_reply(dctx, spec, ends, first)] += 1
    return outcome.drain


def _post_reply(
    dctx: delivery.Delivery, spec: dict, ends: list | None = None,
    first: delivery.FirstPart | None = None,
) -> str:  # fmt: skip
    """Post at once from this job; a timeout or 5xx goes to an RQ push job with the retries left.
    No lease: until the entry is acknowledged, a crash brings the reply back through the inbox.
    The parts posted go into `ends` when the whole reply went out; a reply left to a push job
    has its posted parts marked sent here, before that job may look at them."""
    mine: list | None = [] if ends is not None else None
    try:
        state = delivery.run_push(dctx, spec, leased=False, ends=mine, first=first)
    except delivery.DeliveryRetry:
        _mark_sent(dctx, mine)
        job_id = delivery.job_base(spec["lease_id"])
        delivery.enqueue_push(dctx, spec, job_id, delay_s=dctx.backoff[0], tried=1)
        return "retry"
    if state == "sent" and ends is not None:
        ends += mine
    else:
        _mark_sent(dctx, mine)
    return state


def _mark_sent(dctx: delivery.Delivery, parts: list | None) -> None:
    """Mark these posted parts sent now, in one round trip (Inbox.flush)."""
    if parts:
        dctx.store.inbox.flush(GROUP, Unflushed(ends=parts))
