"""RQ entry points of outbound delivery: thin wrappers around bot.delivery, each using the
Delivery of this process's runtime (bot.jobs.runtime, built once from DUBAN_* settings).

Schedule `bot.delivery_jobs.drain_outbox` every minute (it takes the scheduler's slot and
now_iso keywords and ignores them); callbacks also enqueue it, debounced, after a dispatch.
"""

from __future__ import annotations

from rq import get_current_job

from bot import delivery


def _delivery() -> delivery.Delivery:
    from bot.jobs import runtime

    return runtime().delivery


def drain_outbox(slot: str = "", now_iso: str = "") -> dict:
    """Post the pushes of new outbox entries of every campaign (robots in parallel lanes);
    resume pushes whose worker vanished."""
    return delivery.drain_outbox(_delivery())


def push(**spec) -> str:
    """Post one (outbox entry, chat target) or the later parts of a long reply."""
    job = get_current_job()
    return delivery.run_push(_delivery(), spec, job.id if job else "")


def on_push_failure(job, connection, exc_type, exc_value, tb) -> None:
    """RQ on_failure: after the last retry, the unsent parts go to the dead-letter list."""
    delivery.push_failed(_delivery(), job, exc_type, exc_value)
