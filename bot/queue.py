"""This deployment's RQ queues and job ids, which job goes on which queue, and a small enqueue
function handed to the core.

Every name RQ keeps in Redis for us carries DUBAN_KEY_PREFIX: the queues (`queue_name`) and
the deterministic job ids (`job_key`), so two deployments on one Redis (production and a
sandbox) never run, swallow or overwrite each other's jobs. The prefix is letters, digits and
`_` (bot/config.py checks it), so no two prefixes make the same name.

The queues (names for the default prefix "duban") and the workers that listen on them:

- URGENT ("duban-urgent"): the outbox drain and the pushes that must never wait behind chatter,
  review notices (退回, 通过) and replies. The main worker (`python -m bot.worker`, or
  `--queue main`) serves it first, then MAIN: RQ takes the next job from the first queue that
  has one.
- MAIN ("duban"): everything else (reminders, rankings, exports, binding notices ...).
- ANSWERS ("duban-answers"): no jobs go there any more. `--queue answers` starts the answering
  consumer (bot/inbox.py), which waits on the inbox stream instead of an RQ queue, so a long
  job never holds a reply back; the queue is still listed so that jobs an older version left
  there show on the admin page.
- LINKS ("duban-links"): link checks, with a worker of their own (`--queue links`): a hostile
  site can at most slow other checks.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from rq import Callback, Queue, Retry

from bot.store import Connection

MAIN = "main"
ANSWERS = "answers"
URGENT = "urgent"
LINKS = "links"
KINDS = (URGENT, MAIN, ANSWERS, LINKS)  # every queue, in the order the admin page lists them
# What a worker started with `--queue <kind>` serves, in this order (urgent before main).
WORKERS = {MAIN: (URGENT, MAIN), ANSWERS: (ANSWERS,), LINKS: (LINKS,)}
# Called after every failed attempt; it tells the office once the last retry has failed.
ON_FAILURE = "bot.jobs.report_failure"

# Pushes of these kinds go on URGENT (bot.messages.Notice.kind; "reply" is the answer to a
# callback) and may use the whole of a robot's budget; other kinds leave a reserve for them.
URGENT_KINDS = frozenset({"review", "reply"})
PUSH_JOB = "bot.delivery_jobs.push"
_ROUTES = {
    "bot.delivery_jobs.drain_outbox": URGENT,
    "bot.jobs.check_links": LINKS,
}


def queue_name(prefix: str, kind: str = MAIN) -> str:
    """The RQ queue of `kind` for a deployment: `duban`, `duban-answers`, `duban-urgent` and
    `duban-links` for the default prefix (the first two are the names deployments before the
    prefix used)."""
    if kind not in KINDS:
        raise ValueError(f"unknown queue {kind!r}; one of {', '.join(KINDS)}")
    return prefix if kind == MAIN else f"{prefix}-{kind}"


def queue_kind_for(func: str, push_kind: str = "") -> str | None:
    """The queue (one of KINDS) a job of `func` goes on, a push by its notice kind; None for a
    job that goes on the queue it was enqueued to."""
    if func == PUSH_JOB:
        return URGENT if push_kind in URGENT_KINDS else MAIN
    return _ROUTES.get(func)


def job_key(prefix: str, job_id: str) -> str:
    """The RQ job id of a deployment's deterministic job id (RQ allows [A-Za-z0-9_-] only)."""
    return f"{prefix}-{job_id}"


def make_queue(client: Connection, prefix: str, kind: str = MAIN) -> Queue:
    return Queue(queue_name(prefix, kind), connection=client)


def all_queues(client: Connection, prefix: str) -> list[Queue]:
    """Every queue of the deployment (KINDS order)."""
    return [make_queue(client, prefix, kind) for kind in KINDS]


def make_enqueue(queue: Queue, prefix: str) -> Callable[..., str]:
    """enqueue("bot.jobs.name", *args, job_id=..., **kwargs) -> RQ job id, on the job's own
    queue (queue_kind_for), else on `queue`.

    A deterministic job_id makes a repeated request a no-op while that job waits or runs; it is
    stored under the deployment's prefix (job_key), like the random id of a job without one.
    """
    queues = {queue.name: queue}

    def queue_of(func: str, push_kind: str) -> Queue:
        kind = queue_kind_for(func, push_kind)
        name = queue.name if kind is None else queue_name(prefix, kind)
        if name not in queues:
            queues[name] = Queue(name, connection=queue.connection)
        return queues[name]

    def enqueue(func: str, *args, job_id: str | None = None, retries: int = 3, **kwargs) -> str:
        target = queue_of(func, str(kwargs.get("kind", "")))
        if job_id:
            job_id = job_key(prefix, job_id)
            existing = target.fetch_job(job_id)
            if existing is not None and existing.get_status(refresh=False) in (
                "queued",
                "deferred",
                "scheduled",
                "started",
            ):
                return job_id
        else:  # RQ's own id would be a bare uuid: the prefix names every job of the deployment
            job_id = job_key(prefix, uuid.uuid4().hex)
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
