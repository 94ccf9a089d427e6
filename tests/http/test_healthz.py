"""/healthz says "ok" only when Redis answers and no work is stuck: a callback accepted and
unanswered for more than a minute, a notice no drainer took, or a push nobody resumed is
reported (503), with how long it has waited."""

from __future__ import annotations

import time

from bot import delivery
from bot.store.inbox import Unflushed


def old_id(seconds: float) -> str:
    """A stream entry id as Redis would have given it `seconds` ago."""
    return f"{int((time.time() - seconds) * 1000)}-0"


def health(client) -> tuple[int, dict]:
    resp = client.get("/healthz")
    return resp.status_code, resp.get_json()


def test_a_callback_unanswered_for_more_than_a_minute_is_stuck(web_client, web_rt):
    assert health(web_client) == (200, {"status": "ok", "redis": True})
    keys = web_rt.store.keys
    web_rt.redis.xadd(keys.inbox, {"msg": "{}"}, id=old_id(30))
    assert health(web_client)[0] == 200  # answered within a minute: fine
    web_rt.redis.delete(keys.inbox)
    web_rt.redis.xadd(keys.inbox, {"msg": "{}"}, id=old_id(90))
    status, body = health(web_client)
    assert status == 503 and body["status"] == "degraded" and body["redis"] is True
    assert 89 <= body["stuck"]["inbox"] <= 95
    answered = [e for e, _ in web_rt.redis.xrange(keys.inbox)]
    web_rt.store.inbox.flush("answer", Unflushed(acks=answered))
    assert health(web_client)[0] == 200


def test_a_stalled_outbox_is_stuck_until_a_drainer_takes_it(web_client, web_rt):
    store = web_rt.store
    web_rt.redis.xadd(store.keys.outbox, {"text": "x", "department": "司法局"}, id=old_id(150))
    status, body = health(web_client)
    assert status == 503 and 149 <= body["stuck"]["outbox"] <= 155
    # read but never acknowledged (the drainer died): still stuck
    store.outbox.ensure_group(delivery.GROUP)
    rows = store.outbox.read_group(delivery.GROUP, "c1", 10, 60_000)
    assert len(rows) == 1
    assert health(web_client)[0] == 503
    store.outbox.ack(delivery.GROUP, [rows[0][0]])
    assert health(web_client) == (200, {"status": "ok", "redis": True})


def test_a_push_whose_lease_ran_out_long_ago_is_stuck(web_client, web_rt):
    web_rt.store.delivery.lease("o:1-0:abc", "{}", time.time() - 60)
    assert health(web_client)[0] == 200  # the next sweep (every minute) resumes it
    web_rt.store.delivery.lease("o:1-0:abc", "{}", time.time() - 200)
    status, body = health(web_client)
    assert status == 503 and 199 <= body["stuck"]["pushes"] <= 205
    web_rt.store.delivery.release("o:1-0:abc")
    assert health(web_client)[0] == 200
