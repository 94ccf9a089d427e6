"""This deployment's RQ queues and job ids, and a small enqueue function handed to the core.

Every name RQ keeps in Redis for us carries DUBAN_KEY_PREFIX: the queues (`queue_name`) and
the deterministic job ids (`job_key`), so two deployments on one Redis (production and a
sandbox) never run, swallow or overwrite each other's jobs. The prefix is letters, digits and
`_` (bot/config.py checks it), so no two prefixes make the same name.
"""

from __future__ import annotations

from collections.abc import Callable

import redis
from rq import Callback, Queue, Retry

MAIN = "main"  # reminders, exports, link checks, pushes
# Answers to callbacks (bot/inbox.py) have a queue and a worker of their own, so that a long job
# (link checks, exports) never holds a reply back.
ANSWERS = "answers"
KINDS = (MAIN, ANSWERS)
# Called after every failed attempt; it tells the office once the last retry has failed.
ON_FAILURE = "bot.jobs.report_failure"


def queue_name(prefix: str, kind: str = MAIN) -> str:
    """The RQ queue of `kind` for a deployment: `duban` and `duban-answers` for the default
    prefix (the names deployments before the prefix used)."""
    if kind not in KINDS:
        raise ValueError(f"unknown queue {kind!r}; one of {', '.join(KINDS)}")
    return prefix if kind == MAIN else f"{prefix}-{kind}"


def job_key(prefix: str, job_id: str) -> str:
    """The RQ job id of a deployment's deterministic job id (RQ allows [A-Za-z0-9_-] only)."""
    return f"{prefix}-{job_id}"


def make_queue(client: redis.Redis, prefix: str, kind: str = MAIN) -> Queue:
    return Queue(queue_name(prefix, kind), connection=client)


def make_enqueue(queue: Queue, prefix: str) -> Callable[..., str]:
    """enqueue("bot.jobs.name", *args, job_id=..., **kwargs) -> RQ job id.

    A deterministic job_id makes a repeated request a no-op while that job is still waiting;
    it is stored under the deployment's prefix (job_key).
    """

    def enqueue(func: str, *args, job_id: str | None = None, retries: int = 3, **kwargs) -> str:
        if job_id:
            job_id = job_key(prefix, job_id)
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
