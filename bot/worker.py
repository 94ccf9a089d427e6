"""The worker processes: `python -m bot.worker` (jobs live in bot.jobs).

`--queue main` (the default) serves the urgent queue first, then the main one; the link checks
need a worker of their own (`--queue links`; see bot/queue.py and deploy/Procfile). `--queue
answers` is the answering consumer (bot/inbox.py): no RQ worker, but one long-lived loop that
waits on the inbox stream and answers callbacks in-process, with no fork and no job per message.

When Redis goes away (restarted, killed, a full disk) the worker does not quit: RQ's loop ends
on the error, and this process waits until Redis answers again and works on with a new RQ
worker. It stops only when asked (SIGTERM, Ctrl-C) or, with --burst, when the queues are empty.
"""

from __future__ import annotations

import argparse
import gc
import logging
import signal
import sys
import threading
import time

from rq import Queue, Worker

from bot.config import Settings
from bot.queue import ANSWERS, MAIN, WORKERS, queue_name
from bot.store import RedisError
from bot.store.connection import connect_redis, rq_refusal, wait_for_redis

log = logging.getLogger("bot.worker")

RECONNECT_MAX_S = 2.0  # RQ's own wait between reconnects grows to 60 s; Redis is back sooner
PAUSE_MAX_S = 10.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bot.worker")
    ap.add_argument(
        "--queue",
        action="append",
        metavar="|".join(WORKERS),
        help=f"queue to work (default {MAIN}: the urgent queue first, then the main one); the "
        "deployment's full queue name works too",
    )
    ap.add_argument("--burst", action="store_true", help="work what is queued, then exit")
    args = ap.parse_args(argv)
    settings = Settings.from_env()
    level = settings.log_level.upper()
    logging.basicConfig(level=level, format="%(asctime)s worker %(levelname)s %(message)s")
    names = {queue_name(settings.key_prefix, kind): kind for kind in WORKERS}
    kinds = [names.get(q, q) for q in args.queue or [MAIN]]  # duban-answers: answers
    unknown = [k for k in kinds if k not in WORKERS]
    if unknown:
        ap.error(f"unknown queue {unknown[0]!r}: one of {', '.join(WORKERS)}")
    if ANSWERS in kinds:
        if len(set(kinds)) > 1:
            ap.error(f"--queue {ANSWERS} runs alone: it is no RQ worker")
        return answer(settings, level, args.burst)
    served = dict.fromkeys(q for kind in kinds for q in WORKERS[kind])  # in order, once each
    queues = [queue_name(settings.key_prefix, q) for q in served]
    conn, _ = connect_redis(settings, health_check_interval=0)
    refused = rq_refusal(conn, "RQ 任务进程（worker）")
    if refused:
        print(refused, file=sys.stderr)
        return 2
    stop = threading.Event()
    warmed = False
    pause = 0.0  # after Redis refused writes (MISCONF: a full disk), wait longer each time
    while not stop.is_set():
        _on_stop(stop)
        if not wait_for_redis(conn, stop) or stop.wait(pause):
            break
        try:
            if not warmed:
                _warm()
                warmed = True
            worker = Worker([Queue(q, connection=conn) for q in queues], connection=conn)
            worker.max_connection_wait_time = RECONNECT_MAX_S
            started = time.monotonic()
            worker.work(with_scheduler=False, burst=args.burst, logging_level=level)
        except RedisError as e:  # RQ's start-up (register_birth) is outside its loop
            log.warning("worker could not start: %s", e)
            pause = min(max(pause * 2, 0.5), PAUSE_MAX_S)
            continue
        asked = getattr(worker, "_stop_requested", False) or (
            getattr(worker, "_shutdown_requested_date", None) is not None  # asked while idle
        )
        if args.burst or asked or stop.is_set():
            break
        log.warning("worker lost Redis; working on as soon as it answers again")
        # Redis answering but refusing RQ's writes would end each worker at once: back off.
        quick = time.monotonic() - started < 2
        pause = min(max(pause * 2, 0.5), PAUSE_MAX_S) if quick else 0.0
    return 0


def answer(settings: Settings, level: str, burst: bool = False) -> int:
    """The answering consumer until SIGTERM (or, with `burst`, until the inbox is empty). It
    stops between batches, so an answer in progress is finished. When Redis goes away it waits
    and reads on; what it had read and not answered is pending under its name and read first."""
    from bot import delivery, inbox, jobs

    logging.getLogger("bot").setLevel(level)
    stop = threading.Event()
    _on_stop(stop)
    conn, _ = connect_redis(settings, health_check_interval=0)
    consumer = delivery.consumer_name()
    orphans: set[str] = set()  # kept across Redis outages: see inbox.consume
    unflushed = inbox.Unflushed()  # likewise
    warmed = False
    while wait_for_redis(conn, stop):
        try:
            if not warmed:
                rt = jobs.runtime()
                dctx = rt.delivery
                gc.freeze()  # what is loaded stays: the collector leaves it alone
                warmed = True
                log.info("answering consumer %s waiting for callbacks", consumer)
            block = None if burst else inbox.BLOCK_MS
            counts = inbox.consume(
                rt, dctx, stop, consumer, block_ms=block, orphans=orphans, unflushed=unflushed
            )
            log.info("answering consumer %s stops: %s", consumer, counts)
            return 0
        except RedisError as e:
            log.warning("answering consumer lost Redis (%s); reading on once it answers", e)
            stop.wait(0.5)
    return 0


def _on_stop(stop: threading.Event) -> None:
    """Between RQ workers (which install their own handlers), a signal just ends the loop."""

    def handler(*_):
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _warm() -> None:
    """Build this process's runtime (its delivery included) before the first job: RQ forks a work
    horse per job, and each inherits them instead of loading the data files and syncing the
    assignments again (a callback's answer waits for that). Their Redis pools reconnect in the
    horse (redis-py checks the pid). Then the collector is told to leave what is loaded alone
    (as in deploy/gunicorn.conf.py): a horse's full collection would walk every inherited
    object, and writing their headers would copy the parent's memory page by page."""
    from bot import jobs

    jobs.runtime()
    gc.freeze()


if __name__ == "__main__":
    sys.exit(main())
