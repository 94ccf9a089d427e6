"""The RQ worker process: `python -m bot.worker` (jobs live in bot.jobs).

Without --queue it serves bot.queue.WORKER_QUEUES, urgent first; the answers and the link checks
each need a worker of their own (`--queue duban-answers`, `--queue duban-links`).
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys

import redis
from rq import Queue, Worker

from bot.config import Settings
from bot.queue import WORKER_QUEUES
from bot.runtime import redis_url_for


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bot.worker")
    default = " then ".join(WORKER_QUEUES)
    ap.add_argument("--queue", action="append", help=f"queue to work (default {default})")
    queues = ap.parse_args(argv).queue or list(WORKER_QUEUES)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(levelname)s %(message)s")
    settings = Settings.from_env()
    url, _ = redis_url_for(settings)
    conn = redis.Redis.from_url(url)
    _warm()
    worker = Worker([Queue(q, connection=conn) for q in queues], connection=conn)
    worker.work(with_scheduler=False)
    return 0


def _warm() -> None:
    """Build this process's runtime and delivery context before the first job: RQ forks a work
    horse per job, and each inherits them instead of loading the data files and syncing the
    assignments again (a callback's answer waits for that). Their Redis pools reconnect in the
    horse (redis-py checks the pid). Then the collector is told to leave what is loaded alone
    (as in deploy/gunicorn.conf.py): a horse's full collection would walk every inherited
    object, and writing their headers would copy the parent's memory page by page."""
    from bot import delivery, jobs

    jobs.runtime()
    delivery.context()
    gc.freeze()


if __name__ == "__main__":
    sys.exit(main())
