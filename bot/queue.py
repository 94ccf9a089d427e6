"""Duban's RQ queues, which job goes on which, and a small enqueue function handed to the core as
a service.

Queues and the workers that must listen on them:

- URGENT_QUEUE ("duban-urgent"): the outbox drain and the pushes that must never wait behind
  chatter, review notices (退回, 通过) and replies. `python -m bot.worker` listens on it first,
  then on QUEUE_NAME: RQ takes the next job from the first queue that has one.
- QUEUE_NAME ("duban"): everything else (reminders, rankings, exports, binding notices ...).
- ANSWERS_QUEUE ("duban-answers"): answers to callbacks (bot/inbox.py), with a worker of its own
  (`python -m bot.worker --queue duban-answers`), so a long job never holds a reply back.
- LINKS_QUEUE ("duban-links"): link checks, with a worker of their own
  (`python -m bot.worker --queue duban-links`): a hostile site can at most slow other checks.
"""

from __future__ import annotations

from collections.abc import Callable

import redis
from rq import Callback, Queue, Retry

QUEUE_NAME = "duban"
ANSWERS_QUEUE = "duban-answers"
URGENT_QUEUE = "duban-urgent"
LINKS_QUEUE = "duban-links"
ALL_QUEUES = (URGENT_QUEUE, QUEUE_NAME, ANSWERS_QUEUE, LINKS_QUEUE)
# What the main worker serves, in this order.
WORKER_QUEUES = (URGENT_QUEUE, QUEUE_NAME)
# Called after every failed attempt; it tells the office once the last retry has failed.
ON_FAILURE = "bot.jobs.report_failure"

# Pushes of these kinds go on URGENT_QUEUE (bot.messages.Notice.kind; "reply" is the answer to a
# callback) and may use the whole of a robot's budget; other kinds leave a reserve for them.
URGENT_KINDS = frozenset({"review", "reply"})
PUSH_JOB = "bot.delivery_jobs.push"
_ROUTES = {
    "bot.delivery_jobs.drain_outbox": URGENT_QUEUE,
    "bot.jobs.check_links": LINKS_QUEUE,
}


def queue_name_for(func: str, default: str, kind: str = "") -> str:
    """The queue a job of `func` goes on (a push by its kind); `default` for any other job."""
    if func == PUSH_JOB:
        return URGENT_QUEUE if kind in URGENT_KINDS else QUEUE_NAME
    return _ROUTES.get(func, default)


def make_queue(client: redis.Redis, name: str = QUEUE_NAME) -> Queue:
    return Queue(name, connection=client)


def make_enqueue(queue: Queue) -> Callable[..., str]:
    """enqueue("bot.jobs.name", *args, job_id=..., **kwargs) -> job id, on the job's own queue
    (queue_name_for; `queue` for any other job).

    A deterministic job_id makes a repeated request a no-op while that job waits or runs.
    """
    queues = {queue.name: queue}

    def queue_of(func: str, kind: str) -> Queue:
        name = queue_name_for(func, queue.name, kind)
        if name not in queues:
            queues[name] = Queue(name, connection=queue.connection)
        return queues[name]

    def enqueue(func: str, *args, job_id: str | None = None, retries: int = 3, **kwargs) -> str:
        target = queue_of(func, str(kwargs.get("kind", "")))
        if job_id:
            existing = target.fetch_job(job_id)
            if existing is not None and existing.get_status(refresh=False) in (
                "queued",
                "deferred",
                "scheduled",
                "started",
            ):
                return job_id
        kwargs.setdefault("on_failure", Callback(ON_FAILURE))
        job = target.enqueue(
            func,
            *args,
            job_id=job_id,
            retry=Retry(max=retries, interval=[5, 30, 120][:retries]) if retries else None,
            failure_ttl=7 * 86400,
            result_ttl=3600,
            **kwargs,
        )
        return job.id

    return enqueue
