"""How the web process is served: `gunicorn -c deploy/gunicorn.conf.py 'app:create_app()'`.

`make run` (deploy/Procfile's `web`) and the hook bench (bench/hooks.py, for both servers it
compares) start gunicorn with this file, so what is measured is what runs. Options on the
command line override it (the Procfile adds --bind).
"""

import gc
import logging

from bot.config import Settings

_level = Settings.from_env().log_level  # DUBAN_LOG_LEVEL; `make run` sets warning (quiet)
loglevel = _level
accesslog = "-" if _level == "debug" else None  # a line per request only when asked

workers = 2
worker_class = "gthread"
# A thread waiting on a slow client is idle, but it is taken: with 2 x 32 threads, 40 clients
# that stall mid-body (each ended after 2 s by bot/web/bodies.py) leave hooks and /healthz
# threads to answer at once (tests/e2e/test_slow_clients.py).
threads = 32
# Each worker listens on a socket of its own and the kernel spreads new connections over them;
# with one shared socket, whichever worker wakes first takes most keep-alive connections (seen
# 62/38 under load), and the busier one sets the tail latency. bot/run.py checks that the port
# is free first: with SO_REUSEPORT a second instance would otherwise share it silently.
reuse_port = True
keepalive = 30  # seconds an idle keep-alive connection stays open (platform and proxy reuse)
backlog = 2048
control_socket_disable = True  # two servers may run at once (tests, benchmarks)


def post_worker_init(worker) -> None:
    """Once the app is loaded: move every object so far out of the garbage collector's reach.

    The app holds ~80,000 long-lived objects (Flask, redis-py, the indicator table), and every
    full collection walked them all: 20-100 ms with the GIL held, during which no request in
    that worker moves (seen in the hook bench as the p99). Frozen, a full collection walks only
    what requests create.
    """
    gc.freeze()


class _ListeningAt(logging.Filter):
    """With reuse_port the arbiter opens no socket (each worker binds its own), so gunicorn's
    "Listening at:" names none; name the bound addresses instead."""

    def __init__(self, binds: list[str]):
        super().__init__()
        self.where = ",".join(f"http://{b}" for b in binds) + " (one socket per worker)"

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == "Listening at: %s (%s)" and record.args and not record.args[0]:
            record.args = (self.where, *record.args[1:])
        return True


def on_starting(server) -> None:
    logging.getLogger("gunicorn.error").addFilter(_ListeningAt(server.cfg.bind))
