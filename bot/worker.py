"""The RQ worker process: `python -m bot.worker` (jobs live in bot.jobs)."""

from __future__ import annotations

import logging
import sys

import redis
from rq import Queue, Worker

from bot.config import Settings
from bot.runtime import redis_url_for

QUEUE = "duban"


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(levelname)s %(message)s")
    settings = Settings.from_env()
    url, _ = redis_url_for(settings)
    conn = redis.Redis.from_url(url)
    worker = Worker([Queue(QUEUE, connection=conn)], connection=conn)
    worker.work(with_scheduler=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
