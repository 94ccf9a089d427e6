"""The scheduler process: `python -m bot.scheduler` runs the periodic jobs (see bot.schedule)."""

from __future__ import annotations

import logging
import signal
import sys
import time

from bot.config import Settings


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s scheduler %(levelname)s %(message)s")
    Settings.from_env()
    running = True

    def stop(*_):
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while running:
        time.sleep(0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
