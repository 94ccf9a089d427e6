"""deploy/gunicorn.conf.py, as gunicorn itself reads it."""

from __future__ import annotations

import gc
from pathlib import Path

from gunicorn.app.base import Application
from gunicorn.config import Config

CONF = Path(__file__).resolve().parents[2] / "deploy" / "gunicorn.conf.py"


def load_conf() -> Config:
    """The settings as gunicorn loads them from the file (its own loader, unbound: it uses no
    application state)."""
    cfg = Config()
    for key, value in Application.get_config_from_filename(None, str(CONF)).items():
        if key in cfg.settings:
            cfg.set(key, value)
    return cfg


def test_conf_serves_two_gthread_workers_each_on_its_own_socket():
    cfg = load_conf()
    assert cfg.workers == 2
    assert cfg.worker_class_str == "gthread"
    assert cfg.threads == 32
    assert cfg.reuse_port is True
    assert cfg.settings["control_socket_disable"].get() is True


def test_worker_init_freezes_what_the_app_loaded():
    cfg = load_conf()
    gc.unfreeze()
    loaded = [{"i": i} for i in range(1000)]  # long-lived objects, as the app's
    try:
        cfg.post_worker_init(None)
        assert gc.get_freeze_count() >= len(loaded)
    finally:
        gc.unfreeze()


def test_the_procfile_names_every_process_make_run_starts():
    """deploy/Procfile is what `make run` (bot/run.py) and production run: the same commands."""
    import sys

    from bot.run import PROCFILE, read_procfile

    procs = read_procfile(PROCFILE, {"PORT": "8123"})
    assert list(procs) == ["redis", "web", "worker", "answers", "links", "scheduler", "stream"]
    assert procs["stream"][1:] == ["-m", "bot.stream"]  # started only in intranet mode
    assert all(argv[0] == sys.executable for argv in procs.values())
    assert procs["web"][1:5] == ["-m", "gunicorn", "app:create_app()", "-c"]
    assert procs["web"][-2:] == ["--bind", "127.0.0.1:8123"]
    assert procs["answers"][-2:] == ["--queue", "answers"]
    assert procs["links"][-2:] == ["--queue", "links"]  # link checks: a worker of their own
