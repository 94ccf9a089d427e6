"""`flask --app app run` (Werkzeug's development server) as a maintainer starts it: a GET to each
hook, as WeCom's URL verification sends it (no body, no Content-Length), is answered at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import pytest

from bot.embedded import free_port
from tests.http.callbacks import app_crypto, handshake_query, smartbot_crypto

ROOT = Path(__file__).resolve().parents[2]


def get(url: str, timeout: float) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.fixture
def dev_server(hook_settings, redis_client):
    """The app under Werkzeug's server in a subprocess, on the hook settings (every platform)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "run", "--port", str(port)],
        cwd=ROOT,
        env=dict(os.environ),  # hook_settings put the DUBAN_* settings there
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            if get(base + "/healthz", 2)[0] == 200:
                break
        except OSError:
            pass
        assert time.monotonic() < deadline, "flask run did not start"
        time.sleep(0.2)
    yield base
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(10)


@pytest.mark.parametrize("hook", ["wecom", "wecom-app", "dingtalk"])
def test_a_get_to_each_hook_is_answered_within_a_second(dev_server, hook):
    status, _ = get(f"{dev_server}/hooks/{hook}", timeout=1)
    assert status in (400, 401, 403, 405)  # unsigned: refused, but answered


@pytest.mark.parametrize(
    ("hook", "crypto"), [("wecom", smartbot_crypto), ("wecom-app", app_crypto)]
)
def test_wecom_url_verification_works_under_the_dev_server(dev_server, hook, crypto):
    query = handshake_query(crypto(), "7033183127891204355")
    status, body = get(f"{dev_server}/hooks/{hook}?{urlencode(query)}", timeout=1)
    assert (status, body) == (200, b"7033183127891204355")
