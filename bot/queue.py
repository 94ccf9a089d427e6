"""The one RQ queue Duban uses, and a small enqueue function handed to the core as a service."""

from __future__ import annotations

from collections.abc import Callable

import redis
from rq import Callback, Queue, Retry

QUEUE_NAME = "duban"
# Answers to callbacks (bot/inbox.py) have a queue and a worker of their own, so that a long job
# (link checks, exports) never holds a reply back.
ANSWERS_QUEUE = "duban-answers"
# Called after every failed attempt; it tells the office once the last retry has failed.
ON_FAILURE = "bot.jobs.report_failure"


def make_queue(client: redis.Redis, name: str = QUEUE_NAME) -> Queue:
    return Queue(name, connection=client)


def make_enqueue(queue: Queue) -> Callable[..., str]:
    """enqueue("bot.jobs.name", *args, job_id=..., **kwargs) -> job id.

    A deterministic job_id makes a repeated request a no-op while that job is still waiting.
    """

    def enqueue(func: str, *args, job_id: str | None = None, retries: int = 3, **kwargs) -> str:
        if job_id:
            existing = queue.fetch_job(job_id)
            if existing is not None and existing.get_status(refresh=False) in (
                "queued",
                "deferred",
                "scheduled",
            ):
                return job_id
        kwargs.setdefault("on_failure", Callback(ON_FAILURE))
        job = queue.enqueue(
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
