"""The background link check: queued links fetched by a real worker from a local site; states
recorded, untitled materials named after their page, dead links shown in reminders and 查看."""

from __future__ import annotations

import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.e2e.background import bind, notices, say, work


class _Site(BaseHTTPRequestHandler):
    down: set[str] = set()  # paths that answer 503 for now
    hits: list[str] = []  # every path fetched

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.hits.append(self.path)
        if self.path in self.down:
            body = b"busy"
            self.send_response(503)
        elif self.path in ("/ok.html", "/flaky.html", "/later-gone.html", "/dropped.html"):
            body = "<html><head><title> 双随机一公开 实施方案 </title></head></html>".encode()
            self.send_response(200)
        else:
            body = b"<title>not here</title>"
            self.send_response(404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def site():
    _Site.down, _Site.hits = set(), []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_links_are_checked_titled_and_dead_ones_reported(rt, env, site):
    env(DUBAN_LINK_ALLOW="127.0.0.1")
    bind(rt, "u", "司法局")
    ok, dead = f"{site}/ok.html", f"{site}/gone.html"
    say(rt, "u", f"提交 12 {ok}")  # no name: it takes the page title
    say(rt, "u", f"提交 15 {dead} 执法公示")
    assert set(rt.store.links.queued()) == {ok, dead}
    rt.services.enqueue("bot.jobs.check_links", slot="t", now_iso=rt.store.clock().isoformat())
    work(rt)
    assert rt.store.links.queued() == []
    states = rt.store.links.states([ok, dead])
    assert states[ok]["ok"] and states[ok]["status"] == 200
    assert not states[dead]["ok"] and states[dead]["status"] == 404
    a, _ = rt.store.assignments.get(12, "司法局")
    assert [m.title for m in a.materials] == ["双随机一公开 实施方案"]
    assert a.updated_by == "system:linkcheck"
    titled = rt.store.audit.entries(department="司法局", action="link_title")
    assert len(titled) == 1 and titled[0].indicator == 12
    b, _ = rt.store.assignments.get(15, "司法局")
    assert [m.title for m in b.materials] == ["执法公示"]  # a given name is never replaced
    assert "⚠️ 链接无法打开" in say(rt, "u", "查看 15")
    rt.services.enqueue("bot.jobs.send_reminders", slot="r", now_iso=rt.store.clock().isoformat())
    work(rt)
    text = next(n.text for n in notices(rt) if n.department == "司法局")
    assert f"- 第15项 [执法公示]({dead})：网页不存在（HTTP 404）" in text
    assert ok not in text


def check_at(rt, when) -> None:
    rt.services.enqueue("bot.jobs.check_links", slot=when.isoformat(), now_iso=when.isoformat())
    work(rt)


def test_links_are_checked_again_a_failing_one_soon_a_working_one_every_few_days(
    rt, env, site, clock
):
    env(DUBAN_LINK_ALLOW="127.0.0.1")
    bind(rt, "u", "司法局")
    flaky, later_gone, dropped = (f"{site}/{p}.html" for p in ("flaky", "later-gone", "dropped"))
    _Site.down = {"/flaky.html"}
    say(rt, "u", f"提交 12 {flaky} 执法公示")
    say(rt, "u", f"提交 15 {later_gone} 双随机方案")
    say(rt, "u", f"提交 36 {dropped} 台账")
    t0 = clock.now
    check_at(rt, t0)
    states = rt.store.links.states([flaky, later_gone])
    assert not states[flaky]["ok"] and states[flaky]["fails"] == 1
    assert states[later_gone]["ok"]
    assert "⚠️ 链接无法打开" in say(rt, "u", "查看 12")

    # The site is back; nothing is due before an hour has passed.
    _Site.down = set()
    _Site.hits.clear()
    check_at(rt, t0 + timedelta(minutes=59))
    assert _Site.hits == []
    check_at(rt, t0 + timedelta(minutes=61))
    assert _Site.hits == ["/flaky.html"]
    assert rt.store.links.states([flaky])[flaky] | {"checked_at": ""} == {
        "ok": True, "status": 200, "title": "双随机一公开 实施方案", "error": "", "checked_at": "",
        "fails": 0,
    }  # fmt: skip
    assert "⚠️ 链接无法打开" not in say(rt, "u", "查看 12")

    # A working link is looked at again after three days: one that vanished is now reported;
    # a link no material holds any longer is not fetched again.
    say(rt, "u", "删除 36 1")
    _Site.hits.clear()
    _Site.down = {"/later-gone.html"}
    check_at(rt, t0 + timedelta(days=3, minutes=1))
    assert sorted(_Site.hits) == ["/later-gone.html"]
    assert not rt.store.links.states([later_gone])[later_gone]["ok"]
    assert "⚠️ 链接无法打开" in say(rt, "u", "查看 15")
    _Site.hits.clear()
    check_at(rt, t0 + timedelta(days=30))
    assert sorted(_Site.hits) == ["/flaky.html", "/later-gone.html"]  # the dropped one: never


def test_a_link_deleted_before_its_first_check_is_dropped_unfetched(rt, env, site):
    env(DUBAN_LINK_ALLOW="127.0.0.1")
    bind(rt, "u", "司法局")
    url = f"{site}/ok.html"
    say(rt, "u", f"提交 12 {url} 方案")
    say(rt, "u", "删除 12 1")
    assert rt.store.links.queued() == [url]
    check_at(rt, rt.store.clock())
    assert _Site.hits == [] and rt.store.links.queued() == []
    assert rt.store.links.due(rt.store.clock().timestamp() + 10 * 86400, 10) == []
