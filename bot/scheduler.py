"""The scheduler process: `python -m bot.scheduler` runs the periodic jobs of bot.schedule.

Start as many as you like: one holds the Redis lock and acts, the others wait to take over.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable

from rq import Queue
from rq.job import Job

from bot.campaigns import load_specs
from bot.config import Settings
from bot.migrate import ensure_layout
from bot.queue import all_queues, make_enqueue, make_queue
from bot.runtime import shared_clock
from bot.schedule import Scheduler, schedule_table
from bot.store import Connection, RedisStore, utc_now
from bot.store.connection import connect_redis
from bot.workdays import WorkCalendar

log = logging.getLogger("bot.scheduler")


def retry_releaser(*queues: Queue) -> Callable[[float], int]:
    """Moves jobs whose retry or deferral delay has passed from RQ's scheduled registries back
    to their queues.

    Our workers run without RQ's own scheduler, so without this a retry with a delay
    (bot.queue's backoff), or a push deferred for a robot's budget, would wait forever.
    """

    def release(now_ts: float) -> int:
        moved = 0
        for queue in queues:
            registry = queue.scheduled_job_registry
            ids = registry.get_jobs_to_schedule(int(now_ts))
            jobs = Job.fetch_many(ids, connection=queue.connection)
            for jid, job in zip(ids, jobs, strict=True):
                registry.remove(jid)
                if job is not None:
                    queue.enqueue_job(job)
                    moved += 1
        return moved

    return release


def build_scheduler(settings: Settings, client: Connection) -> Scheduler:
    ensure_layout(settings, client)  # the one-off move into campaign keys (bot/migrate.py)
    clock = shared_clock(settings, client)  # the same time as every other process
    store = RedisStore(client, settings.key_prefix, clock)
    queue = make_queue(client, settings.key_prefix)
    return Scheduler(
        store,
        WorkCalendar.from_settings(settings),
        make_enqueue(queue, settings.key_prefix),
        schedule_table(settings),
        clock,
        release_retries=retry_releaser(*all_queues(client, settings.key_prefix)),
        real_clock=utc_now,
        campaigns=[s.id for s in load_specs(settings) if s.active],
    )


def tick_interval(settings: Settings) -> float:
    """Seconds between ticks: one a second on real time; under a fast fake clock often enough
    that no fake day's slots are passed over (about 20 fake minutes a tick)."""
    if not settings.fake_now:
        return 1.0
    return max(0.02, min(1.0, 1200 / settings.clock_speed))


def main() -> int:
    settings = Settings.from_env()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s scheduler %(levelname)s %(message)s"
    )
    client, _ = connect_redis(settings)
    scheduler = build_scheduler(settings, client)
    stop = threading.Event()

    def on_signal(*_):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("scheduler %s started", scheduler.token)
    scheduler.run(stop, tick_interval(settings))
    log.info("scheduler %s stopped", scheduler.token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
